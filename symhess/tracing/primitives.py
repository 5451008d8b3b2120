"""Symbolic functions SymPy/SymEngine lack, each with its derivative (``fdiff``) and its code.

They follow PyTorch's conventions at kinks (``relu'(0) = 0``, ``abs'(0) = 0``,
``maximum`` splits the gradient evenly on a tie).  They are SymPy ``Function``
subclasses; SymEngine holds a call of one as a ``PyFunction`` (:func:`.elementwise.apply`)
without calling SymPy.  They are differentiated by :func:`symhess.differentiate.derivative_of`,
not by SymEngine: each call becomes a stand-in symbol, and the chain rule takes the
primitive's partial derivative from a template made once per class from ``fdiff`` (in
SymEngine).  The code generator prints a call as the three-address function ``code``
(:mod:`symhess.llvm` defines the language); ``c_library`` says that this function is the
C math library's of that name, which the LLVM tiers, the C export and the plain-Python
meaning then call (else each backend defines it: ``llvm.Emitter._call_<code>``,
``export_c.HELPERS[code]``, ``symhess.special.<code>``).  Every subclass registers itself
in :data:`ALL`.
"""

from __future__ import annotations

import math
import zlib

import symengine as se
import sympy as sp
from sympy.core.function import FunctionClass

from .. import special


class _PrimitiveClass(FunctionClass):
    """Orders primitive classes by name: SymEngine sorts terms with ``<`` on classes."""

    def __lt__(cls, other):  # noqa: N805 - a metaclass: the instance is a class
        return cls.__name__ < getattr(other, "__name__", str(other))

    def __gt__(cls, other):  # noqa: N805
        return cls.__name__ > getattr(other, "__name__", str(other))

    def __hash__(cls):  # noqa: N805
        return zlib.crc32(cls.__name__.encode())


def stable_hash(cls, arguments) -> int:
    """A primitive call's hash from its SymEngine arguments, the same in every process."""
    return zlib.crc32((cls.__name__ + "|" + "|".join(str(a) for a in arguments)).encode())


ALL: list = []
"""Every primitive class, in the order they are defined (each registers itself)."""


class Primitive(sp.Function, metaclass=_PrimitiveClass):
    """A symhess function: derivative by ``fdiff``, value by ``evaluate``, code by ``code``."""

    code: str = ""            # the three-address function a call prints as ("": printed by codegen itself)
    c_library: bool = False   # ``code`` is the C math library's function of that name

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        ALL.append(cls)

    @classmethod
    def evaluate(cls, *values: float) -> float:
        """The value at numbers: :mod:`symhess.special`'s function named ``code`` (what the compiled code computes),
        where a class does not say otherwise."""
        return getattr(special, cls.code)(*values)

    @classmethod
    def eval(cls, *args):
        if all(a.is_Number for a in args):
            return sp.Float(cls.evaluate(*(float(a) for a in args)))
        return None

    def __hash__(self):
        # SymPy's hash depends on PYTHONHASHSEED; SymEngine orders terms by it, so
        # a stable hash keeps the generated source identical across processes.
        cached = self.__dict__.get("_stable_hash")
        if cached is None:
            cached = self.__dict__["_stable_hash"] = stable_hash(type(self), [se.sympify(a) for a in self.args])
        return cached

    def _latex(self, printer):
        args = ", ".join(printer._print(a) for a in self.args)
        return rf"\operatorname{{{self.latex_name}}}\left({args}\right)"

    latex_name = "f"


class StopGradient(Primitive):
    """``detach``: the value of its argument, with derivative zero."""

    nargs = 1
    latex_name = "sg"

    @staticmethod
    def evaluate(u):
        return u

    @classmethod
    def eval(cls, u):
        if not u.free_symbols:
            return u
        return None

    def fdiff(self, argindex=1):
        return sp.S.Zero


class Select(Primitive):
    """``a if flag != 0 else b``; ``flag`` is a stop-gradient indicator."""

    nargs = 3
    code = "select"
    latex_name = "select"

    @staticmethod
    def evaluate(flag, a, b):
        return a if flag != 0 else b

    @classmethod
    def eval(cls, flag, a, b):
        if a == b:
            return a
        if flag.is_Number:  # not ``flag != 0``: SymPy has Float(0.0) != 0
            return b if flag.is_zero else a
        return None

    def fdiff(self, argindex=1):
        flag = self.args[0]
        if argindex == 1:
            return sp.S.Zero
        if argindex == 2:
            return Select(flag, 1, 0)
        return Select(flag, 0, 1)

    def _latex(self, printer):
        flag, a, b = (printer._print(x) for x in self.args)
        return rf"\begin{{cases}} {a} & {flag} \neq 0 \\ {b} & \text{{otherwise}} \end{{cases}}"


COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
"""Codes of :class:`Compare`, by position: its first argument indexes this tuple."""


class Compare(Primitive):
    """1.0 where ``a <op> b`` holds, else 0.0; a mask, so its derivative is zero.

    Conditions are numbers (not SymPy booleans) so that they can be multiplied
    (and), negated (1 - c) and differentiated like any other expression.
    """

    nargs = 3
    latex_name = "1"

    @staticmethod
    def evaluate(code, a, b):
        op = COMPARISONS[int(code)]
        return float({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b,
                      "==": a == b, "!=": a != b}[op])

    @classmethod
    def eval(cls, code, a, b):
        if a.is_Number and b.is_Number:
            return sp.Float(cls.evaluate(float(code), float(a), float(b)))
        return None

    def fdiff(self, argindex=1):
        return sp.S.Zero

    def _latex(self, printer):
        code, a, b = self.args
        op = {"<": "<", "<=": r"\leq", ">": ">", ">=": r"\geq", "==": "=", "!=": r"\neq"}[
            COMPARISONS[int(code)]]
        return rf"\mathbb{{1}}\left[{printer._print(a)} {op} {printer._print(b)}\right]"


class Sign(Primitive):
    """``sign(u)`` with sign(0) = 0 and NaN kept, derivative zero (PyTorch's)."""

    nargs = 1
    code = "sign"
    latex_name = "sign"

    @staticmethod
    def evaluate(u):
        return u if math.isnan(u) else float((u > 0) - (u < 0))

    def fdiff(self, argindex=1):
        return sp.S.Zero


class Abs(Primitive):
    """``|u|`` whose derivative is ``sign(u)`` (0 at the kink, as PyTorch)."""

    nargs = 1
    code = "fabs"
    c_library = True
    latex_name = "abs"

    @staticmethod
    def evaluate(u):
        return abs(u)

    def fdiff(self, argindex=1):
        return Sign(self.args[0])

    def _latex(self, printer):
        return rf"\left|{printer._print(self.args[0])}\right|"


class Log1p(Primitive):
    """``log(1 + u)`` accurate for small ``u``."""

    nargs = 1
    code = "log1p"
    c_library = True
    latex_name = "log1p"

    @staticmethod
    def evaluate(u):
        return math.log1p(u) if u > -1 else (-math.inf if u == -1 else math.nan)

    def fdiff(self, argindex=1):
        return 1 / (1 + self.args[0])


class Expm1(Primitive):
    """``exp(u) - 1`` accurate for small ``u``."""

    nargs = 1
    code = "expm1"
    c_library = True
    latex_name = "expm1"

    @staticmethod
    def evaluate(u):
        return math.expm1(u)

    def fdiff(self, argindex=1):
        return sp.exp(self.args[0])


class Cbrt(Primitive):
    """Real cube root (negative for negative ``u``, unlike ``u**(1/3)``)."""

    nargs = 1
    code = "cbrt"
    c_library = True
    latex_name = "cbrt"

    @staticmethod
    def evaluate(u):
        return math.copysign(abs(u) ** (1.0 / 3.0), u)

    def fdiff(self, argindex=1):
        return 1 / (3 * Cbrt(self.args[0]) ** 2)

    def _latex(self, printer):
        return rf"\sqrt[3]{{{printer._print(self.args[0])}}}"


class Softplus(Primitive):
    """``log(1 + exp(u))`` computed without overflow."""

    nargs = 1
    code = "softplus"
    latex_name = "softplus"

    @staticmethod
    def evaluate(u):
        return u + math.log1p(math.exp(-u)) if u > 0 else math.log1p(math.exp(u))

    def fdiff(self, argindex=1):
        return 1 / (1 + sp.exp(-self.args[0]))


class LogSumExp(Primitive):
    """``log(sum(exp(u_k)))`` computed stably; its gradient is the softmax."""

    code = "logsumexp"
    latex_name = "logsumexp"

    @staticmethod
    def evaluate(*u):
        top = max(u)
        if math.isinf(top):
            return top
        return top + math.log(sum(math.exp(v - top) for v in u))

    def fdiff(self, argindex=1):
        return sp.exp(self.args[argindex - 1] - self)


class Floor(Primitive):
    """``floor(u)``, derivative zero (as PyTorch)."""

    nargs = 1
    code = "floor"
    c_library = True
    latex_name = "floor"

    @staticmethod
    def evaluate(u):
        return float(math.floor(u))

    def fdiff(self, argindex=1):
        return sp.S.Zero


class Ceil(Floor):
    """``ceil(u)``, derivative zero (as PyTorch)."""

    code = "ceil"
    c_library = True
    latex_name = "ceil"

    @staticmethod
    def evaluate(u):
        return float(math.ceil(u))


class Round(Floor):
    """Round half to even (NumPy and PyTorch), derivative zero."""

    code = "rint"
    c_library = True
    latex_name = "round"

    @staticmethod
    def evaluate(u):
        return float(round(u))


class MaxOf(Primitive):
    """Maximum of the arguments; the gradient is split evenly among tied maxima.

    That is PyTorch's rule for ``amax``/``maximum`` (``maximum(a, a)`` gives 1/2 to
    each); NaN propagates.
    """

    code = "maxof"
    latex_name = "max"

    @staticmethod
    def evaluate(*u):
        return math.nan if any(math.isnan(v) for v in u) else max(u)

    def fdiff(self, argindex=1):
        ties = [Compare(4, a, self) for a in self.args]
        return ties[argindex - 1] / sp.Add(*ties)


class MinOf(MaxOf):
    """Minimum of the arguments; the gradient is split evenly among tied minima."""

    code = "minof"
    latex_name = "min"

    @staticmethod
    def evaluate(*u):
        return math.nan if any(math.isnan(v) for v in u) else min(u)


# ----- special functions: values from symhess.special (the compiled code's own steps) ------

class Lgamma(Primitive):
    """``log|Gamma(u)|`` (C's ``lgamma``, PyTorch's, ``scipy.special.gammaln``); +inf at the poles."""

    nargs = 1
    code = "lgamma"
    c_library = True
    latex_name = "\\ln\\Gamma"

    def fdiff(self, argindex=1):
        return Digamma(self.args[0])

    def _latex(self, printer):
        return rf"\ln\left|\Gamma\left({printer._print(self.args[0])}\right)\right|"


class Digamma(Primitive):
    """``psi(u) = Gamma'(u) / Gamma(u)``."""

    nargs = 1
    code = "digamma"
    latex_name = "\\psi"

    def fdiff(self, argindex=1):
        return Polygamma(1, self.args[0])

    def _latex(self, printer):
        return rf"\psi\left({printer._print(self.args[0])}\right)"


class Polygamma(Primitive):
    """``psi^(n)(u)``, the n-th derivative of digamma; ``n`` a constant integer >= 1 (0 is Digamma)."""

    nargs = 2
    code = "polygamma"
    latex_name = "\\psi"

    def fdiff(self, argindex=2):
        n, u = self.args
        return Polygamma(n + 1, u) if argindex == 2 else sp.S.Zero  # the order is a constant

    def _latex(self, printer):
        n, u = (printer._print(a) for a in self.args)
        return rf"\psi^{{({n})}}\left({u}\right)"


class Erfc(Primitive):
    """``1 - erf(u)``, accurate where it is small (C's ``erfc``)."""

    nargs = 1
    code = "erfc"
    c_library = True
    latex_name = "erfc"

    def fdiff(self, argindex=1):
        return -2 / sp.sqrt(sp.pi) * sp.exp(-self.args[0] ** 2)


class Erfcx(Primitive):
    """``exp(u^2) erfc(u)``, the scaled complementary error function."""

    nargs = 1
    code = "erfcx"
    latex_name = "erfcx"

    def fdiff(self, argindex=1):
        u = self.args[0]
        return 2 * u * Erfcx(u) - 2 / sp.sqrt(sp.pi)


class Erfinv(Primitive):
    """The inverse of ``erf`` on (-1, 1)."""

    nargs = 1
    code = "erfinv"
    latex_name = "erf^{-1}"

    def fdiff(self, argindex=1):
        return sp.sqrt(sp.pi) / 2 * sp.exp(Erfinv(self.args[0]) ** 2)


class Ndtri(Primitive):
    """The standard normal quantile, the inverse of ``ndtr``."""

    nargs = 1
    code = "ndtri"
    latex_name = "\\Phi^{-1}"

    def fdiff(self, argindex=1):
        return sp.sqrt(2 * sp.pi) * sp.exp(Ndtri(self.args[0]) ** 2 / 2)


class LogNdtr(Primitive):
    """``log Phi(u)``, accurate far in the left tail; its derivative ``phi/Phi`` through erfcx."""

    nargs = 1
    code = "log_ndtr"
    latex_name = "\\log\\Phi"

    def fdiff(self, argindex=1):
        return sp.sqrt(2 / sp.pi) / Erfcx(-self.args[0] / sp.sqrt(2))


class BesselIe(Primitive):
    """``exp(-|u|) I_n(u)``, the exponentially scaled modified Bessel function of integer order ``n``."""

    nargs = 2
    code = "bessel_ie"
    latex_name = "I^e"

    def fdiff(self, argindex=2):
        n, u = self.args
        if argindex != 2:
            return sp.S.Zero  # the order is a constant
        below = BesselIe(abs(n - 1), u)  # I_(-1) = I_1
        return (below + BesselIe(n + 1, u)) / 2 - Sign(u) * self

    def _latex(self, printer):
        n, u = (printer._print(a) for a in self.args)
        return rf"e^{{-\left|{u}\right|}} I_{{{n}}}\left({u}\right)"


class Gammainc(Primitive):
    """``P(a, x) = gamma(a, x) / Gamma(a)``, the regularised lower incomplete gamma function, for a constant ``a``:
    its derivative in ``a`` is no elementary function, so tracing refuses a traced ``a``
    (:func:`.elementwise.incomplete_gamma`) and ``fdiff`` has only the one in ``x``."""

    nargs = 2
    code = "gammainc"
    latex_name = "P"

    def fdiff(self, argindex=2):
        a, x = self.args
        if argindex != 2:
            raise NotImplementedError(f"{type(self).__name__}'s derivative in a is not elementary (a is a constant)")
        return sp.exp((a - 1) * sp.log(x) - x - Lgamma(a))  # x^(a-1) e^-x / Gamma(a)


class Gammaincc(Gammainc):
    """``Q(a, x) = 1 - P(a, x)``, the regularised upper incomplete gamma function, computed for itself (small Q)."""

    code = "gammaincc"
    latex_name = "Q"

    def fdiff(self, argindex=2):
        return -super().fdiff(argindex)


def codes() -> dict:
    """Primitive class name -> the three-address function its calls print as (:mod:`symhess.codegen`)."""
    return {cls.__name__: cls.code for cls in ALL if cls.code}


def library_functions() -> tuple:
    """The three-address functions primitives take from the C math library (LLVM declares them, C calls them)."""
    return tuple(dict.fromkeys(cls.code for cls in ALL if cls.c_library))
