"""Standalone C: the compiled kernels as a ``.c`` and a ``.h`` that need nothing but ``math.h``.

The generated module (``f.source``) holds each kernel as three-address code, the small language
:mod:`symhess.llvm` compiles: one operation per line, named temporaries, ``for`` loops over the
repeated terms (their positions read from tables in the constants ``c``).  Each construct is
translated by one method of :class:`CTranslator`, each function by one line of :data:`C_FUNCTIONS`
or one helper of :data:`HELPERS`: the C reads like the code Numba compiles, loops stay loops.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import sympy as sp

from . import special as S  # noqa: N812 - S.name, as the C helpers name them
from .llvm import LIBM, LLVM_INTRINSICS, LOCAL_ARRAY, Statement, index_terms, module_kernels, parse
from .version import __version__

_LOAD = re.compile(r"^(\w+)\[(.+)\]$")
_BINARY = re.compile(r"^(\S+) ([-+*/]) (\S+)$")
_CALL = re.compile(r"^(\w+)\((.*)\)$")
_STRIDE = re.compile(r"^(-?\d+)\*([a-z])$")
_TABLE = re.compile(r"^int\(c\[(.+)\]\)$")
_NAME = re.compile(r"^[A-Za-z_]\w*$")

C_FUNCTIONS = {name: name for name in (*LLVM_INTRINSICS, *LIBM)}
"""Three-address function -> the ``math.h`` function of the same meaning: the same name, for each of
LLVM's intrinsics and C library calls (:mod:`symhess.llvm`)."""

def _array(values) -> str:
    return "{" + ", ".join(repr(float(v)) for v in values) + "}"


def special_helpers() -> dict:
    """C helpers of :mod:`symhess.special`'s functions, step for step (its coefficients printed exactly)."""
    pi, sqrt2 = repr(math.pi), repr(math.sqrt(2.0))
    return {
        "horner": "static inline double sh_horner(const double *c, int count, double z) {\n"
                  "    double total = c[0];\n"
                  "    for (int k = 1; k < count; ++k) total = total * z + c[k];\n"
                  "    return total;\n}",
        "digamma": "static inline double sh_digamma(double x) {\n"
                   f"    static const double series[7] = {_array(S.digamma_series())};\n"
                   f"    static const double root[27] = {_array(S.digamma_root_series())};\n"
                   "    int negative = x < 0.0;\n"
                   "    double y = negative ? 1.0 - x : x, shift = 0.0, z, value;\n"
                   f"    for (int k = 0; k < {S.DIGAMMA_SHIFT}; ++k)\n"
                   f"        if (y < {float(S.DIGAMMA_SHIFT)!r}) {{ shift += 1.0 / y; y += 1.0; }}\n"
                   "    z = 1.0 / (y * y);\n"
                   "    value = log(y) - 0.5 / y - z * sh_horner(series, 7, z) - shift;\n"
                   f"    if (negative) value -= {pi} / tan({pi} * (x - rint(x)));\n"
                   f"    if (fabs(x - {S.DIGAMMA_ROOT!r}) < {S.DIGAMMA_ROOT_RADIUS!r})\n"
                   f"        value = sh_horner(root, 27, x - {S.DIGAMMA_ROOT!r});\n"
                   "    if (negative && x == ceil(x)) value = NAN;\n"
                   "    return x == 0.0 ? copysign(INFINITY, -x) : value;\n}",
        "polygamma": "static inline double sh_polygamma(double order, double x) {\n"
                     "    /* Euler-Maclaurin: B_2j/(2j)! for j = 12 .. 1, times s (s+1) ... (s+2j-2) below */\n"
                     f"    static const double bernoulli[12] = {_array(_bernoulli_over_factorial())};\n"
                     "    double tail[12], p[64], d[64], s, y, w, shift = 0.0, value, factorial = 1.0, rising, cot;\n"
                     "    int n, limit, negative = x < 0.0;\n"
                     "    if (!(order >= 0.0) || order != floor(order) || order > 60.0) return NAN;\n"
                     "    n = (int)order;\n"
                     "    if (n == 0) return sh_digamma(x);\n"
                     "    if (x <= 0.0 && x == ceil(x)) return n % 2 ? INFINITY : -INFINITY;\n"
                     "    s = n + 1.0;\n"
                     "    rising = s;\n"
                     "    for (int j = 1; j <= 12; ++j) { tail[12 - j] = bernoulli[12 - j] * rising;"
                     " rising *= (s + 2 * j - 1) * (s + 2 * j); }\n"
                     "    for (int k = 2; k <= n; ++k) factorial *= k;\n"
                     "    limit = 10 + n + 1;\n"
                     "    y = negative ? 1.0 - x : x;\n"
                     "    for (int k = 0; k < limit; ++k)\n"
                     "        if (y < limit) { shift += pow(y, -s); y += 1.0; }\n"
                     "    w = 1.0 / y;\n"
                     "    value = (n % 2 ? 1.0 : -1.0) * factorial * (shift + (pow(y, 1.0 - s) / n"
                     " + pow(y, -s) * (0.5 + w * sh_horner(tail, 12, w * w))));\n"
                     "    if (!negative) return value;\n"
                     "    /* reflection: d^n/dx^n cot(pi x) = pi^n P_n(cot(pi x)), P_0(c) = c,"
                     " P_k+1 = -(1 + c^2) P_k' */\n"
                     "    for (int k = 0; k <= n + 1; ++k) p[k] = k == 1 ? 1.0 : 0.0;\n"
                     "    for (int m = 0; m < n; ++m) {\n"
                     "        for (int k = 0; k <= m + 1; ++k) d[k] = (k + 1) * p[k + 1];\n"
                     "        for (int k = 0; k <= m + 2; ++k) p[k] = -((k <= m ? d[k] : 0.0)"
                     " + (k >= 2 ? d[k - 2] : 0.0));\n"
                     "    }\n"
                     f"    cot = 1.0 / tan({pi} * (x - rint(x)));\n"
                     "    w = p[n + 1];\n"
                     "    for (int k = n; k >= 0; --k) w = w * cot + p[k];\n"
                     f"    return (n % 2 ? -value : value) - pow({pi}, n + 1) * w;\n}}",
        "inverse_erf": "static inline double sh_inverse_erf(double a, double q) {\n"
                       "    /* x >= 0 with erf(x) = a, given q = 1 - a exactly: Winitzki's guess, Halley steps */\n"
                       "    double log_q = log(q), big_l = log_q + log1p(a), t, d, x, residual, u;\n"
                       f"    t = {2.0 / (math.pi * S.WINITZKI_A)!r} + 0.5 * big_l;\n"
                       f"    d = sqrt(t * t - big_l / {S.WINITZKI_A!r}) - t;\n"
                       "    x = sqrt(d > 0.0 ? d : 0.0);\n"
                       f"    for (int k = 0; k < {S.HALLEY_STEPS}; ++k) {{\n"
                       "        residual = a < 0.5 ? erf(x) - a : q - erfc(x);\n"
                       f"        u = residual / q * exp(x * x + log_q) * {S.SQRT_PI_2!r};\n"
                       "        x = x - u / (1.0 + x * u);\n"
                       "    }\n"
                       "    if (q == 0.0) x = INFINITY;\n"
                       "    return q >= 0.0 ? x : NAN;\n}",
        "erfinv": "static inline double sh_erfinv(double y) { return copysign(sh_inverse_erf(fabs(y), 1.0 - fabs(y)), y); }",
        "ndtri": "static inline double sh_ndtri(double p) {\n"
                 "    int low = p < 0.5;\n"
                 "    double x = sh_inverse_erf(low ? 1.0 - 2.0 * p : 2.0 * p - 1.0, low ? 2.0 * p : 2.0 - 2.0 * p);\n"
                 f"    return {sqrt2} * (low ? -x : x);\n}}",
        "erfcx": "static inline double sh_erfcx(double x) {\n"
                 "    double z, total = 1.0, term = 1.0, high, low;\n"
                 f"    if (x >= {S.ERFCX_ASYMPTOTIC!r}) {{\n"
                 "        z = 1.0 / (2.0 * x * x);\n"
                 f"        for (int k = 1; k < {S.ERFCX_TERMS}; ++k) {{ term = -term * (2 * k - 1) * z; total += term; }}\n"
                 f"        return total / (x * {math.sqrt(math.pi)!r});\n"
                 "    }\n"
                 "    if (x == -INFINITY) return INFINITY;\n"
                 "    high = floor(x * 4096.0) / 4096.0;  /* high * high is exact */\n"
                 "    low = x - high;\n"
                 "    return exp(high * high) * exp(low * (2.0 * high + low)) * erfc(x);\n}",
        "bessel_ie": "static inline double sh_bessel_ie(double order, double x) {\n"
                     "    /* exp(-|x|) I_n(x): power series below |x| = 20, Hankel's asymptotic series above */\n"
                     f"    double series[{S.BESSEL_SERIES_TERMS}], hankel[{S.BESSEL_ASYMPTOTIC_TERMS}], a = fabs(x),"
                     " half = a / 2.0, factorial = 1.0, value;\n"
                     "    int n;\n"
                     f"    if (!(order >= 0.0) || order != floor(order) || order > {S.BESSEL_MAX_ORDER}.0) return NAN;\n"
                     "    n = (int)order;\n"
                     "    for (int k = 2; k <= n; ++k) factorial *= k;\n"
                     f"    series[{S.BESSEL_SERIES_TERMS - 1}] = 1.0 / factorial;\n"
                     f"    for (int k = 1; k < {S.BESSEL_SERIES_TERMS}; ++k)\n"
                     f"        series[{S.BESSEL_SERIES_TERMS - 1} - k] = series[{S.BESSEL_SERIES_TERMS} - k]"
                     " / (k * (k + n));\n"
                     f"    hankel[{S.BESSEL_ASYMPTOTIC_TERMS - 1}] = 1.0;\n"
                     f"    for (int k = 1; k < {S.BESSEL_ASYMPTOTIC_TERMS}; ++k)\n"
                     f"        hankel[{S.BESSEL_ASYMPTOTIC_TERMS - 1} - k] = hankel[{S.BESSEL_ASYMPTOTIC_TERMS} - k]"
                     " * ((2 * k - 1) * (2 * k - 1) - 4 * n * n) / (8 * k);\n"
                     f"    if (a >= {S.BESSEL_SWITCH!r})\n"
                     f"        value = sh_horner(hankel, {S.BESSEL_ASYMPTOTIC_TERMS}, 1.0 / a)"
                     f" / sqrt({2.0 * math.pi!r} * a);\n"
                     "    else\n"
                     f"        value = exp(-a) * pow(half, n) * sh_horner(series, {S.BESSEL_SERIES_TERMS}, half * half);\n"
                     "    return n % 2 && x < 0.0 ? -value : value;\n}",
        "log_ndtr": "static inline double sh_log_ndtr(double x) {\n"
                    f"    double t = x / {sqrt2};\n"
                    "    return x < -1.0 ? log(sh_erfcx(-t) / 2.0) - t * t : log1p(-erfc(t) / 2.0);\n}",
        "gamma_log_factor": "static inline double sh_gamma_log_factor(double a, double x) {\n"
                            "    /* log(x^a e^-x / Gamma(a)) = (a log a - a - lgamma(a)) + a log(x/a) - (x - a) */\n"
                            f"    static const double stirling[9] = {_array(S.stirling_series())};\n"
                            "    double d = x - a, w = 1.0 / a, ratio, constant;\n"
                            "    ratio = x < 0.5 * a ? log(x / a) : log1p(d / a);\n"
                            f"    constant = a >= {S.STIRLING_FROM!r} ? 0.5 * log(a) - {S.HALF_LOG_2PI!r}"
                            " - w * sh_horner(stirling, 9, w * w) : a * log(a) - a - lgamma(a);\n"
                            "    return constant + a * ratio - d;\n}",
        "incomplete_gamma": "static inline double sh_incomplete_gamma(double a, double x, int upper) {\n"
                            "    /* P (upper = 0) or Q: P's series below x = a + 1, Q's continued fraction above;"
                            " for a < 1 below 1.1, Q's series */\n"
                            f"    static const double lgamma1p[59] = {_array(S.lgamma1p_series())};\n"
                            "    double factor, term = 1.0, total = 1.0, p, q, tail = 0.0, log_x, shift;\n"
                            f"    if (!(a > 0.0 && a <= {S.GAMMAINC_MAX_A!r}) || !(x >= 0.0)) return NAN;\n"
                            "    if (x == 0.0) return upper ? 1.0 : 0.0;\n"
                            "    if (x == INFINITY) return upper ? 0.0 : 1.0;\n"
                            "    factor = exp(sh_gamma_log_factor(a, x));\n"
                            f"    if (x < (a < 1.0 ? {S.GAMMAINC_SMALL_BOUND!r} : a + 1.0)) {{\n"
                            f"        for (int n = 1; n <= {S.GAMMAINC_SERIES_TERMS}; ++n) {{ term = term * x / (a + n);"
                            " total = total + term; }\n"
                            "        p = factor / a * total;\n"
                            "        if (upper && a < 1.0) {\n"
                            "            term = 1.0; total = 0.0;\n"
                            f"            for (int n = 1; n <= {S.GAMMAINC_SMALL_TERMS}; ++n) {{ term = term * -x / n;"
                            " total = total + term / (a + n); }\n"
                            "            log_x = log(x);\n"
                            "            shift = a < 0.5 ? a * sh_horner(lgamma1p, 59, a) : lgamma(1.0 + a);\n"
                            "            return -expm1(a * log_x - shift) - exp(a * log_x - lgamma(a)) * total;\n"
                            "        }\n"
                            "        return upper ? 1.0 - p : p;\n"
                            "    }\n"
                            f"    for (int i = 0; i < {S.GAMMAINC_FRACTION_TERMS}; ++i) {{\n"
                            f"        double k = {S.GAMMAINC_FRACTION_TERMS}.0 - i;\n"
                            "        tail = k * (k - a) / (x + (2.0 * k + 1.0) - a - tail);\n"
                            "    }\n"
                            "    q = factor / (x + 1.0 - a - tail);\n"
                            "    return upper ? q : 1.0 - q;\n}",
        "gammainc": "static inline double sh_gammainc(double a, double x) { return sh_incomplete_gamma(a, x, 0); }",
        "gammaincc": "static inline double sh_gammaincc(double a, double x) { return sh_incomplete_gamma(a, x, 1); }",
    }


def _bernoulli_over_factorial() -> list[float]:
    return [float(sp.bernoulli(2 * j) / sp.factorial(2 * j)) for j in range(12, 0, -1)]


HELPERS = {
    "select": "static inline double sh_select(double flag, double a, double b) { return flag != 0.0 ? a : b; }",
    "sign": "static inline double sh_sign(double u) { return u > 0.0 ? 1.0 : (u < 0.0 ? -1.0 : u); }",
    "softplus": "static inline double sh_softplus(double u) { return u > 0.0 ? u + log1p(exp(-u)) : log1p(exp(u)); }",
    "lt": "static inline double sh_lt(double a, double b) { return a < b ? 1.0 : 0.0; }",
    "le": "static inline double sh_le(double a, double b) { return a <= b ? 1.0 : 0.0; }",
    "gt": "static inline double sh_gt(double a, double b) { return a > b ? 1.0 : 0.0; }",
    "ge": "static inline double sh_ge(double a, double b) { return a >= b ? 1.0 : 0.0; }",
    "eq": "static inline double sh_eq(double a, double b) { return a == b ? 1.0 : 0.0; }",
    "ne": "static inline double sh_ne(double a, double b) { return a != b ? 1.0 : 0.0; }",
    "maxof": "static inline double sh_maxof(int count, const double *u) {\n"
             "    double best = u[0];\n"
             "    for (int k = 1; k < count; ++k)\n"
             "        best = (u[k] != u[k] || best != best) ? NAN : (u[k] > best ? u[k] : best);\n"
             "    return best;\n}",
    "minof": "static inline double sh_minof(int count, const double *u) {\n"
             "    double best = u[0];\n"
             "    for (int k = 1; k < count; ++k)\n"
             "        best = (u[k] != u[k] || best != best) ? NAN : (u[k] < best ? u[k] : best);\n"
             "    return best;\n}",
    "logsumexp": "static inline double sh_logsumexp(int count, const double *u) {\n"
                 "    double top = sh_maxof(count, u), total = 0.0;\n"
                 "    if (!(fabs(top) < INFINITY)) return top;\n"
                 "    for (int k = 0; k < count; ++k) total += exp(u[k] - top);\n"
                 "    return top + log(total);\n}",
}
"""Three-address functions C lacks -> a ``static inline`` helper (``sh_<name>``), as :mod:`symhess.llvm` means them."""

HELPERS.update(special_helpers())

NEEDS = {"logsumexp": ("maxof",), "digamma": ("horner",), "polygamma": ("horner", "digamma"),
         "erfinv": ("inverse_erf",), "ndtri": ("inverse_erf",), "log_ndtr": ("erfcx",), "bessel_ie": ("horner",),
         "incomplete_gamma": ("horner", "gamma_log_factor"), "gammainc": ("incomplete_gamma",),
         "gammaincc": ("incomplete_gamma",)}
"""Helpers that call other helpers (which come before them in :data:`HELPERS`)."""

VARIADIC = {"maxof", "minof", "logsumexp"}
"""Helpers of any number of arguments: called with ``(count, (const double[]){...})``, on the stack."""

ATOMS = {"inf": "INFINITY", "-inf": "(-INFINITY)", "nan": "NAN"}

KERNELS = (("value", "value of the function", "out[1]"),
           ("gradient", "gradient", "out[n]"),
           ("hessian", "upper-triangle Hessian values in the order of hessian_structure", "out[nnz]"),
           ("hvp", "Hessian-vector product H(x) v", "out[n]"))
"""The exported kernels: name in the generated module, what they compute, what ``out`` holds."""


class CTranslator:
    """Translates one kernel's statements to the lines of a C function body.

    ``arrays`` renames the kernel's array arguments (``p`` becomes ``data``, the output ``out``);
    ``result`` is the C lvalue its return value goes to (None: dropped).
    """

    def __init__(self, arrays: dict, result: str | None):
        self.arrays, self.result = dict(arrays), result  # local arrays are added per kernel
        self.helpers: set[str] = set()
        self.accumulators: set[str] = set()
        self.ranges: dict[str, tuple[int, int]] = {}
        self.operations = 0  # as written
        self.executed = 0    # loop bodies counted once per iteration

    # ----- expressions ------------------------------------------------------------------
    def atom(self, text: str) -> str:
        if text in ATOMS:
            return ATOMS[text]
        if _NAME.match(text):
            return text
        float(text)  # a literal (Python's repr of a float is a C double literal); anything else raises
        return text

    def index(self, text: str) -> str:
        parts = []
        for term in index_terms(text):
            table = _TABLE.match(term)
            if table:
                parts.append(f"(long){self.arrays['c']}[{self.index(table.group(1))}]")
            elif _STRIDE.match(term):
                stride, variable = _STRIDE.match(term).groups()
                parts.append(variable if stride == "1" else term)
            elif re.fullmatch(r"-?\d+", term):
                parts.append(term)
            else:
                raise ValueError(f"symhess cannot translate this index to C: {text!r}")
        if len(parts) > 1 and parts[0] == "0":  # "0 + 1*m" reads "m"
            parts = parts[1:]
        return " + ".join(parts)

    def expression(self, text: str) -> tuple[str, int]:
        """The C expression and its number of floating-point operations."""
        load = _LOAD.match(text)
        if load and load.group(1) in self.arrays:
            return f"{self.arrays[load.group(1)]}[{self.index(load.group(2))}]", 0
        binary = _BINARY.match(text)
        if binary:
            left, op, right = binary.groups()
            return f"{self.atom(left)} {op} {self.atom(right)}", 1
        call = _CALL.match(text)
        if call:
            return self.call(call.group(1), [a.strip() for a in call.group(2).split(",")]), 1
        if text.startswith("-") and _NAME.match(text[1:]):
            return f"-{text[1:]}", 1
        return self.atom(text), 0

    def call(self, name: str, args: list[str]) -> str:
        values = ", ".join(self.atom(a) for a in args)
        if name in C_FUNCTIONS:
            return f"{C_FUNCTIONS[name]}({values})"
        if name not in HELPERS:
            raise ValueError(f"symhess has no C translation of the three-address function {name!r}; add it to "
                             "symhess.export_c.C_FUNCTIONS or HELPERS")
        self.helpers.add(name)
        for needed in NEEDS.get(name, ()):
            self.helpers.add(needed)
            self.helpers.update(NEEDS.get(needed, ()))
        if name in VARIADIC:
            return f"sh_{name}({len(args)}, (const double[]){{{values}}})"
        return f"sh_{name}({values})"

    # ----- statements ---------------------------------------------------------------------
    def _range(self, start, stop: int) -> tuple[int, int]:
        """The values a loop variable takes (from an enclosing variable: the lowest it starts at)."""
        if start is None or re.fullmatch(r"\d+", start):
            return int(start or 0), stop
        return self.ranges[start][0], stop

    def _entries(self, start, stop: int, repeats: int) -> int:
        """How many times a loop body runs, the loop being reached ``repeats`` times: ``range(k, stop)`` inside
        a loop over ``k`` runs stop - k times for each k."""
        if start is None or re.fullmatch(r"\d+", start):
            return repeats * max(stop - int(start or 0), 0)
        low, high = self.ranges[start]
        return repeats // max(high - low, 1) * sum(max(stop - k, 0) for k in range(low, high))

    def translate(self, statements: list[Statement]) -> list[str]:
        self.accumulators = _accumulators(statements)
        lines = [f"    double {name} = 0.0;" for name in sorted(self.accumulators)]
        return lines + self.block(statements, 1, set(), 1)

    def block(self, statements, depth: int, declared: set, repeats: int) -> list[str]:
        pad, lines = "    " * depth, []
        for statement in statements:
            if statement.kind == "loop":
                variable, start, stop = statement.parts
                self.ranges[variable] = self._range(start, int(stop))
                body = self.block(statement.body, depth + 1, set(), self._entries(start, int(stop), repeats))
                lines += [f"{pad}for (long {variable} = {start or 0}; {variable} < {stop}; ++{variable}) {{",
                          *body, f"{pad}}}"]
            elif statement.kind == "assign" and LOCAL_ARRAY.match(statement.parts[3]) and statement.parts[1] is None:
                target, size = statement.parts[0], LOCAL_ARRAY.match(statement.parts[3]).group(1)
                self.arrays[target] = target
                lines.append(f"{pad}double {target}[{size}];")
            elif statement.kind == "assign":
                target, index, op, text = statement.parts
                value, count = self.expression(text)
                self.operations += count + (op == "+=")
                self.executed += (count + (op == "+=")) * repeats
                if index is not None:
                    lines.append(f"{pad}{self.arrays[target]}[{self.index(index)}] {op} {value};")
                elif op == "+=" or target in declared or target in self.accumulators:
                    lines.append(f"{pad}{target} {op} {value};")
                else:
                    declared.add(target)
                    lines.append(f"{pad}double {target} = {value};")
            elif self.result is not None:
                lines.append(f"{pad}{self.result} = {self.atom(statement.parts[0])};")
        return lines


def _accumulators(statements) -> set:
    """Scalars summed with ``+=`` (across loop iterations): declared once, at the top of the function."""
    found = set()
    for statement in statements:
        if statement.kind == "loop":
            found |= _accumulators(statement.body)
        elif statement.kind == "assign" and statement.parts[1] is None and statement.parts[2] == "+=":
            found.add(statement.parts[0])
    return found


def pruned(statements, keep_return: bool) -> list[Statement]:
    """Without the assignments to scalars nothing reads (the hvp's value when only H v is exported)."""
    while True:
        read = _reads(statements, keep_return)
        result = _without_unread(statements, read, keep_return)
        if _count(result) == _count(statements):
            return result
        statements = result


def _reads(statements, keep_return: bool) -> set:
    names = set()
    for statement in statements:
        if statement.kind == "loop":
            names |= _reads(statement.body, keep_return) | {statement.parts[1]}
        elif statement.kind == "assign":
            _, index, _, text = statement.parts
            names |= set(re.findall(r"[A-Za-z_]\w*", f"{index or ''} {text}"))
        elif keep_return:
            names.add(statement.parts[0])
    return names


def _without_unread(statements, read: set, keep_return: bool) -> list[Statement]:
    kept = []
    for statement in statements:
        if statement.kind == "loop":
            body = _without_unread(statement.body, read, keep_return)
            if body:
                kept.append(Statement("loop", statement.parts, body))
        elif statement.kind == "assign" and statement.parts[1] is None and statement.parts[0] not in read:
            continue
        elif statement.kind != "return" or keep_return:
            kept.append(statement)
    return kept


def _count(statements) -> int:
    return sum(1 + (_count(s.body) if s.body else 0) for s in statements)


# ----- the files -----------------------------------------------------------------------------
def kernels(source: str) -> tuple[dict, np.ndarray]:
    """``{name: (arguments, code)}`` of a generated module's three-address kernels, and its constants."""
    return module_kernels(source)


def check_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or ""):
        raise ValueError(f"export name {name!r} is not a C identifier: use letters, digits and underscores, "
                         "not starting with a digit (e.g. name='rosenbrock')")
    return name


def c_functions(source: str, name: str) -> tuple[list[str], dict]:
    """The C definitions of the exported kernels of ``source`` and their operation counts."""
    codes, constants = kernels(source)
    missing = [kernel for kernel, *_ in KERNELS if kernel not in codes]
    if missing:
        raise ValueError(f"the generated module has no {', '.join(missing)} kernel to export")
    table = f"{name}_c"
    outputs = {"value": "g", "gradient": "g", "hessian": "h", "hvp": "hv"}
    signatures = {"value": "const double *x, const double *data, double *out",
                  "gradient": "const double *x, const double *data, double *out",
                  "hessian": "const double *x, const double *data, double *out",
                  "hvp": "const double *x, const double *data, const double *v, double *out"}
    bodies, counts, helpers, uses_table = [], {}, set(), False
    for kernel, meaning, shape in KERNELS:
        arguments, code = codes[kernel]
        arrays = {"x": "x", "p": "data", "c": table, "v": "v", outputs[kernel]: "out"}
        unknown = [a for a in arguments if a not in arrays]
        if unknown:
            raise ValueError(f"the {kernel} kernel takes arrays symhess.export_c does not know: {unknown}")
        translator = CTranslator(arrays, "out[0]" if kernel == "value" else None)
        lines = translator.translate(pruned(parse(code), keep_return=kernel == "value"))
        helpers |= translator.helpers
        uses_table = uses_table or any(f"{table}[" in line for line in lines)
        public = "hessian_values" if kernel == "hessian" else kernel
        counts[public] = (translator.operations, translator.executed)
        bodies.append("\n".join([
            f"/* {meaning}: {shape}; {translator.operations} operations as written, "
            f"{translator.executed} executed (loop bodies once per iteration) */",
            f"void {name}_{public}({signatures[kernel]})", "{", *lines, "}"]))
    preamble = [HELPERS[h] for h in HELPERS if h in helpers]  # in the table's order: maxof before logsumexp
    if uses_table:
        values = ", ".join(repr(float(v)) for v in constants)
        preamble.append(f"/* the constants of repeated terms, then their tables of positions (as doubles) */\n"
                        f"static const double {table}[{len(constants)}] = {{{values}}};")
    return preamble + bodies, counts


def _int_array(values) -> str:
    return "{" + ", ".join(str(int(v)) for v in values) + "}" if len(values) else "{0}"


def export_source(source: str, name: str, n: int, rows, cols, data: np.ndarray, layout_notes: list[str],
                  title: str) -> tuple[str, str]:
    """The text of ``name.h`` and ``name.c`` for the generated module ``source``."""
    check_name(name)
    functions, counts = c_functions(source, name)
    nnz, np_ = len(rows), len(data)
    notes = "\n".join(f" * {line}" if line else " *" for line in layout_notes)
    header = f"""/* {name}.h: {title}
 * Generated by symhess {__version__} (standalone C: only math.h, no allocation; every function is reentrant).
 *
{notes}
 *
 * Operations (as written / executed):
{chr(10).join(f" *   {name}_{k}: {a} / {b}" for k, (a, b) in counts.items())}
 */
#ifndef {name.upper()}_H
#define {name.upper()}_H

#ifdef __cplusplus
extern "C" {{
#endif

int  {name}_n(void);     /* differentiated variables: x has n = {n} doubles */
int  {name}_np(void);    /* runtime data values, flattened: data has np = {np_} doubles */
int  {name}_nnz(void);   /* structural non-zeros of the Hessian's upper triangle: {nnz} */
void {name}_data_defaults(double *data);                                        /* data[np]: the values compiled with */
void {name}_value(const double *x, const double *data, double *out);            /* out[1] */
void {name}_gradient(const double *x, const double *data, double *out);         /* out[n] */
void {name}_hessian_structure(int *rows, int *cols);                            /* nnz each, row <= col */
void {name}_hessian_values(const double *x, const double *data, double *out);   /* out[nnz], that order */
void {name}_hvp(const double *x, const double *data, const double *v, double *out);  /* out[n] = H(x) v */

#ifdef __cplusplus
}}
#endif

#endif
"""
    defaults = ", ".join(repr(float(v)) for v in data) if np_ else "0.0"
    body = "\n\n".join([
        f"/* {name}.c: {title}\n * Generated by symhess {__version__}; see {name}.h for the layout of every argument. */",
        f'#include <math.h>\n\n#include "{name}.h"',
        f"int {name}_n(void) {{ return {n}; }}\nint {name}_np(void) {{ return {np_}; }}\n"
        f"int {name}_nnz(void) {{ return {nnz}; }}",
        f"static const int {name}_rows[{max(nnz, 1)}] = {_int_array(rows)};\n"
        f"static const int {name}_cols[{max(nnz, 1)}] = {_int_array(cols)};\n"
        f"static const double {name}_data[{max(np_, 1)}] = {{{defaults}}};",
        f"void {name}_hessian_structure(int *rows, int *cols)\n{{\n"
        f"    for (int k = 0; k < {nnz}; ++k) {{ rows[k] = {name}_rows[k]; cols[k] = {name}_cols[k]; }}\n}}",
        f"void {name}_data_defaults(double *data)\n{{\n"
        f"    for (int k = 0; k < {np_}; ++k) data[k] = {name}_data[k];\n}}",
        *functions])
    return header, body + "\n"


def layout_notes(compiled) -> list[str]:
    """Where each input and datum sits in ``x`` and ``data``, for the header."""
    specs, wrt = compiled._specs, compiled.wrt
    lines, at = ["x (n doubles): the differentiated inputs, each flattened in C order, one after the other:"], 0
    for i in wrt:
        spec = specs[i]
        lines.append(f"  x[{at}:{at + spec.size}]  {spec.name}, shape {spec.shape}")
        at += spec.size
    lines.append("data (np doubles): the other inputs, then the arrays the function read (its data), flattened:")
    at = 0
    for i in compiled._params:
        spec = specs[i]
        lines.append(f"  data[{at}:{at + spec.size}]  {spec.name}, shape {spec.shape}")
        at += spec.size
    for datum in compiled._trace.data:
        lines.append(f"  data[{at}:{at + datum.value.size}]  {datum.name} (read by the function), shape "
                     f"{datum.value.shape}")
        at += datum.value.size
    if not at:
        lines.append("  none: pass any pointer (NULL is fine)")
    lines += ["", "Hessian values: the upper triangle's structural non-zeros, entry k at (rows[k], cols[k]) with",
              "rows[k] <= cols[k] (indices into x): a symmetric matrix stores each off-diagonal value once."]
    return lines


def export(compiled, directory, name: str = "f") -> tuple[Path, Path]:
    """Write ``name.h`` and ``name.c`` for ``compiled`` into ``directory`` (made if missing); their paths."""
    layout = compiled._built.layout
    params = [np.zeros(compiled._specs[i].size) for i in compiled._params]
    data = compiled._with_data(np.concatenate(params) if params else np.zeros(0))
    title = f"value, gradient, Hessian and Hessian-vector product of {_described(compiled)}"
    header, body = export_source(compiled.source, name, layout.n, layout.rows, layout.cols, data,
                                 layout_notes(compiled), title)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    h, c = directory / f"{name}.h", directory / f"{name}.c"
    h.write_text(header, encoding="utf-8")
    c.write_text(body, encoding="utf-8")
    return h, c


def _described(compiled) -> str:
    shapes = ", ".join(f"{s.name}{list(s.shape)}" for s in compiled._specs)
    return f"f({shapes})"
