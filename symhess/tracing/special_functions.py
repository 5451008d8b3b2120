"""Special functions of PyTorch (``torch.special``, ``torch.lgamma``, ...) and ``scipy.special`` built
from the elementwise table's primitives (:mod:`.elementwise`: lgamma, digamma, polygamma, erfc,
erfcx, erfinv, ndtri, log_ndtr), with each library's argument conventions."""

from __future__ import annotations

import math

from .errors import trace_error


def _t(value):
    from .tensor import Tensor, as_objects, wrap

    return value if isinstance(value, Tensor) else wrap(as_objects(value))


def _e(name, *operands):
    from .tensor import elementwise

    return elementwise(name, *operands)


def _dimension(name: str, p) -> int:
    if isinstance(p, bool) or not isinstance(p, int) or p < 1:
        raise trace_error(f"{name} with p={p!r}: the dimension must be a constant integer >= 1",
                          "pass p as a Python integer")
    return p


def mvlgamma(input, p, *, out=None):  # noqa: A002 - PyTorch's names
    """The multivariate log-gamma ``p (p-1)/4 log(pi) + sum_j lgamma(x + (1-j)/2)``, j = 1..p.

    PyTorch and SciPy raise when an element is at most ``(p-1)/2``; a compiled function cannot
    raise at evaluation, so those elements are NaN."""
    if out is not None:
        raise trace_error("mvlgamma(..., out=...) writes into a preallocated array", "assign the result instead")
    p = _dimension("mvlgamma", p)
    x = _t(input)
    total = _e("lgamma", x)
    for j in range(2, p + 1):
        total = total + _e("lgamma", x + (1 - j) / 2)
    total = total + p * (p - 1) / 4 * math.log(math.pi)
    return total + _e("nan_unless", x > (p - 1) / 2)


def polygamma(n, input, *, out=None):  # noqa: A002
    """``torch.polygamma(n, input)``: the order first."""
    if out is not None:
        raise trace_error("polygamma(..., out=...) writes into a preallocated array", "assign the result instead")
    return _e("polygamma", n, input)


def betaln(a, b):
    """``scipy.special.betaln``: log|B(a, b)| = lgamma(a) + lgamma(b) - lgamma(a + b)."""
    a, b = _t(a), _t(b)
    return _e("lgamma", a) + _e("lgamma", b) - _e("lgamma", a + b)


def unary(name: str, function: str):
    """``torch.<name>(input, *, out=None)`` as the elementwise ``function``."""
    def call(input, *, out=None):  # noqa: A002
        if out is not None:
            raise trace_error(f"torch.{name}(..., out=...) writes into a preallocated array",
                              "assign the result instead")
        return _e(function, input)

    call.__name__ = name
    return call


def torch_table(torch) -> dict:
    """torch function -> implementation on placeholders."""
    special = torch.special
    return {
        torch.polygamma: polygamma, special.polygamma: polygamma,
        torch.mvlgamma: mvlgamma, special.multigammaln: mvlgamma,
        special.gammaln: unary("special.gammaln", "lgamma"), special.digamma: unary("special.digamma", "digamma"),
        special.psi: unary("special.psi", "digamma"), special.erfc: unary("special.erfc", "erfc"),
        special.erfcx: unary("special.erfcx", "erfcx"), special.erfinv: unary("special.erfinv", "erfinv"),
        special.ndtri: unary("special.ndtri", "ndtri"), special.log_ndtr: unary("special.log_ndtr", "log_ndtr"),
        torch.i0: unary("i0", "i0"), special.i0: unary("special.i0", "i0"), special.i0e: unary("special.i0e", "i0e"),
        special.i1: unary("special.i1", "i1"), special.i1e: unary("special.i1e", "i1e"),
        special.modified_bessel_i0: unary("special.modified_bessel_i0", "i0"),
        special.modified_bessel_i1: unary("special.modified_bessel_i1", "i1"),
    }


def scipy_table(special) -> dict:
    """scipy.special ufunc -> implementation on placeholders."""
    return {
        special.gammaln: lambda x: _e("lgamma", x), special.psi: lambda x: _e("digamma", x),
        special.erfc: lambda x: _e("erfc", x), special.erfcx: lambda x: _e("erfcx", x),
        special.erfinv: lambda x: _e("erfinv", x), special.ndtri: lambda x: _e("ndtri", x),
        special.log_ndtr: lambda x: _e("log_ndtr", x), special.betaln: betaln,
        special.i0: lambda x: _e("i0", x), special.i0e: lambda x: _e("i0e", x),
        special.i1: lambda x: _e("i1", x), special.i1e: lambda x: _e("i1e", x),
        special.iv: lambda v, x: _e("exp", abs(_t(x))) * _e("bessel_ie", v, x),
        special.ive: lambda v, x: _e("bessel_ie", v, x),
    }
