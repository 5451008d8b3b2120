"""The placeholder as the traced operations see it: an object array of expressions.

The operations (:mod:`.arrays`, :mod:`.views`, :mod:`.nn`, the NumPy and torch tables) take
placeholders, numbers and arrays alike through :func:`as_objects` and return placeholders
through :func:`wrap`.  The placeholder's methods call those operations, so the class that has
them, :class:`.tensor.Tensor`, is defined above them, as a subclass of :class:`Placeholder`
(autograd's ``Box`` and ``ArrayBox``): this module never imports it.
"""

from __future__ import annotations

import numpy as np
import symengine as se

from .elementwise import ARITY, ELEMENTWISE, constant
from .errors import trace_error


class Placeholder:
    """An object array of scalar expressions, ``data``; :class:`.tensor.Tensor` adds the methods."""

    __slots__ = ("data",)
    _made: type  # the subclass

    def __init__(self, data: np.ndarray):
        self.data = data

    def __init_subclass__(cls, **kwargs):
        """The subclass (``Tensor``, the only one) is what :func:`wrap` makes."""
        super().__init_subclass__(**kwargs)
        Placeholder._made = cls


def as_objects(value) -> np.ndarray:
    """Any traced or constant array-like as an object array of scalar expressions."""
    if isinstance(value, Placeholder):
        return value.data
    if is_torch_tensor(value):
        value = value.detach().cpu().double().numpy()
    if isinstance(value, np.ndarray) and value.dtype != object:
        if value.dtype.kind not in "biuf":
            raise trace_error(f"a constant array of dtype {value.dtype}",
                              "use real (float or integer) constants")
        return _constant_array(value)
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.dtype == object):
        array = np.array(value, dtype=object)
        flat = array.reshape(-1)
        for k, item in enumerate(flat):
            flat[k] = _scalar(item)
        return array
    return zero_dim(_scalar(value))


def _constant_array(value: np.ndarray) -> np.ndarray:
    flat = np.array([constant(v) for v in value.reshape(-1).tolist()] or [], dtype=object)
    return flat.reshape(value.shape)


def _scalar(item):
    if isinstance(item, Placeholder):
        if item.data.size != 1:
            raise trace_error(f"a traced array of shape {item.shape} used where one number is expected",
                              "index it down to a single element")
        return item.data.reshape(-1)[0]
    if isinstance(item, np.ndarray):
        if item.size != 1:
            raise trace_error("a nested array inside an array of traced values",
                              "build arrays with np.stack / np.concatenate")
        return _scalar(item.reshape(-1)[0])
    if isinstance(item, se.Basic):
        return item
    if is_torch_tensor(item):
        return _scalar(item.detach().cpu().double().numpy())
    try:
        return constant(item)
    except (TypeError, ValueError):
        raise trace_error(f"a value of type {type(item).__name__} mixed with traced values",
                          "use numbers, NumPy arrays or traced tensors") from None


def is_torch_tensor(value) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def zero_dim(item) -> np.ndarray:
    array = np.empty((), dtype=object)
    array[()] = item
    return array


def wrap(result) -> Placeholder:
    """Wrap an object array (or one scalar expression) as a Tensor (any other array-like: its expressions)."""
    if isinstance(result, Placeholder):
        return result
    if not isinstance(result, np.ndarray):
        return Placeholder._made(zero_dim(_scalar(result)))
    if result.dtype != object:
        return Placeholder._made(as_objects(result))
    return Placeholder._made(result)


_UFUNCS = {name: np.frompyfunc(fn, ARITY[name], 1) for name, fn in ELEMENTWISE.items()}


def elementwise(name: str, *operands) -> Placeholder:
    """Apply a table entry elementwise with NumPy broadcasting."""
    result = _UFUNCS[name](*(as_objects(op) for op in operands))
    return wrap(result if isinstance(result, np.ndarray) else zero_dim(result))


def rounded(x, decimals):
    """Round half to even at ``decimals`` digits, as both libraries: ``round(x * 10**d) / 10**d``."""
    if not isinstance(decimals, (int, np.integer)) or isinstance(decimals, bool):
        raise trace_error(f"round(..., decimals={decimals!r})", "pass decimals as a Python integer")
    if decimals == 0:
        return elementwise("round", x)
    if decimals > 0:
        scale = 10 ** int(decimals)
        return elementwise("round", x * scale) / scale
    scale = 10 ** -int(decimals)
    return elementwise("round", x / scale) * scale


class Unavailable:
    """What stands for a result that depends on the traced values' order (``indices`` of
    ``x.max(dim)``): it can be unpacked and dropped, any use raises a TraceError."""

    __slots__ = ("_fix", "_what")

    def __init__(self, what: str, fix: str):
        self._what, self._fix = what, fix

    def _refuse(self, *args, **kwargs):
        raise trace_error(f"{self._what} depend on the order of the traced values", self._fix)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        self._refuse()

    def __repr__(self):
        return f"<{self._what}: not traceable>"

    __getitem__ = __index__ = __int__ = __float__ = __bool__ = __len__ = __iter__ = __array__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __neg__ = __pow__ = __matmul__ = _refuse
    __hash__ = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self._refuse()

    def __array_ufunc__(self, *args, **kwargs):
        self._refuse()

    def __array_function__(self, *args, **kwargs):
        self._refuse()


class ValuesIndices(tuple):
    """PyTorch's ``(values, indices)`` named tuple (``x.max(dim)``, ``torch.sort``, ``topk``, ...):
    the values are traced; the indices depend on the order of the traced values, so any use of
    them raises a TraceError (unpacking ``values, _ = x.max(0)`` is fine)."""

    def __new__(cls, values: Placeholder, name: str):
        indices = Unavailable(f"the indices of {name}", f"use only the values ({name}(...).values or "
                              f"{name}(...)[0]); index with constant positions instead")
        self = super().__new__(cls, (values, indices))
        self._name = name
        return self

    values = property(lambda self: tuple.__getitem__(self, 0))
    indices = property(lambda self: tuple.__getitem__(self, 1))


def clamped(x, low, high) -> Placeholder:
    if high is None:
        return elementwise("clamp_min", x, low)
    if low is None:
        return elementwise("clamp_max", x, high)
    return elementwise("clamp", x, low, high)
