"""Writes through views: an in-place write reaches every tensor that shares the memory.

A placeholder's values are a NumPy object array, and NumPy already makes views of
object arrays exactly where it makes views of float arrays: basic indexing, ``reshape``
(when no copy is needed), ``transpose``, ``squeeze``, ``expand_dims``, ... return arrays
that share the object storage, as NumPy and (for these operations) PyTorch share memory.
So an in-place write stores new expressions into that storage, and every Tensor viewing
it reads them at its next use. The in-place operators and methods below compute the
new values out of place and write them in.

What symhess cannot alias where the library does is refused at the write:
read-only views (``expand``, ``broadcast_to``, ``diagonal``), and storage that the
library shares with a result symhess had to copy (``detach`` makes new expressions).
"""

from __future__ import annotations

import weakref

import numpy as np

from .arguments import torch_style
from .errors import trace_error
from .placeholder import as_objects

_UNSHARED: list[tuple[weakref.ref, weakref.ref, str]] = []
"""Pairs of storage the library shares but symhess copied (``detach``), while both live."""


def root(array: np.ndarray) -> np.ndarray:
    """The array that owns the storage ``array`` views."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def unshare(operation: str, source, result) -> None:
    """Record that the library aliases ``source`` and ``result`` where symhess does not."""
    _UNSHARED.append((weakref.ref(root(source.data)), weakref.ref(root(result.data)), operation))


def _unshared(array: np.ndarray):
    """The operation whose copy shares ``array``'s storage in the library, while that copy lives."""
    _UNSHARED[:] = [pair for pair in _UNSHARED if pair[0]() is not None and pair[1]() is not None]
    owner = root(array)
    return next((operation for a, b, operation in _UNSHARED if owner is a() or owner is b()), None)


def check_writable(tensor, what: str) -> None:
    """Refuse a write that symhess would not propagate as the library does."""
    operation = _unshared(tensor.data)
    if operation is not None:
        raise trace_error(f"{what} writes into memory that PyTorch shares with the result of "
                          f"{operation} (symhess copies it, so the write would not reach it)",
                          f"write into a .clone() instead, or call {operation} after the write")
    if not tensor.data.flags.writeable:
        raise trace_error(f"{what} writes into a read-only view (the result of expand, "
                          "broadcast_to or diagonal shares one element among many positions)",
                          "write into a copy: .clone() / .copy() (or torch.diagonal_scatter)")


def assign(tensor, index, value) -> None:
    """``tensor[index] = value``, into the storage that views of ``tensor`` share."""
    check_writable(tensor, "an assignment x[...] = value")
    value = as_objects(value)
    tensor.data[index] = value[()] if value.ndim == 0 else value


def update(tensor, result, what: str):
    """An in-place operation: ``result`` (computed out of place) written over ``tensor``."""
    check_writable(tensor, what)
    values = as_objects(result)
    try:
        fits = np.broadcast_shapes(values.shape, tensor.data.shape) == tensor.data.shape
    except ValueError:
        fits = False
    if not fits:
        error = RuntimeError if torch_style() else ValueError
        raise error(f"{what}: output with shape {list(tensor.data.shape)} doesn't match the "
                    f"broadcast shape of the result {list(values.shape)}")
    tensor.data[...] = np.broadcast_to(values, tensor.data.shape)
    return tensor


def reshaped(tensor, data: np.ndarray):
    """An in-place shape change (``t_``, ``squeeze_``): ``tensor`` becomes another view."""
    tensor.data = data
    return tensor
