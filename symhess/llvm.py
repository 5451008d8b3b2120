"""Stage 5 backend: turn symhess three-address code into LLVM IR inside a Numba intrinsic.

Numba's own front end spends about a millisecond typing each operation, which
makes large generated functions take minutes to compile.  Kernels are therefore
written in a tiny three-address language (valid Python, one operation per line),
emitted straight to LLVM IR by :func:`kernel`, and wrapped by an ordinary
``numba.njit(cache=True)`` function, so Numba still links, optimises and caches
the machine code on disk.  ``INSTRUCTIONS`` is the one table of operations.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager

from llvmlite import ir

DOUBLE = ir.DoubleType()
INT64 = ir.IntType(64)

_ASSIGN = re.compile(r"^\s*(\w+)(?:\[([^\]]+)\])? (\+?=) (.+)$")
_LOAD = re.compile(r"^(\w+)\[([^\]]+)\]$")
_INDEX = re.compile(r"^(\d+)(?: \+ (-?\d+)\*m)?$")      # "7" or, inside a loop, "7 + 2*m"
_LOOP = re.compile(r"^    for m in range\((\d+)\):$")
_LOOP_BODY = "        "
_BINARY = re.compile(r"^(\S+) ([-+*/]) (\S+)$")
_CALL = re.compile(r"^(\w+)\((.*)\)$")
_RETURN = re.compile(r"^\s*return (\S+)$")

CONSTANTS = {"inf": math.inf, "nan": math.nan}

LLVM_INTRINSICS = {"sqrt": "llvm.sqrt", "sin": "llvm.sin", "cos": "llvm.cos", "exp": "llvm.exp",
                   "log": "llvm.log", "fabs": "llvm.fabs", "floor": "llvm.floor",
                   "ceil": "llvm.ceil", "rint": "llvm.rint", "pow": "llvm.pow"}
"""Three-address function name -> LLVM intrinsic."""

LIBM = ("tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh",
        "atanh", "log1p", "expm1", "cbrt", "erf", "copysign")
"""Three-address function names that are C math library calls of the same name."""


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

    space = {name: getattr(math, name) for name in LIBM if hasattr(math, name)}
    space.update(sqrt=math.sqrt, sin=math.sin, cos=math.cos, exp=math.exp, log=math.log,
                 fabs=math.fabs, floor=lambda u: float(math.floor(u)),
                 ceil=lambda u: float(math.ceil(u)), rint=lambda u: float(round(u)),
                 pow=lambda a, b: a**b, cbrt=lambda u: math.copysign(abs(u) ** (1 / 3), u),
                 select=select, maxof=maxof, minof=minof, logsumexp=logsumexp, sign=sign,
                 softplus=softplus, lt=lambda a, b: float(a < b), le=lambda a, b: float(a <= b),
                 gt=lambda a, b: float(a > b), ge=lambda a, b: float(a >= b),
                 eq=lambda a, b: float(a == b), ne=lambda a, b: float(a != b), **CONSTANTS)
    return space


class Emitter:
    """Emits one kernel body with an IR builder; values are named by the code's temporaries."""

    def __init__(self, builder: ir.IRBuilder, pointers: dict):
        self.builder = builder
        self.module = builder.module
        self.pointers = pointers
        self.values: dict[str, ir.Value] = {}
        self.accumulators: dict[str, ir.Value] = {}  # scalars summed across loop iterations
        self.m = None                                 # the loop variable, inside a loop

    def atom(self, text: str) -> ir.Value:
        value = self.values.get(text)
        if value is not None:
            return value
        if text in self.accumulators:
            return self.builder.load(self.accumulators[text])
        if text in CONSTANTS:
            return ir.Constant(DOUBLE, CONSTANTS[text])
        return ir.Constant(DOUBLE, float(text))

    def element(self, array: str, index: str):
        base, stride = _INDEX.match(index).groups()
        offset = ir.Constant(INT64, int(base))
        if stride is not None:
            offset = self.builder.add(offset, self.builder.mul(ir.Constant(INT64, int(stride)), self.m))
        return self.builder.gep(self.pointers[array], [offset])

    def expression(self, text: str) -> ir.Value:
        b = self.builder
        match = _LOAD.match(text)
        if match:
            return b.load(self.element(*match.groups()))
        match = _BINARY.match(text)
        if match:
            left, op, right = match.groups()
            a, c = self.atom(left), self.atom(right)
            return {"+": b.fadd, "-": b.fsub, "*": b.fmul, "/": b.fdiv}[op](a, c)
        if text.startswith("-"):
            return b.fneg(self.atom(text[1:]))
        match = _CALL.match(text)
        if match:
            name, args = match.groups()
            return self.call(name, [self.atom(a.strip()) for a in args.split(",")])
        return self.atom(text)

    def call(self, name: str, args: list) -> ir.Value:
        method = getattr(self, "_call_" + name, None)
        if method is not None:
            return method(*args)
        if name in LLVM_INTRINSICS:
            function = self.module.declare_intrinsic(LLVM_INTRINSICS[name], [DOUBLE])
            return self.builder.call(function, args)
        if name in LIBM:
            return self.builder.call(self._libm(name, len(args)), args)
        raise NotImplementedError(f"unknown three-address function {name!r}")

    def _libm(self, name: str, arity: int):
        function = self.module.globals.get(name)
        if function is None:
            function = ir.Function(self.module, ir.FunctionType(DOUBLE, [DOUBLE] * arity), name=name)
        return function

    def _compare(self, op, a, c):
        flag = (self.builder.fcmp_unordered if op == "!=" else self.builder.fcmp_ordered)(op, a, c)
        return self.builder.uitofp(flag, DOUBLE)

    def _call_lt(self, a, c): return self._compare("<", a, c)
    def _call_le(self, a, c): return self._compare("<=", a, c)
    def _call_gt(self, a, c): return self._compare(">", a, c)
    def _call_ge(self, a, c): return self._compare(">=", a, c)
    def _call_eq(self, a, c): return self._compare("==", a, c)
    def _call_ne(self, a, c): return self._compare("!=", a, c)

    def _call_select(self, flag, a, c):
        b = self.builder
        return b.select(b.fcmp_unordered("!=", flag, ir.Constant(DOUBLE, 0.0)), a, c)

    def _extreme(self, op, values):
        b = self.builder
        best = values[0]
        nan = ir.Constant(DOUBLE, math.nan)
        for v in values[1:]:
            better = b.fcmp_ordered(op, v, best)
            either_nan = b.fcmp_unordered("uno", v, best)
            best = b.select(either_nan, nan, b.select(better, v, best))
        if len(values) == 1:
            return b.fadd(best, ir.Constant(DOUBLE, 0.0))
        return best

    def _call_maxof(self, *values): return self._extreme(">", values)
    def _call_minof(self, *values): return self._extreme("<", values)

    def _call_logsumexp(self, *values):
        b = self.builder
        top = self._extreme(">", values)
        total = ir.Constant(DOUBLE, 0.0)
        for v in values:
            total = b.fadd(total, self.call("exp", [b.fsub(v, top)]))
        result = b.fadd(top, self.call("log", [total]))
        finite = b.fcmp_ordered("<", self.call("fabs", [top]), ir.Constant(DOUBLE, math.inf))
        return b.select(finite, result, top)

    def _call_sign(self, u):
        b = self.builder
        zero, one = ir.Constant(DOUBLE, 0.0), ir.Constant(DOUBLE, 1.0)
        negative = b.select(b.fcmp_ordered("<", u, zero), ir.Constant(DOUBLE, -1.0), u)
        return b.select(b.fcmp_ordered(">", u, zero), one, negative)

    def _call_softplus(self, u):
        b = self.builder
        zero = ir.Constant(DOUBLE, 0.0)
        big = b.fadd(u, self.call("log1p", [self.call("exp", [b.fneg(u)])]))
        small = self.call("log1p", [self.call("exp", [u])])
        return b.select(b.fcmp_ordered(">", u, zero), big, small)

    def run(self, lines) -> ir.Value:
        position = 0
        while position < len(lines):
            line = lines[position]
            position += 1
            match = _LOOP.match(line)
            if match:
                body = []
                while position < len(lines) and lines[position].startswith(_LOOP_BODY):
                    body.append(lines[position])
                    position += 1
                self.loop(int(match.group(1)), body)
                continue
            match = _ASSIGN.match(line)
            if match:
                self.assign(*match.groups())
                continue
            match = _RETURN.match(line)
            if match:
                return self.atom(match.group(1))
        raise ValueError("three-address kernel without a return line")

    def assign(self, target: str, index: str | None, op: str, text: str) -> None:
        b = self.builder
        value = self.expression(text)
        if index is not None:
            pointer = self.element(target, index)
            b.store(b.fadd(b.load(pointer), value) if op == "+=" else value, pointer)
        elif op == "+=":
            pointer = self.accumulators[target]
            b.store(b.fadd(b.load(pointer), value), pointer)
        elif target.startswith("acc"):
            with b.goto_entry_block():
                self.accumulators[target] = b.alloca(DOUBLE)
            b.store(value, self.accumulators[target])
        else:
            self.values[target] = value

    def loop(self, count: int, body: list[str]) -> None:
        """``for m in range(count)``: the body's temporaries live inside one iteration."""
        outside = dict(self.values)
        with _for_range(self.builder, count) as index:
            self.m = index
            for line in body:
                match = _ASSIGN.match(line)
                if not match:
                    raise ValueError(f"unexpected line in a three-address loop: {line!r}")
                self.assign(*match.groups())
        self.m, self.values = None, outside


@contextmanager
def _for_range(builder: ir.IRBuilder, count: int):
    """``for index in range(count)`` around the code emitted inside the ``with``."""
    before = builder.block
    header = builder.append_basic_block("loop.header")
    body = builder.append_basic_block("loop.body")
    after = builder.append_basic_block("loop.end")
    builder.branch(header)
    builder.position_at_end(header)
    index = builder.phi(INT64, name="m")
    index.add_incoming(ir.Constant(INT64, 0), before)
    builder.cbranch(builder.icmp_signed("<", index, ir.Constant(INT64, count)), body, after)
    builder.position_at_end(body)
    yield index
    index.add_incoming(builder.add(index, ir.Constant(INT64, 1)), builder.block)
    builder.branch(header)
    builder.position_at_end(after)


def code_lines(code: str) -> list[str]:
    return [line for line in code.strip("\n").split("\n") if line.strip()]


def kernel(arguments: tuple[str, ...], code: str):
    """A Numba intrinsic ``f(*arrays) -> float64`` that runs the three-address ``code``."""
    from numba import types
    from numba.extending import intrinsic

    lines = code_lines(code)

    def typer(typingctx, *arg_types):
        signature = types.float64(*arg_types)

        def codegen(context, builder, sig, args):
            pointers = {name: context.make_array(t)(context, builder, a).data
                        for name, t, a in zip(arguments, sig.args, args)}
            return Emitter(builder, pointers).run(lines)

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
