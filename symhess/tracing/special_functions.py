"""Special functions of PyTorch (``torch.special``, ``torch.lgamma``, ...) and ``scipy.special`` built
from the elementwise table's primitives (:mod:`.elementwise`: lgamma, digamma, polygamma, erfc,
erfcx, erfinv, ndtri, log_ndtr), with each library's argument conventions."""

from __future__ import annotations

import math

import numpy as np

from .elementwise import ELEMENTWISE, METHODS
from .errors import trace_error
from .placeholder import Placeholder, as_objects, elementwise, wrap


def _t(value):
    return value if isinstance(value, Placeholder) else wrap(as_objects(value))


def _e(name, *operands):
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


def method(name: str, function: str):
    """``torch.<name>(input, *args, out=None, **kwargs)`` as the tensor method ``input.<function>(*args, **kwargs)``."""
    def call(input, *args, out=None, **kwargs):  # noqa: A002
        if out is not None:
            raise trace_error(f"torch.{name}(..., out=...) writes into a preallocated array",
                              "assign the result instead")
        return getattr(_t(input), function)(*args, **kwargs)

    call.__name__ = name
    return call


def torch_table(torch) -> dict:
    """torch function -> implementation on placeholders: ``torch.special.<name>`` of each elementwise entry that
    has one, as the tensor method (``torch.special.erfcx(x)`` is ``x.erfcx()``), and the others."""
    special = torch.special
    return {
        **{getattr(special, name): method(f"special.{name}", name) for name in METHODS if hasattr(special, name)},
        torch.polygamma: polygamma, special.polygamma: polygamma,
        torch.mvlgamma: mvlgamma, special.multigammaln: mvlgamma,
        special.gammaln: method("special.gammaln", "lgamma"), special.psi: method("special.psi", "digamma"),
        special.modified_bessel_i0: method("special.modified_bessel_i0", "i0"),
        special.modified_bessel_i1: method("special.modified_bessel_i1", "i1"),
    }


def scipy_table(special) -> dict:
    """scipy.special ufunc -> implementation on placeholders: the ufunc of each elementwise entry's name, and
    the others."""
    return {
        **{getattr(special, name): _entry(name) for name in ELEMENTWISE if isinstance(getattr(special, name, None),
                                                                                    np.ufunc)},
        special.gammaln: _entry("lgamma"), special.psi: _entry("digamma"), special.betaln: betaln,
        special.iv: lambda v, x: _e("exp", abs(_t(x))) * _e("bessel_ie", v, x),
        special.ive: _entry("bessel_ie"),
    }


def _entry(name: str):
    def call(*operands):
        return _e(name, *operands)

    call.__name__ = name
    return call
