"""``var`` and ``std`` with every argument of PyTorch's and NumPy's, exactly.

PyTorch has three overloads (``var(dim, *, correction, keepdim)``, ``var(dim, unbiased,
keepdim)``, ``var(unbiased)``) and NumPy another signature (``axis, dtype, out, ddof,
keepdims, *, where, mean, correction``); a positional ``False`` read as ``dim`` gave
wrong Hessians silently, so each call is bound here against its library's signature.
"""

from __future__ import annotations

import numpy as np

from . import arrays
from .arguments import UNSET, bind, dims, refuse, signature, torch_style
from .errors import trace_error
from .placeholder import as_objects


def _torch_signature(dim=None, unbiased=UNSET, keepdim=False, *, correction=UNSET, out=None):
    """PyTorch's ``var(dim, unbiased, keepdim)`` and ``var(dim, *, correction, keepdim)``."""


def _numpy_signature(axis=None, dtype=None, out=None, ddof=UNSET, keepdims=False, *,
                     where=True, mean=UNSET, correction=UNSET):
    """NumPy's ``var``/``std`` (function and ndarray method)."""


_TORCH = signature(_torch_signature)
_NUMPY = signature(_numpy_signature)
_TORCH_ONLY = {"dim", "unbiased", "keepdim"}
_NUMPY_ONLY = {"axis", "dtype", "out", "ddof", "keepdims", "where", "mean"}


def torch_var(name: str, x, args, kwargs):
    """``torch.var``/``torch.std`` (``name``) as PyTorch binds the arguments."""
    if args and isinstance(args[0], (bool, np.bool_)):  # the var(unbiased) overload
        if len(args) > 1 or kwargs:
            raise trace_error(f"{name}(x, unbiased, ...) with more arguments: PyTorch takes "
                              "unbiased alone in this form", f"write {name}(x, dim, unbiased, keepdim)")
        return _finish(name, x, None, False, 1 if args[0] else 0)
    bound = bind(name, _TORCH, args, kwargs)
    if bound["out"] is not None:
        raise refuse(name, "out", "assign the result instead")
    unbiased, correction = bound["unbiased"], bound["correction"]
    if unbiased is not UNSET and correction is not UNSET:
        raise trace_error(f"{name} with both unbiased= and correction= (PyTorch refuses the pair)",
                          "pass only correction=")
    if unbiased is not UNSET:
        if not isinstance(unbiased, (bool, np.bool_)):
            raise trace_error(f"{name}(..., unbiased={unbiased!r}): unbiased must be a bool",
                              "pass True or False, or correction=")
        correction = 1 if unbiased else 0
    correction = 1 if correction in (UNSET, None) else _number(name, "correction", correction)
    dim = dims(name, "dim", bound["dim"])
    return _finish(name, x, None if dim == () else dim, bool(bound["keepdim"]), correction)


def numpy_var(name: str, x, args, kwargs):
    """``np.var``/``np.std`` and the ndarray methods, as NumPy binds the arguments."""
    bound = bind(name, _NUMPY, args, kwargs)
    if bound["out"] is not None:
        raise trace_error(f"{name}(..., out=...) writes into a preallocated array",
                          "assign the result instead")
    if bound["dtype"] is not None and np.dtype(bound["dtype"]).kind != "f":
        raise refuse(name, "dtype", "leave dtype out or pass a floating-point dtype")
    if not (isinstance(bound["where"], (bool, np.bool_)) and bound["where"]):
        raise refuse(name, "where", f"apply the mask before calling {name}")
    if bound["mean"] is not UNSET:
        raise refuse(name, "mean", f"leave mean out: {name} computes it")
    ddof, correction = bound["ddof"], bound["correction"]
    if ddof is not UNSET and correction is not UNSET:
        raise trace_error(f"{name} with both ddof= and correction= (NumPy refuses the pair)",
                          "pass only ddof=")
    ddof = correction if ddof is UNSET else ddof
    ddof = 0 if ddof is UNSET else _number(name, "ddof", ddof)
    return _finish(name, x, dims(name, "axis", bound["axis"]), bool(bound["keepdims"]), ddof)


def method_var(name: str, x, args, kwargs):
    """``x.var(...)``: keywords of one library decide; otherwise the inputs' library does."""
    keys = set(kwargs)
    torch = bool(keys & _TORCH_ONLY) or (not keys & _NUMPY_ONLY and torch_style())
    prefix = "torch.Tensor." if torch else "numpy.ndarray."
    return (torch_var if torch else numpy_var)(prefix + name, x, args, kwargs)


def _number(name, argument, value):
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value
    raise trace_error(f"{name}(..., {argument}={value!r}): expected a number",
                      f"pass {argument} as a Python number")


def _finish(name, x, axis, keepdims, correction):
    """The variance (or its square root for ``std``) with the divisor ``n - correction``."""
    n = arrays._count(x, axis)
    if n - correction <= 0:  # both libraries divide by max(0, n - correction): inf or nan
        raise trace_error(f"{name} with correction {correction} of {n} reduced element(s) "
                          "divides by zero", "use a smaller correction (ddof) or reduce more elements")
    result = arrays.var(as_objects(x), axis, keepdims, correction)
    return result.sqrt() if name.endswith("std") else result
