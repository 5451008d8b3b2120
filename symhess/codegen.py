"""Stage 4, generate code: deterministic Python/Numba source for every evaluator.

A :class:`NumbaPrinter` prints SymEngine expressions, one ``_print_<Class>``
method per construct and one table of functions; every kernel is common
subexpression eliminated before printing.  The module is plain source text so
that it can be written to a file, imported and cached by Numba.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import symengine as se

from . import __version__
from .differentiate import Derivatives

FUNCTIONS = {
    "sin": "math.sin", "cos": "math.cos", "tan": "math.tan", "asin": "math.asin",
    "acos": "math.acos", "atan": "math.atan", "atan2": "math.atan2", "sinh": "math.sinh",
    "cosh": "math.cosh", "tanh": "math.tanh", "asinh": "math.asinh", "acosh": "math.acosh",
    "atanh": "math.atanh", "log": "math.log", "erf": "math.erf", "Abs": "abs",
    "floor": "math.floor", "ceiling": "math.ceil", "sign": "_sign",
}
"""SymEngine function name -> Numba-callable name."""

PRIMITIVES = {
    "StopGradient": "{0}", "Select": "({1} if {0} != 0.0 else {2})", "Sign": "_sign({0})",
    "Abs": "abs({0})", "Log1p": "math.log1p({0})", "Expm1": "math.expm1({0})",
    "Cbrt": "_cbrt({0})", "Softplus": "_softplus({0})", "Floor": "math.floor({0})",
    "Ceil": "math.ceil({0})", "Round": "_round({0})",
}
"""symhess primitive -> source template; n-ary and comparison ones are methods below."""

COMPARE_OPS = ("<", "<=", ">", ">=", "==", "!=")


class NumbaPrinter:
    """Prints one SymEngine expression as a Numba-compatible Python expression."""

    def __init__(self, names: dict):
        self.names = names  # Symbol -> source name (array reads and temporaries)

    def doprint(self, expr) -> str:
        method = getattr(self, "_print_" + type(expr).__name__, None)
        if method is None:
            if expr.is_Integer:
                return self._print_Integer(expr)
            if expr.is_Rational:
                return self._print_Rational(expr)
            if expr.is_Function:
                return self._print_function(expr)
            raise NotImplementedError(f"symhess cannot generate code for {type(expr).__name__}: {expr}")
        return method(expr)

    def _print_Symbol(self, expr):
        return self.names[expr]

    _print_Dummy = _print_Symbol

    def _print_Integer(self, expr):
        return f"{float(int(expr))!r}"

    def _print_Rational(self, expr):
        p, q = expr.get_num_den()
        return f"({float(int(p))!r} / {float(int(q))!r})"

    def _print_RealDouble(self, expr):
        value = float(expr)
        return repr(value) if value == value and abs(value) != float("inf") else f"float('{value}')"

    def _print_Exp1(self, expr):
        return "math.e"

    def _print_Pi(self, expr):
        return "math.pi"

    def _print_Infty(self, expr):
        return "math.inf" if float(expr) > 0 else "(-math.inf)"

    def _print_NaN(self, expr):
        return "math.nan"

    def _print_Add(self, expr):
        parts = []
        for term in expr.args:
            text = self.doprint(term)
            if parts and text.startswith("-"):
                parts.append(f"- {text[1:]}")
            else:
                parts.append(f"+ {text}" if parts else text)
        return "(" + " ".join(parts) + ")"

    def _print_Mul(self, expr):
        numerator, denominator = [], []
        for factor in expr.args:
            if factor.is_Pow and factor.args[1].is_Number and float(factor.args[1]) < 0:
                base, exponent = factor.args
                denominator.append(self._print_Pow(se.Pow(base, -exponent), bare=True)
                                   if exponent != -1 else self._atom(base))
            else:
                numerator.append(factor)
        sign = ""
        if numerator and numerator[0] == -1:
            sign, numerator = "-", numerator[1:]
        text = " * ".join(self._atom(f) for f in numerator) or "1.0"
        if denominator:
            text += " / " + (denominator[0] if len(denominator) == 1 else
                             "(" + " * ".join(denominator) + ")")
        return f"({sign}{text})" if sign else text

    def _atom(self, expr):
        text = self.doprint(expr)
        plain = expr.is_Symbol or expr.is_Function or text.startswith("(") or (
            expr.is_Number and not text.startswith("-") and "/" not in text)
        return text if plain else f"({text})"

    def _print_Pow(self, expr, bare=False):
        base, exponent = expr.args
        if base == se.E:
            return f"math.exp({self.doprint(exponent)})"
        b = self._atom(base)
        if exponent.is_Integer:
            n = int(exponent)
            if 0 < n <= 4:
                return "(" + " * ".join([b] * n) + ")"
            if -4 <= n < 0:
                return f"(1.0 / (" + " * ".join([b] * -n) + "))"
            return f"({b} ** {float(n)!r})"
        if exponent == se.Rational(1, 2):
            return f"math.sqrt({self.doprint(base)})"
        if exponent == se.Rational(-1, 2):
            return f"(1.0 / math.sqrt({self.doprint(base)}))"
        return f"({b} ** {self._atom(exponent)})"

    def _print_function(self, expr):
        name = expr.get_name() if hasattr(expr, "get_name") else type(expr).__name__
        args = [self.doprint(a) for a in expr.args]
        if type(expr).__name__ == "PyFunction":
            return self._print_primitive(name, expr, args)
        target = FUNCTIONS.get(type(expr).__name__) or FUNCTIONS.get(name)
        if target is None:
            raise NotImplementedError(f"symhess has no code for the function {name}")
        return f"{target}({', '.join(args)})"

    def _print_primitive(self, name, expr, args):
        if name == "Compare":
            op = COMPARE_OPS[int(float(expr.args[0]))]
            return f"(1.0 if {args[1]} {op} {args[2]} else 0.0)"
        if name in ("MaxOf", "MinOf", "LogSumExp"):
            helper = {"MaxOf": "_maxof", "MinOf": "_minof", "LogSumExp": "_logsumexp"}[name]
            return f"{helper}(({', '.join(args)},))"
        template = PRIMITIVES.get(name)
        if template is None:
            raise NotImplementedError(f"symhess has no code for the primitive {name}")
        return template.format(*args)


@dataclass(frozen=True)
class Kernel:
    """One generated function: its name, arguments, and what it writes and returns."""

    name: str
    arguments: tuple[str, ...]
    outputs: tuple[tuple[str, object], ...]  # (target like "g[3]", expression)
    returns: object                           # expression returned (the value)


def kernels(derivs: Derivatives) -> tuple[Kernel, ...]:
    """The four evaluators every compiled function has."""
    grad = tuple((f"g[{k}]", e) for k, e in enumerate(derivs.gradient))
    hess = tuple((f"h[{k}]", e) for k, e in enumerate(derivs.hessian.values()))
    hvp = tuple((f"hv[{k}]", e) for k, e in enumerate(derivs.hvp))
    return (
        Kernel("value", ("x", "p"), (), derivs.value),
        Kernel("gradient", ("x", "p", "g"), grad, derivs.value),
        Kernel("hessian", ("x", "p", "g", "h"), grad + hess, derivs.value),
        Kernel("hvp", ("x", "p", "v", "hv"), hvp, derivs.value),
    )


def symbol_names(derivs: Derivatives) -> dict:
    names = {s: f"x[{k}]" for k, s in enumerate(derivs.variables)}
    names.update({s: f"p[{k}]" for k, s in enumerate(derivs.parameters)})
    names.update({s: f"v[{k}]" for k, s in enumerate(derivs.direction)})
    return names


def kernel_source(kernel: Kernel, names: dict) -> list[str]:
    """Lines of one kernel: CSE temporaries, output stores, the returned value."""
    expressions = [kernel.returns] + [e for _, e in kernel.outputs]
    replacements, reduced = se.cse(expressions)
    local = dict(names)
    printer = NumbaPrinter(local)
    body = []
    for k, (temp, expr) in enumerate(replacements):
        text = printer.doprint(expr)
        local[temp] = f"t{k}"
        body.append(f"    t{k} = {text}")
    for (target, _), expr in zip(kernel.outputs, reduced[1:]):
        body.append(f"    {target} = {printer.doprint(expr)}")
    body.append(f"    return {printer.doprint(reduced[0])}")
    signature = "float64(" + ", ".join("float64[::1]" for _ in kernel.arguments) + ")"
    return [f'@numba.njit("{signature}", **_JIT)',
            f"def {kernel.name}({', '.join(kernel.arguments)}):", *body, ""]


BATCHED = '''
@numba.njit(parallel=True, **_BATCH)
def {name}_batch(X, P, {outs}, values):
    for b in numba.prange(X.shape[0]):
        values[b] = {name}(X[b], P[b], {rows})
'''


def header(n: int, nnz: int) -> list[str]:
    return [
        f"# Generated by symhess {__version__}. Do not edit: regenerated from the trace.",
        "import math",
        "",
        "import numba",
        "import numpy as np",
        "",
        "from symhess.runtime import _cbrt, _logsumexp, _maxof, _minof, _round, _sign, _softplus",
        "",
        '_JIT = dict(cache=True, nogil=True, error_model="numpy")',
        '_BATCH = dict(cache=True, nogil=True, error_model="numpy")',
        f"N = {n}",
        f"NNZ = {nnz}",
        "",
    ]


def generate(derivs: Derivatives) -> str:
    """The complete module source for ``derivs``."""
    names = symbol_names(derivs)
    lines = header(len(derivs.variables), len(derivs.hessian))
    for kernel in kernels(derivs):
        lines += kernel_source(kernel, names)
    for name, outs in (("value", ()), ("gradient", ("G",)), ("hessian", ("G", "H")),
                       ("hvp", ("V", "HV"))):
        out_args = ", ".join(outs) if outs else "_"
        rows = ", ".join(f"{o}[b]" for o in outs)
        call = BATCHED.format(name=name, outs=out_args, rows=rows)
        if not outs:
            call = call.replace("X[b], P[b], )", "X[b], P[b])")
        lines += call.strip("\n").split("\n") + [""]
    return "\n".join(lines) + "\n"


def generate_jacobian(outputs, variables, parameters, entries: dict) -> str:
    """A module with ``jacobian(x, p, y, j)``: output values and sparse Jacobian values."""
    names = {s: f"x[{k}]" for k, s in enumerate(variables)}
    names.update({s: f"p[{k}]" for k, s in enumerate(parameters)})
    stores = tuple((f"y[{k}]", e) for k, e in enumerate(outputs)) + tuple(
        (f"j[{k}]", e) for k, e in enumerate(entries.values()))
    kernel = Kernel("jacobian", ("x", "p", "y", "j"), stores, se.Integer(0))
    lines = header(len(variables), len(entries)) + kernel_source(kernel, names)
    return "\n".join(lines) + "\n"


def source_key(source: str) -> str:
    """Content hash of generated source: the name of its cache file."""
    return hashlib.sha256(source.encode()).hexdigest()[:24]
