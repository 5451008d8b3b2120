"""Elementwise operations on scalar SymEngine expressions: one table, one line each.

Every NumPy ufunc, tensor method and ``torch.*`` function that acts elementwise is
translated through :data:`ELEMENTWISE`.  Non-smooth operations follow PyTorch's
derivative conventions at their kinks.
"""

from __future__ import annotations

import numbers

import symengine as se
import sympy as sp
from symengine.lib.symengine_wrapper import PyFunction, sympy_module
from sympy.core.add import _addsort
from sympy.core.mul import _mulsort

from .. import special
from ..lru import LRU
from . import primitives as P  # noqa: N812 - one letter keeps the table lines short
from .errors import trace_error


def constant(value):
    """A Python/NumPy number as a SymEngine number (integral floats become integers)."""
    if isinstance(value, se.Basic):
        return value
    if isinstance(value, (bool, numbers.Integral)):
        return se.Integer(int(value))
    value = float(value)
    if value.is_integer() and abs(value) < 2**53:
        return se.Integer(int(value))
    return se.RealDouble(value)


def apply(primitive, *args):
    """Build ``primitive(*args)`` from SymEngine arguments (folding numbers).

    The primitive's own ``eval`` folds what it can, on the SymEngine arguments; otherwise
    SymEngine holds the call, and the SymPy object it stands for is built only when somebody
    asks for it (``f.expression``): building it at every call cost SymPy's assumption system
    most of the trace of a sum over data rows (27 of 30 s for logistic regression, 500 x 40).
    """
    arguments = [constant(a) for a in args]
    folded = primitive.eval(*arguments)
    if folded is not None:
        return se.sympify(folded)
    return PyFunction(LazyCall(primitive, arguments), arguments, primitive, sympy_module)


class LazyCall:
    """What SymEngine keeps for a primitive call: its stable hash, and the SymPy object on demand."""

    __slots__ = ("arguments", "hash", "made", "primitive")

    def __init__(self, primitive, arguments):
        self.primitive, self.arguments = primitive, arguments
        self.hash, self.made = P.stable_hash(primitive, arguments), None

    def __hash__(self):
        return self.hash

    def __eq__(self, other):
        return isinstance(other, LazyCall) and self.primitive is other.primitive and self.arguments == other.arguments

    def _sympy_(self):
        if self.made is None:
            self.made = self.primitive(*(to_sympy(a) for a in self.arguments))
            self.made.__dict__["_stable_hash"] = self.hash
        return self.made


def to_sympy(expr):
    """A SymPy copy of a SymEngine expression, reusing one SymPy symbol per placeholder.

    (Building SymPy symbols dominated the tracing of sums over many data rows.)
    """
    if isinstance(expr, (se.Add, se.Mul)):  # SymEngine's terms are already combined: only SymPy's order is missing
        args = [to_sympy(a) for a in expr.args]
        if isinstance(expr, se.Add):
            _addsort(args)
            return sp.Add._from_args(args)
        _mulsort(args)
        return sp.Mul._from_args(args)
    if isinstance(expr, se.Pow):
        return sp.Pow(*(to_sympy(a) for a in expr.args))
    if isinstance(expr, se.Symbol):
        symbol = _SYMPY_SYMBOLS.get(expr)
        if symbol is None:
            symbol = _SYMPY_SYMBOLS[expr] = sp.Symbol(expr.name)
        return symbol
    return sp.sympify(expr)


_SYMPY_SYMBOLS: dict = LRU(1 << 16)


# ----- comparisons and logic: conditions are 0/1 expressions -----------------

def compare(op: str, a, b):
    return apply(P.Compare, P.COMPARISONS.index(op), a, b)


def truth(a):
    """NumPy's truth value as 0/1: any non-zero number is true (conditions already are 0/1)."""
    a = constant(a)
    if type(a).__name__ == "PyFunction" and a.get_name() == "Compare":
        return a
    return compare("!=", a, 0)


def logical_and(a, b):
    return truth(a) * truth(b)


def logical_or(a, b):
    a, b = truth(a), truth(b)
    return a + b - a * b


def logical_not(a):
    return 1 - truth(a)


def where(cond, a, b):
    return apply(P.Select, cond, a, b)


# ----- PyTorch's autograd graph: detach, requires_grad_() ----------------------

def _is(expr, name: str) -> bool:
    return type(expr).__name__ == "PyFunction" and expr.get_name() == name


def detach(u):
    """``StopGradient(u)``, once: detaching undoes a ``requires_grad_()`` mark."""
    u = constant(u)
    while _is(u, "StopGradient"):
        u = u.args[0]
    return apply(P.StopGradient, u)


def mark_requires_grad(u):
    """``requires_grad_()`` on a value cut from the inputs: a leaf that requires grad.

    Marked ``StopGradient(StopGradient(u))``: the same value and derivative as ``detach``,
    which never nests, so strict mode can tell it apart (PyTorch's messages differ).
    """
    return apply(P.StopGradient, detach(u))


def graph_inputs(expressions) -> tuple[set, bool]:
    """What PyTorch's autograd graph of these values reaches: input symbols, and whether a
    ``requires_grad_()`` leaf; not through ``detach`` or comparisons (boolean, no graph)."""
    symbols, marked = set(), False
    stack, seen = [constant(e) for e in expressions], set()
    while stack:
        expr = stack.pop()
        if expr in seen:
            continue
        seen.add(expr)
        if expr.is_Symbol:
            symbols.add(expr)
        elif _is(expr, "StopGradient"):
            marked = marked or _is(expr.args[0], "StopGradient")
        elif not _is(expr, "Compare"):
            stack.extend(expr.args[1:] if _is(expr, "Select") else expr.args)
    return symbols, marked


# ----- non-smooth functions (PyTorch's derivative at the kink) ----------------

def relu(u):
    return where(compare(">", u, 0), u, 0)


def maximum(a, b):
    """Gradient 1 to the larger argument, 1/2 to each on a tie (PyTorch)."""
    return apply(P.MaxOf, a, b)


def minimum(a, b):
    return apply(P.MinOf, a, b)


def clamp(u, low=None, high=None):
    """``clamp``: gradient 1 where ``low <= u <= high`` (inclusive, as PyTorch)."""
    result = u
    if high is not None:
        result = where(compare(">", u, high), high, result)
    if low is not None:
        result = where(compare("<", u, low), low, result)
    return result


def power(a, b):
    a, b = constant(a), constant(b)
    if a.is_Number and a < 0 and b.free_symbols:
        raise trace_error(f"a negative constant ({a}) raised to a traced power: not real for most "
                          "exponents, and its derivative in the exponent (log of a negative number) never",
                          "raise abs(base) to the power and apply the sign separately, if that is meant")
    return a**b


def xlogy(a, b):
    """``a * log(b)``, 0 where ``a == 0`` (PyTorch, scipy.special.xlogy)."""
    a, b = constant(a), constant(b)
    if a == 0:
        return se.Integer(0)
    return where(compare("==", a, 0), 0, a * se.log(where(compare("==", a, 0), 1, b)))


def xlog1py(a, b):
    a, b = constant(a), constant(b)
    if a == 0:
        return se.Integer(0)
    return where(compare("==", a, 0), 0, a * apply(P.Log1p, where(compare("==", a, 0), 0, b)))


def nan_unless(condition):
    """0 where ``condition`` holds, NaN elsewhere, with derivative zero: for functions that PyTorch and
    SciPy refuse outside a domain, which a compiled function cannot do at evaluation.

    Written ``log1p(select(condition, 0, -2))`` because a NaN constant would not equal itself, and
    traced expressions are compared."""
    return apply(P.Log1p, where(condition, 0, -2))


def polygamma(n, u):
    """``psi^(n)(u)`` for a constant integer order ``n >= 0`` (0: digamma)."""
    n = constant(n)
    if n.free_symbols or not n.is_Integer or n < 0:
        what = "a traced order" if n.free_symbols else f"the order n={n}"
        raise trace_error(f"polygamma with {what}: symhess differentiates polygamma(n, x) in x for a constant "
                          "integer n >= 0 only", "pass n as a Python integer")
    return apply(P.Digamma, u) if n == 0 else apply(P.Polygamma, n, u)


def bessel_ie(n, u):
    """``exp(-|u|) I_n(u)`` for a constant integer order ``0 <= n <= 6`` (derivatives reach ``n + 2``)."""
    n = constant(n)
    if n.free_symbols or not n.is_Integer or not 0 <= n <= BESSEL_TRACED_ORDER:
        what = "a traced order" if n.free_symbols else f"the order {n}"
        raise trace_error(f"a modified Bessel function with {what}: symhess traces integer orders 0 to "
                          f"{BESSEL_TRACED_ORDER} (i0, i0e, i1, i1e, scipy.special.iv/ive with such an order)",
                          "pass the order as a Python integer in that range")
    return apply(P.BesselIe, n, u)


BESSEL_TRACED_ORDER = 6
"""Highest Bessel order traced: its Hessian needs two orders more (symhess.special's limit is 8)."""


def incomplete_gamma(primitive, a, x):
    """``gammainc``/``gammaincc(a, x)`` for a constant ``0 < a <= 1000`` (derivatives in ``x`` only)."""
    a, name = constant(a), primitive.code
    if a.free_symbols:
        raise trace_error(f"{name}(a, x) with a traced a: its derivatives in a are not elementary functions (they "
                          "need hypergeometric or Meijer G functions), and symhess differentiates it in x only",
                          "pass a as constant data (a number, or an array the function reads that is not computed "
                          "from the differentiated inputs)")
    if not 0 < float(a) <= special.GAMMAINC_MAX_A:
        raise trace_error(f"{name}(a, x) with a = {a}: symhess computes it for 0 < a <= {special.GAMMAINC_MAX_A:g}",
                          "pass a in that range (SciPy gives NaN for a < 0, and 1 or 0 for a = 0)")
    return apply(primitive, a, x)


def sigmoid(u):
    return 1 / (1 + se.exp(-constant(u)))


def hypot(a, b):
    return se.sqrt(constant(a) ** 2 + constant(b) ** 2)


def divide(a, b):
    """``a / b``; a divisor that is exactly zero has no derivatives worth compiling: say so."""
    b = constant(b)
    if b == 0:
        raise trace_error("division by a value that is exactly zero (symbolically: "
                          f"{b} after simplification)",
                          "check the formula; if it may divide by zero at some inputs, guard it "
                          "with np.where / torch.where on a non-zero denominator")
    return constant(a) / b


def remainder(a, b):
    """``a - floor(a / b) * b`` (Python's ``%``, NumPy's and PyTorch's remainder: the divisor's sign)."""
    a, b = constant(a), constant(b)
    return a - apply(P.Floor, divide(a, b)) * b


def fmod(a, b):
    """``a - trunc(a / b) * b`` (C's fmod: the dividend's sign)."""
    a, b = constant(a), constant(b)
    quotient = divide(a, b)
    return a - where(compare(">=", quotient, 0), apply(P.Floor, quotient), apply(P.Ceil, quotient)) * b


def logaddexp(a, b):
    """``log(e^a + e^b)``; with one side 0 it is softplus, whose derivatives need one exp, not three."""
    a, b = constant(a), constant(b)
    if a == 0 or b == 0:
        return apply(P.Softplus, b if a == 0 else a)
    return apply(P.LogSumExp, a, b)


ELEMENTWISE = {
    # arithmetic
    "add": lambda a, b: constant(a) + b,
    "subtract": lambda a, b: constant(a) - b,
    "multiply": lambda a, b: constant(a) * b,
    "divide": lambda a, b: divide(a, b),
    "remainder": remainder,
    "fmod": fmod,
    "power": power,
    "negative": lambda u: -constant(u),
    "positive": lambda u: constant(u),
    "reciprocal": lambda u: 1 / constant(u),
    "square": lambda u: constant(u) ** 2,
    # exponentials and logarithms
    "exp": lambda u: se.exp(constant(u)),
    "exp2": lambda u: 2 ** constant(u),
    "expm1": lambda u: apply(P.Expm1, u),
    "log": lambda u: se.log(constant(u)),
    "log2": lambda u: se.log(constant(u)) / se.log(2),
    "log10": lambda u: se.log(constant(u)) / se.log(10),
    "log1p": lambda u: apply(P.Log1p, u),
    "logaddexp": logaddexp,
    "logaddexp2": lambda a, b: logaddexp(constant(a) * float(se.log(2)), constant(b) * float(se.log(2))) / se.log(2),
    "sqrt": lambda u: se.sqrt(constant(u)),
    "rsqrt": lambda u: 1 / se.sqrt(constant(u)),
    "cbrt": lambda u: apply(P.Cbrt, u),
    # trigonometric and hyperbolic
    "sin": lambda u: se.sin(constant(u)),
    "cos": lambda u: se.cos(constant(u)),
    "tan": lambda u: se.tan(constant(u)),
    "arcsin": lambda u: se.asin(constant(u)),
    "arccos": lambda u: se.acos(constant(u)),
    "arctan": lambda u: se.atan(constant(u)),
    "arctan2": lambda a, b: se.atan2(constant(a), constant(b)),
    "hypot": hypot,
    "sinh": lambda u: se.sinh(constant(u)),
    "cosh": lambda u: se.cosh(constant(u)),
    "tanh": lambda u: se.tanh(constant(u)),
    "arcsinh": lambda u: se.asinh(constant(u)),
    "arccosh": lambda u: se.acosh(constant(u)),
    "arctanh": lambda u: se.atanh(constant(u)),
    "deg2rad": lambda u: constant(u) * (se.pi / 180),
    "rad2deg": lambda u: constant(u) * (180 / se.pi),
    # neural-network activations
    "sigmoid": sigmoid,
    "relu": relu,
    "softplus": lambda u: apply(P.Softplus, u),
    "erf": lambda u: se.erf(constant(u)),
    "xlogy": xlogy,
    "xlog1py": xlog1py,
    # special functions (values: symhess.special, the compiled code's own steps)
    "erfc": lambda u: apply(P.Erfc, u),
    "erfcx": lambda u: apply(P.Erfcx, u),
    "erfinv": lambda u: apply(P.Erfinv, u),
    "ndtri": lambda u: apply(P.Ndtri, u),
    "log_ndtr": lambda u: apply(P.LogNdtr, u),
    "lgamma": lambda u: apply(P.Lgamma, u),
    "digamma": lambda u: apply(P.Digamma, u),
    "polygamma": polygamma,
    "gammainc": lambda a, x: incomplete_gamma(P.Gammainc, a, x),
    "gammaincc": lambda a, x: incomplete_gamma(P.Gammaincc, a, x),
    "bessel_ie": bessel_ie,
    "i0": lambda u: se.exp(apply(P.Abs, u)) * bessel_ie(0, u),
    "i0e": lambda u: bessel_ie(0, u),
    "i1": lambda u: se.exp(apply(P.Abs, u)) * bessel_ie(1, u),
    "i1e": lambda u: bessel_ie(1, u),
    # non-smooth
    "abs": lambda u: apply(P.Abs, u),
    "sign": lambda u: apply(P.Sign, u),
    "maximum": maximum,
    "minimum": minimum,
    "clamp": lambda u, low, high: clamp(u, low, high),
    "clamp_min": lambda u, low: clamp(u, low, None),
    "clamp_max": lambda u, high: clamp(u, None, high),
    "floor": lambda u: apply(P.Floor, u),
    "ceil": lambda u: apply(P.Ceil, u),
    "round": lambda u: apply(P.Round, u),
    "trunc": lambda u: where(compare(">=", u, 0), apply(P.Floor, u), apply(P.Ceil, u)),
    "detach": detach,
    # conditions
    "less": lambda a, b: compare("<", a, b),
    "less_equal": lambda a, b: compare("<=", a, b),
    "greater": lambda a, b: compare(">", a, b),
    "greater_equal": lambda a, b: compare(">=", a, b),
    "equal": lambda a, b: compare("==", a, b),
    "not_equal": lambda a, b: compare("!=", a, b),
    "logical_and": logical_and,
    "logical_or": logical_or,
    "logical_not": logical_not,
    "where": where,
    "nan_unless": nan_unless,
}

"""Scalar function of each elementwise operation.  An entry's name is the library's name of the function:
NumPy's ufunc of that name, scipy.special's, ``torch.<name>``, ``torch.special.<name>`` and the tensor method
``x.<name>(...)`` (with ``x`` as the first operand) all mean it, and reach it without another table
(:data:`METHODS`; ``tests/tracing/test_registration.py`` checks their values against each library)."""

ARITY = {name: fn.__code__.co_argcount for name, fn in ELEMENTWISE.items()}

NOT_METHODS = frozenset({"where", "equal", "bessel_ie", "nan_unless"})
"""Entries that are no tensor method with the tensor first: PyTorch's ``x.where(condition, other)`` (written by hand)
and ``torch.equal(x, other)`` (one bool for the whole tensor) mean other things, and the others are symhess's own."""

METHODS = tuple(name for name in ELEMENTWISE if name not in NOT_METHODS)
"""Entries that are also the tensor method of that name (:mod:`.tensor` makes those it does not write by hand),
its in-place form ``x.<name>_()``, and the torch functions of that name (:mod:`.torch_api`)."""

ALIASES = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2", "asinh": "arcsinh",
           "acosh": "arccosh", "atanh": "arctanh", "absolute": "abs", "negative": "neg", "multiply": "mul",
           "subtract": "sub", "divide": "div", "true_divide": "div", "clip": "clamp", "fix": "trunc", "sgn": "sign",
           "igamma": "gammainc", "igammac": "gammaincc"}
"""PyTorch's other names of tensor methods (:mod:`.tensor` sets them), which the torch functions of those names
reach too (sgn: for real numbers)."""
