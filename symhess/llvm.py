"""Stage 5 backend: turn symhess three-address code into LLVM IR text.

Numba's own front end spends about a millisecond typing each operation, which
makes large generated functions take minutes to compile.  Kernels are therefore
written in a tiny three-address language (valid Python, one operation per line) and
written out as the text of one LLVM function (:func:`function_text`), which tier 0
(:mod:`symhess.native`) hands to LLVM directly and :func:`kernel` links into an
ordinary ``numba.njit(cache=True)`` function, so Numba still inlines, optimises and
caches the machine code on disk.  The operations are the tables ``LLVM_INTRINSICS``, ``LIBM``,
``_FLOAT_OPS`` and ``_PREDICATES``.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import struct
from dataclasses import dataclass

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from . import special
from .tracing.primitives import library_functions

DOUBLE = ir.DoubleType()
POINTER = str(DOUBLE.as_pointer())  # "double*", or "ptr" where llvmlite writes opaque pointers

_ASSIGN = re.compile(r"^\s*(\w+)(?:\[((?:[^\[\]]|\[[^\[\]]*\])+)\])? (\+?=) (.+)$")
_LOAD = re.compile(r"^(\w+)\[((?:[^\[\]]|\[[^\[\]]*\])+)\]$")  # "x[7]", "x[int(c[40 + 1*m]) + 1*j]"
_STRIDE = re.compile(r"^(-?\d+)\*([a-z])$")              # an index's term "2*m": stride times a loop variable
_TABLE = re.compile(r"^int\(c\[(.+)\]\)$")                # an index's term read from a table of c
_LOOP = re.compile(r"^for ([a-z]) in range\((?:(\w+), )?(\d+)\):$")  # "for j in range(k, 40):"
_BINARY = re.compile(r"^(\S+) ([-+*/]) (\S+)$")
_CALL = re.compile(r"^(\w+)\((.*)\)$")
LOCAL_ARRAY = re.compile(r"^zeros\((\d+)\)$")  # "vec1_0 = zeros(601)": a local array of the kernel
_RETURN = re.compile(r"^\s*return (\S+)$")

CONSTANTS = {"inf": math.inf, "nan": math.nan}

LLVM_INTRINSICS = {"sqrt": "llvm.sqrt", "sin": "llvm.sin", "cos": "llvm.cos", "exp": "llvm.exp",
                   "log": "llvm.log", "fabs": "llvm.fabs", "floor": "llvm.floor",
                   "ceil": "llvm.ceil", "rint": "llvm.rint", "pow": "llvm.pow"}
"""Three-address function name -> LLVM intrinsic."""

LIBM = ("tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh",
        "atanh", "erf", "copysign", *library_functions())
"""Three-address function names that are C math library calls of the same name (SymEngine's functions, then
those of symhess's primitives with ``c_library``; an intrinsic of the same name goes first)."""

SPECIAL = ("erf", "erfc", "lgamma", "digamma", "polygamma", "erfinv", "ndtri", "erfcx", "log_ndtr", "bessel_ie",
           "gammainc", "gammaincc")
"""Three-address functions whose meaning is :mod:`symhess.special`'s: the C library's ``erf``, ``erfc``,
``lgamma`` (Python's own ``lgamma`` is 1e-11 off near 1 and 2), and those the C library lacks,
``Emitter._call_<name>`` methods that take the same steps."""


def python_namespace() -> dict:
    """Plain-Python meanings of the three-address functions (to run kernels without JIT)."""
    def select(flag, a, b):
        return a if flag != 0.0 else b

    def maxof(*values):
        return math.nan if any(v != v for v in values) else max(values)

    def minof(*values):
        return math.nan if any(v != v for v in values) else min(values)

    def logsumexp(*values):
        top = maxof(*values)
        if math.isinf(top) or top != top:
            return top
        return top + math.log(sum(math.exp(v - top) for v in values))

    def sign(u):
        return 1.0 if u > 0 else (-1.0 if u < 0 else u)

    def softplus(u):
        return u + math.log1p(math.exp(-u)) if u > 0 else math.log1p(math.exp(u))

    space = {name: getattr(math, name) if hasattr(math, name) else special.libm(name) for name in LIBM}
    space.update({name: getattr(special, name) for name in SPECIAL})
    space.update(sqrt=math.sqrt, sin=math.sin, cos=math.cos, exp=math.exp, log=math.log,
                 fabs=math.fabs, floor=lambda u: math.copysign(math.floor(u), u),  # C keeps -0.0
                 ceil=lambda u: math.copysign(math.ceil(u), u), rint=lambda u: math.copysign(round(u), u),
                 pow=math.pow, cbrt=lambda u: math.copysign(abs(u) ** (1 / 3), u),
                 select=select, maxof=maxof, minof=minof, logsumexp=logsumexp, sign=sign,
                 softplus=softplus, zeros=lambda size: [0.0] * size,
                 lt=lambda a, b: float(a < b), le=lambda a, b: float(a <= b),
                 gt=lambda a, b: float(a > b), ge=lambda a, b: float(a >= b),
                 eq=lambda a, b: float(a == b), ne=lambda a, b: float(a != b), **CONSTANTS)
    return space


_FLOAT_OPS = {"+": "fadd", "-": "fsub", "*": "fmul", "/": "fdiv"}
_PREDICATES = {"<": "olt", "<=": "ole", ">": "ogt", ">=": "oge", "==": "oeq", "!=": "une"}
"""Three-address comparison -> LLVM ``fcmp`` predicate (ordered but for ``!=``, as Python's)."""


def double(value: float) -> str:
    """An exact LLVM double literal: the IEEE bits in hexadecimal."""
    return f"0x{struct.unpack('<Q', struct.pack('<d', value))[0]:016X}"


ZERO, ONE, NAN = double(0.0), double(1.0), double(math.nan)


class Emitter:
    """Emits one kernel body as LLVM IR text; values are named by the code's temporaries.

    Text, not llvmlite's IR objects: building and printing those took most of tier 0's time.
    """

    def __init__(self, arguments):
        self.pointers = {name: f"%{name}" for name in arguments}
        self.values: dict[str, str] = {}
        self.accumulators: dict[str, str] = {}  # scalars summed across loop iterations: their allocas
        self.allocas: list[str] = []
        self.lines: list[str] = []
        self.declarations: dict[str, str] = {}
        self.count = 0
        self.block = "entry"
        self.loops = 0
        self.variables: dict[str, str] = {}      # the enclosing loops' variables: their i64 values

    def emit(self, instruction: str) -> str:
        self.count += 1
        name = f"%v.{self.count}"
        self.lines.append(f"  {name} = {instruction}")
        return name

    def atom(self, text: str) -> str:
        value = self.values.get(text)
        if value is not None:
            return value
        if text in self.accumulators:
            return self.emit(f"load double, {POINTER} {self.accumulators[text]}")
        return double(CONSTANTS[text] if text in CONSTANTS else float(text))

    def element(self, array: str, index: str) -> str:
        return self.emit(f"getelementptr double, {POINTER} {self.pointers[array]}, i64 {self.offset(index)}")

    def offset(self, index: str) -> str:
        """An index (``7``, ``7 + 2*m``, ``int(c[40 + 1*m]) + 1*j``) as an i64 value: its terms summed."""
        total = None
        for term in index_terms(index):
            stride, table = _STRIDE.match(term), _TABLE.match(term)
            if stride is not None:
                value = self.emit(f"mul i64 {stride.group(1)}, {self.variables[stride.group(2)]}")
            elif table is not None:  # positions stored as floats in the constants: load, convert
                entry = self.element("c", table.group(1))
                value = self.emit(f"fptosi double {self.emit(f'load double, {POINTER} {entry}')} to i64")
            else:
                value = str(int(term))
            total = value if total is None else self.emit(f"add i64 {total}, {value}")
        return total

    def expression(self, text: str) -> str:
        match = _LOAD.match(text)
        if match:
            return self.emit(f"load double, {POINTER} {self.element(*match.groups())}")
        match = _BINARY.match(text)
        if match:
            left, op, right = match.groups()
            return self.emit(f"{_FLOAT_OPS[op]} double {self.atom(left)}, {self.atom(right)}")
        if text.startswith("-"):
            return self.emit(f"fneg double {self.atom(text[1:])}")
        match = _CALL.match(text)
        if match:
            name, args = match.groups()
            return self.call(name, [self.atom(a.strip()) for a in args.split(",")])
        return self.atom(text)

    def call(self, name: str, args: list) -> str:
        method = getattr(self, "_call_" + name, None)
        if method is not None:
            return method(*args)
        if name in LLVM_INTRINSICS:
            symbol = f"{LLVM_INTRINSICS[name]}.f64"
        elif name in LIBM:
            symbol = name
        else:
            raise NotImplementedError(f"unknown three-address function {name!r}")
        self.declarations[symbol] = f"declare double @{symbol}({', '.join(['double'] * len(args))})"
        return self.emit(f"call double @{symbol}({', '.join(f'double {a}' for a in args)})")

    def _flag(self, op, a, c) -> str:
        return self.emit(f"fcmp {_PREDICATES.get(op, op)} double {a}, {c}")

    def _select(self, flag, a, c) -> str:
        return self.emit(f"select i1 {flag}, double {a}, double {c}")

    def _compare(self, op, a, c):
        return self.emit(f"uitofp i1 {self._flag(op, a, c)} to double")

    def _call_lt(self, a, c): return self._compare("<", a, c)
    def _call_le(self, a, c): return self._compare("<=", a, c)
    def _call_gt(self, a, c): return self._compare(">", a, c)
    def _call_ge(self, a, c): return self._compare(">=", a, c)
    def _call_eq(self, a, c): return self._compare("==", a, c)
    def _call_ne(self, a, c): return self._compare("!=", a, c)

    def _call_select(self, flag, a, c):
        return self._select(self._flag("!=", flag, ZERO), a, c)

    def _extreme(self, op, values):
        best = values[0]
        for v in values[1:]:
            better, either_nan = self._flag(op, v, best), self._flag("uno", v, best)
            best = self._select(either_nan, NAN, self._select(better, v, best))
        if len(values) == 1:
            return self.emit(f"fadd double {best}, {ZERO}")
        return best

    def _call_maxof(self, *values): return self._extreme(">", values)
    def _call_minof(self, *values): return self._extreme("<", values)

    def _call_logsumexp(self, *values):
        top = self._extreme(">", values)
        total = ZERO
        for v in values:
            total = self.emit(f"fadd double {total}, {self.call('exp', [self.emit(f'fsub double {v}, {top}')])}")
        result = self.emit(f"fadd double {top}, {self.call('log', [total])}")
        finite = self._flag("<", self.call("fabs", [top]), double(math.inf))
        return self._select(finite, result, top)

    def _call_sign(self, u):
        negative = self._select(self._flag("<", u, ZERO), double(-1.0), u)
        return self._select(self._flag(">", u, ZERO), ONE, negative)

    def _call_softplus(self, u):
        big = self.emit(f"fadd double {u}, {self.call('log1p', [self.call('exp', [self.emit(f'fneg double {u}')])])}")
        small = self.call("log1p", [self.call("exp", [u])])
        return self._select(self._flag(">", u, ZERO), big, small)

    # ----- special functions (symhess.special's steps, one for one) -------------------------
    def _f(self, op, a, b) -> str:
        return self.emit(f"{_FLOAT_OPS[op]} double {a}, {b}")

    def _neg(self, a) -> str:
        return self.emit(f"fneg double {a}")

    def _horner(self, coefficients, z) -> str:
        total = double(coefficients[0])
        for k in coefficients[1:]:
            total = self._f("+", self._f("*", total, z), double(k))
        return total

    def _shifted(self, y, limit: int, term):
        """``limit`` times: ``if y < limit: total += term(y); y += 1`` (selects, no branches)."""
        total, bound = ZERO, double(float(limit))
        for _ in range(limit):
            below = self._flag("<", y, bound)
            total = self._f("+", total, self._select(below, term(y), ZERO))
            y = self._select(below, self._f("+", y, ONE), y)
        return total, y

    def _tan_pi_fraction(self, x) -> str:
        """``tan(pi (x - rint(x)))``: the period taken exactly (``pi x`` loses digits near the poles)."""
        return self.call("tan", [self._f("*", double(math.pi), self._f("-", x, self.call("rint", [x])))])

    def _call_digamma(self, x):
        negative = self._flag("<", x, ZERO)
        y = self._select(negative, self._f("-", ONE, x), x)
        shift, y = self._shifted(y, special.DIGAMMA_SHIFT, lambda v: self._f("/", ONE, v))
        z = self._f("/", ONE, self._f("*", y, y))
        value = self._f("-", self.call("log", [y]), self._f("/", double(0.5), y))
        value = self._f("-", self._f("-", value, self._f("*", z, self._horner(special.digamma_series(), z))), shift)
        reflected = self._f("-", value, self._f("/", double(math.pi), self._tan_pi_fraction(x)))
        value = self._select(negative, reflected, value)
        t = self._f("-", x, double(special.DIGAMMA_ROOT))
        near = self._flag("<", self.call("fabs", [t]), double(special.DIGAMMA_ROOT_RADIUS))
        value = self._select(near, self._horner(special.digamma_root_series(), t), value)
        pole = self.emit(f"and i1 {negative}, {self._flag('==', x, self.call('ceil', [x]))}")
        value = self._select(pole, NAN, value)
        zero = self.call("copysign", [double(math.inf), self._neg(x)])
        return self._select(self._flag("==", x, ZERO), zero, value)

    def _call_polygamma(self, order, x):
        n = _number(order, "polygamma's order")
        if n != n or n < 0 or n != math.floor(n):
            return NAN
        n = int(n)
        if n == 0:
            return self._call_digamma(x)
        s = n + 1
        negative = self._flag("<", x, ZERO)
        y = self._select(negative, self._f("-", ONE, x), x)
        shift, y = self._shifted(y, special.polygamma_shift(n), lambda v: self.call("pow", [v, double(-s)]))
        w = self._f("/", ONE, y)
        series = self._f("*", w, self._horner(special.polygamma_tail(n), self._f("*", w, w)))
        tail = self._f("*", self.call("pow", [y, double(-s)]), self._f("+", double(0.5), series))
        tail = self._f("+", self._f("/", self.call("pow", [y, double(1 - s)]), double(n)), tail)
        value = self._f("*", double((1.0 if n % 2 else -1.0) * math.factorial(n)), self._f("+", shift, tail))
        cot = self._f("/", ONE, self._tan_pi_fraction(x))
        polynomial = self._f("*", double(math.pi ** (n + 1)), self._horner(special.cotangent_derivative(n), cot))
        reflected = self._f("-", self._neg(value) if n % 2 else value, polynomial)
        value = self._select(negative, reflected, value)
        pole = self.emit(f"and i1 {self._flag('<=', x, ZERO)}, {self._flag('==', x, self.call('ceil', [x]))}")
        return self._select(pole, double(math.inf if n % 2 else -math.inf), value)

    def _inverse_erf(self, a, q) -> str:
        """``x >= 0`` with ``erf(x) = a``, ``q = 1 - a`` exact: Winitzki's guess, then Halley steps."""
        log_q = self.call("log", [q])
        big_l = self._f("+", log_q, self.call("log1p", [a]))
        t = self._f("+", double(2.0 / (math.pi * special.WINITZKI_A)), self._f("*", double(0.5), big_l))
        d = self._f("-", self.call("sqrt", [self._f("-", self._f("*", t, t),
                                                       self._f("/", big_l, double(special.WINITZKI_A)))]), t)
        x = self.call("sqrt", [self._select(self._flag(">", d, ZERO), d, ZERO)])
        central = self._flag("<", a, double(0.5))
        for _ in range(special.HALLEY_STEPS):
            residual = self._select(central, self._f("-", self.call("erf", [x]), a),
                                    self._f("-", q, self.call("erfc", [x])))
            scale = self.call("exp", [self._f("+", self._f("*", x, x), log_q)])
            u = self._f("*", self._f("*", self._f("/", residual, q), scale), double(special.SQRT_PI_2))
            x = self._f("-", x, self._f("/", u, self._f("+", ONE, self._f("*", x, u))))
        x = self._select(self._flag("==", q, ZERO), double(math.inf), x)
        return self._select(self._flag("ult", q, ZERO), NAN, x)

    def _call_erfinv(self, y):
        a = self.call("fabs", [y])
        return self.call("copysign", [self._inverse_erf(a, self._f("-", ONE, a)), y])

    def _call_ndtri(self, p):
        low = self._flag("<", p, double(0.5))
        twice = self._f("*", double(2.0), p)
        a = self._select(low, self._f("-", ONE, twice), self._f("-", twice, ONE))
        q = self._select(low, twice, self._f("-", double(2.0), twice))
        x = self._inverse_erf(a, q)
        return self._f("*", double(math.sqrt(2.0)), self._select(low, self._neg(x), x))

    def _call_erfcx(self, x):
        z = self._f("/", ONE, self._f("*", self._f("*", double(2.0), x), x))
        total, term = ONE, ONE
        for k in range(1, special.ERFCX_TERMS):
            term = self._f("*", self._f("*", self._neg(term), double(2 * k - 1)), z)
            total = self._f("+", total, term)
        asymptotic = self._f("/", total, self._f("*", x, double(math.sqrt(math.pi))))
        high = self._f("/", self.call("floor", [self._f("*", x, double(4096.0))]), double(4096.0))
        low = self._f("-", x, high)
        main = self._f("*", self.call("exp", [self._f("*", high, high)]),
                       self.call("exp", [self._f("*", low, self._f("+", self._f("*", double(2.0), high), low))]))
        main = self._f("*", main, self.call("erfc", [x]))
        value = self._select(self._flag(">=", x, double(special.ERFCX_ASYMPTOTIC)), asymptotic, main)
        return self._select(self._flag("==", x, double(-math.inf)), double(math.inf), value)

    def _call_log_ndtr(self, x):
        t = self._f("/", x, double(math.sqrt(2.0)))
        left = self.call("log", [self._f("/", self._call_erfcx(self._neg(t)), double(2.0))])
        left = self._f("-", left, self._f("*", t, t))
        right = self.call("log1p", [self._f("/", self._neg(self.call("erfc", [t])), double(2.0))])
        return self._select(self._flag("<", x, double(-1.0)), left, right)

    def _call_bessel_ie(self, order, x):
        n = _number(order, "bessel_ie's order")
        if n != n or n < 0 or n != math.floor(n) or n > special.BESSEL_MAX_ORDER:
            return NAN
        n = int(n)
        a = self.call("fabs", [x])
        asymptotic = self._f("/", self._horner(special.bessel_asymptotic(n), self._f("/", ONE, a)),
                             self.call("sqrt", [self._f("*", double(2.0 * math.pi), a)]))
        half = self._f("/", a, double(2.0))
        series = self._f("*", self.call("exp", [self._neg(a)]), self.call("pow", [half, double(float(n))]))
        series = self._f("*", series, self._horner(special.bessel_series(n), self._f("*", half, half)))
        value = self._select(self._flag(">=", a, double(special.BESSEL_SWITCH)), asymptotic, series)
        return self._select(self._flag("<", x, ZERO), self._neg(value), value) if n % 2 else value

    def _repeat(self, count: int, state: list, body) -> list:
        """``for i in range(count): state = body(i, state)`` as an LLVM loop (``i`` a double): symhess.special's
        loops of fixed length, in the same order; returns the final state."""
        name, before = f"repeat.{self.count}", self.block
        phis = [f"%{name}.{j}" for j in range(len(state))]
        outside, self.lines = self.lines, []
        updated = body(self.emit(f"sitofp i64 %{name}.i to double"), phis)
        inside, self.lines = self.lines, outside
        self.lines += [f"  br label %{name}.header", f"{name}.header:",
                       f"  %{name}.i = phi i64 [0, %{before}], [%{name}.next, %{name}.body]",
                       *(f"  {phi} = phi double [{first}, %{before}], [{last}, %{name}.body]"
                         for phi, first, last in zip(phis, state, updated)),
                       f"  %{name}.more = icmp slt i64 %{name}.i, {count}",
                       f"  br i1 %{name}.more, label %{name}.body, label %{name}.end", f"{name}.body:", *inside,
                       f"  %{name}.next = add i64 %{name}.i, 1", f"  br label %{name}.header", f"{name}.end:"]
        self.block = f"{name}.end"
        return phis

    def _gamma_log_factor(self, a, x):
        d = self._f("-", x, a)
        ratio = self._select(self._flag("<", x, self._f("*", double(0.5), a)), self.call("log", [self._f("/", x, a)]),
                             self.call("log1p", [self._f("/", d, a)]))
        w = self._f("/", ONE, a)
        stirling = self._f("-", self._f("-", self._f("*", double(0.5), self.call("log", [a])),
                                        double(special.HALF_LOG_2PI)),
                           self._f("*", w, self._horner(special.stirling_series(), self._f("*", w, w))))
        direct = self._f("-", self._f("-", self._f("*", a, self.call("log", [a])), a), self.call("lgamma", [a]))
        constant = self._select(self._flag(">=", a, double(special.STIRLING_FROM)), stirling, direct)
        return self._f("-", self._f("+", constant, self._f("*", a, ratio)), d)

    def _gamma_q_small(self, a, x):
        minus_x = self._neg(x)

        def step(i, state):
            n = self._f("+", i, ONE)
            term = self._f("/", self._f("*", state[0], minus_x), n)
            return [term, self._f("+", state[1], self._f("/", term, self._f("+", a, n)))]

        _, total = self._repeat(special.GAMMAINC_SMALL_TERMS, [ONE, ZERO], step)
        log_x = self.call("log", [x])
        lgamma1p = self._select(self._flag("<", a, double(0.5)),
                                self._f("*", a, self._horner(special.lgamma1p_series(), a)),
                                self.call("lgamma", [self._f("+", ONE, a)]))
        first = self._neg(self.call("expm1", [self._f("-", self._f("*", a, log_x), lgamma1p)]))
        scale = self.call("exp", [self._f("-", self._f("*", a, log_x), self.call("lgamma", [a]))])
        return self._f("-", first, self._f("*", scale, total))

    def _incomplete_gamma(self, a, x) -> tuple[str, str]:
        """(P, Q) as symhess.special.incomplete_gamma: both branches computed, one selected."""
        factor = self.call("exp", [self._gamma_log_factor(a, x)])
        small = self._flag("<", a, ONE)

        def series_step(i, state):
            term = self._f("/", self._f("*", state[0], x), self._f("+", a, self._f("+", i, ONE)))
            return [term, self._f("+", state[1], term)]

        _, total = self._repeat(special.GAMMAINC_SERIES_TERMS, [ONE, ONE], series_step)
        p_low = self._f("*", self._f("/", factor, a), total)
        q_low = self._select(small, self._gamma_q_small(a, x), self._f("-", ONE, p_low))

        def fraction_step(i, state):
            k = self._f("-", double(float(special.GAMMAINC_FRACTION_TERMS)), i)
            denominator = self._f("+", x, self._f("+", self._f("*", double(2.0), k), ONE))
            denominator = self._f("-", self._f("-", denominator, a), state[0])
            return [self._f("/", self._f("*", k, self._f("-", k, a)), denominator)]

        (tail,) = self._repeat(special.GAMMAINC_FRACTION_TERMS, [ZERO], fraction_step)
        q_high = self._f("/", factor, self._f("-", self._f("-", self._f("+", x, ONE), a), tail))
        low = self._flag("<", x, self._select(small, double(special.GAMMAINC_SMALL_BOUND), self._f("+", a, ONE)))
        p, q = self._select(low, p_low, self._f("-", ONE, q_high)), self._select(low, q_low, q_high)
        infinite, zero = self._flag("==", x, double(math.inf)), self._flag("==", x, ZERO)
        p, q = self._select(infinite, ONE, p), self._select(infinite, ZERO, q)
        p, q = self._select(zero, ZERO, p), self._select(zero, ONE, q)
        valid = self.emit(f"and i1 {self._flag('>', a, ZERO)}, {self._flag('<=', a, double(special.GAMMAINC_MAX_A))}")
        valid = self.emit(f"and i1 {valid}, {self._flag('>=', x, ZERO)}")
        return self._select(valid, p, NAN), self._select(valid, q, NAN)

    def _call_gammainc(self, a, x): return self._incomplete_gamma(a, x)[0]
    def _call_gammaincc(self, a, x): return self._incomplete_gamma(a, x)[1]

    def run(self, code: str) -> str:
        statements = parse(code)
        self.statements(statements)
        if not statements or statements[-1].kind != "return":
            raise ValueError("three-address kernel without a return line")
        return self.atom(statements[-1].parts[0])

    def statements(self, statements) -> None:
        for statement in statements:
            if statement.kind == "loop":
                variable, start, count = statement.parts
                self.loop(variable, start, int(count), statement.body)
            elif statement.kind == "assign":
                self.assign(*statement.parts)

    def assign(self, target: str, index: str | None, op: str, text: str) -> None:
        local = LOCAL_ARRAY.match(text) if index is None else None
        if local is not None:  # one stack array, allocated at the entry (a loop's body reuses it)
            self.pointers[target] = f"%{target}.local"
            self.allocas.append(f"  %{target}.local = alloca double, i64 {local.group(1)}")
            return
        value = self.expression(text)
        if index is not None:
            pointer = self.element(target, index)
        elif op == "+=" or target.startswith("acc"):
            if target not in self.accumulators:
                self.accumulators[target] = f"%{target}.slot"
                self.allocas.append(f"  %{target}.slot = alloca double")
            pointer = self.accumulators[target]
        else:
            self.values[target] = value
            return
        if op == "+=":
            value = self.emit(f"fadd double {self.emit(f'load double, {POINTER} {pointer}')}, {value}")
        self.lines.append(f"  store double {value}, {POINTER} {pointer}")

    def loop(self, variable: str, start: str | None, count: int, body) -> None:
        """``for variable in range([start,] count)``: the body's temporaries live inside one iteration."""
        outside = dict(self.values)
        self.loops += 1
        name = f"loop.{self.loops}"
        first = "0" if start is None else self.variables[start]
        self.lines += [f"  br label %{name}.header", f"{name}.header:",
                       f"  %{name}.i = phi i64 [{first}, %{self.block}], [%{name}.next, %{name}.latch]"]
        more = self.emit(f"icmp slt i64 %{name}.i, {count}")
        self.lines += [f"  br i1 {more}, label %{name}.body, label %{name}.end", f"{name}.body:"]
        self.block, self.variables[variable] = f"{name}.body", f"%{name}.i"
        self.statements(body)
        self.lines += [f"  br label %{name}.latch", f"{name}.latch:", f"  %{name}.next = add i64 %{name}.i, 1",
                       f"  br label %{name}.header", f"{name}.end:"]
        del self.variables[variable]
        self.values, self.block = outside, f"{name}.end"


def _number(value: str, what: str) -> float:
    """The number an LLVM operand spells (``double``'s hexadecimal), for operations specialised on it."""
    if not value.startswith("0x"):
        raise NotImplementedError(f"{what} must be a number in the three-address code, not a computed value")
    return struct.unpack("<d", struct.pack("<Q", int(value, 16)))[0]


@dataclass
class Statement:
    """One statement of three-address code: "assign" (target, index or None, "=" or "+=", text),
    "loop" (variable, start variable or None, count) with its ``body``, or "return" (atom,)."""

    kind: str
    parts: tuple
    body: list | None = None


_KERNEL_CODE = re.compile(r'^(\w+)_CODE = """\ndef \w+\(([^)]*)\):\n(.*?)^"""', re.S | re.M)
_CONSTANTS = re.compile(r"^CONSTANTS = np\.array\(\[(.*?)\], dtype=np\.float64\)", re.M)


def module_kernels(source: str) -> tuple[dict, np.ndarray]:
    """``{name: (arguments, code)}`` of a generated module's three-address kernels, and its
    constants (written by ``repr`` of a list of floats: read back exactly by ``float``, without
    ``ast``, whose parser CPython 3.11.7 cannot run in two threads at once)."""
    codes = {name.lower(): (tuple(a.strip() for a in arguments.split(",")), code)
             for name, arguments, code in _KERNEL_CODE.findall(source)}
    listed = _CONSTANTS.search(source).group(1).strip()
    constants = np.array([float(value) for value in listed.split(",")] if listed else [], dtype=np.float64)
    return codes, constants


def parse(code: str) -> list[Statement]:
    """The statements of one three-address kernel (its ``def`` line skipped), nested by indentation."""
    lines = [line for line in code.split("\n") if line.strip() and not line.startswith("def ")]
    statements, position = _block(lines, 0, _indent(lines[0]) if lines else 4)
    if position != len(lines):
        raise ValueError(f"unexpected indentation in three-address code: {lines[position]!r}")
    return statements


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block(lines, position: int, indent: int):
    statements = []
    while position < len(lines) and _indent(lines[position]) == indent:
        text = lines[position].strip()
        position += 1
        loop = _LOOP.match(text)
        if loop:
            body, position = _block(lines, position, _indent(lines[position]))
            statements.append(Statement("loop", loop.groups(), body))
            continue
        assign = _ASSIGN.match(text)
        if assign:
            statements.append(Statement("assign", assign.groups()))
            continue
        returned = _RETURN.match(text)
        if returned:
            statements.append(Statement("return", returned.groups()))
            continue
        raise ValueError(f"unexpected line in three-address code: {text!r}")
    return statements, position


def index_terms(index: str) -> list[str]:
    """The terms of an index (``7``, ``7 + 2*m``, ``int(c[40 + 1*m]) + 1*j``), split at ``+`` outside brackets."""
    found, depth, start = [], 0, 0
    for k, char in enumerate(index):
        depth += char in "[("
        depth -= char in "])"
        if depth == 0 and index.startswith(" + ", k):
            found.append(index[start:k])
            start = k + 3
    return [*found, index[start:]]


def function_text(symbol: str, arguments: tuple[str, ...], code: str) -> str:
    """LLVM IR of ``double symbol(double *arguments...)`` running the three-address ``code``."""
    emitter = Emitter(arguments)
    result = emitter.run(code)
    parameters = ", ".join(f"{POINTER} noalias %{name}" for name in arguments)
    return "\n".join([f"define double @{symbol}({parameters}) {{", "entry:", *emitter.allocas, *emitter.lines,
                      f"  ret double {result}", "}", *emitter.declarations.values(), ""])


def symbol_of(arguments: tuple[str, ...], code: str) -> str:
    """The kernel's LLVM name: equal names mean equal code (Numba links them as one definition)."""
    digest = hashlib.blake2b(f"{arguments}\n{code}".encode(), digest_size=10).hexdigest()
    return f"symhess_kernel_{digest}"


def kernel(arguments: tuple[str, ...], code: str):
    """A Numba intrinsic ``f(*arrays) -> float64`` that runs the three-address ``code``: a call
    of the function :func:`function_text` writes, linked in as a library of its own."""
    symbol = symbol_of(arguments, code)
    text = functools.cache(lambda: function_text(symbol, arguments, code))  # only when Numba compiles

    def typer(typingctx, *arg_types):
        signature = types.float64(*arg_types)

        def codegen(context, builder, sig, args):
            library = context.codegen().create_library(symbol)
            library.add_llvm_module(llvm.parse_assembly(text()))
            context.active_code_library.add_linking_library(library)
            function = builder.module.globals.get(symbol) or ir.Function(
                builder.module, ir.FunctionType(DOUBLE, [DOUBLE.as_pointer()] * len(arguments)), name=symbol)
            return builder.call(function, [context.make_array(t)(context, builder, a).data
                                           for t, a in zip(sig.args, args)])

        return signature, codegen

    arity = len(arguments)
    if arity == 2:
        def emit(typingctx, a, b):
            return typer(typingctx, a, b)
    elif arity == 3:
        def emit(typingctx, a, b, c):
            return typer(typingctx, a, b, c)
    elif arity == 4:
        def emit(typingctx, a, b, c, d):
            return typer(typingctx, a, b, c, d)
    elif arity == 5:
        def emit(typingctx, a, b, c, d, e):
            return typer(typingctx, a, b, c, d, e)
    else:
        raise ValueError(f"kernels take 2 to 5 arrays, not {arity}")
    return intrinsic(emit)
