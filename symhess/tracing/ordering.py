"""Sorting and order statistics of traced values: ``sort``, ``topk``, ``kthvalue``, ``median``, ...

The position of each traced value in sorted order is itself traced: element ``i`` of a row
goes to position ``rank_i = #{j : x_j < x_i} + #{j < i : x_j == x_i}`` (a stable sort), so
``sorted[k] = sum_i select(rank_i == k, x_i, 0)``. Its derivative sends the gradient to the
element placed at ``k``, as PyTorch's backward of ``sort`` does; ties go by position, as a
stable sort. The indices depend on the values' order: they are returned as an
:class:`~.tensor.Unavailable` that refuses any use.
"""

from __future__ import annotations

import numpy as np
import symengine as se

from .arrays import amax, amin
from .elementwise import compare, where
from .errors import trace_error
from .placeholder import Placeholder, ValuesIndices, as_objects, wrap

MAX_ROW = 256
"""Longest row sorted (the ranks take ``n**2`` comparisons)."""


def _sorted_rows(rows: np.ndarray, descending: bool) -> np.ndarray:
    """Each row of a 2-D object array sorted (ascending unless ``descending``)."""
    n = rows.shape[1]
    if n > MAX_ROW:
        raise trace_error(f"sorting rows of {n} traced values", f"sort at most {MAX_ROW} values at a time")
    out = np.empty_like(rows)
    before = ">" if descending else "<"
    for r, row in enumerate(rows):
        if n == 1:
            out[r, 0] = row[0]
            continue
        ranks = [se.Add(*[compare(before, row[j], row[i]) for j in range(n) if j != i],
                        *[compare("==", row[j], row[i]) for j in range(i)]) for i in range(n)]
        for k in range(n):
            out[r, k] = se.Add(*[where(compare("==", ranks[i], k), row[i], 0) for i in range(n)])
    return out


def sort_values(x, dim: int = -1, descending: bool = False):
    """The values of ``torch.sort(x, dim, descending)`` as a Tensor."""
    data = as_objects(x)
    if data.ndim == 0:
        return wrap(data.copy())
    moved = np.moveaxis(data, dim, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    result = _sorted_rows(rows, descending).reshape(moved.shape)
    return wrap(np.ascontiguousarray(np.moveaxis(result, -1, dim)))


def _pair(values, name):
    return ValuesIndices(values, name)


def _dim(x, dim):
    return dim % max(x.ndim, 1)


def _take(values, dim, index, keepdim):
    """``values`` at position ``index`` (int or slice) of ``dim``."""
    data = values.data
    if data.ndim == 0:
        return wrap(data.copy())
    key = [slice(None)] * data.ndim
    key[dim] = index
    picked = data[tuple(key)]
    if keepdim and isinstance(index, int):
        picked = np.expand_dims(picked, dim)
    return wrap(np.ascontiguousarray(picked))


def torch_sort(input, dim=-1, descending=False, stable=False, *, out=None):  # noqa: A002
    _no_out("torch.sort", out)
    if isinstance(dim, bool):  # sort(input, stable, dim=..., descending=...) overload
        raise trace_error("torch.sort(x, stable, ...) with stable positional", "pass stable= by keyword")
    return _pair(sort_values(input, dim, bool(descending)), "torch.sort")


def torch_msort(input, *, out=None):  # noqa: A002
    _no_out("torch.msort", out)
    return sort_values(input, 0)


def torch_topk(input, k, dim=-1, largest=True, sorted=True, *, out=None):  # noqa: A002
    _no_out("torch.topk", out)
    x = wrap(as_objects(input))
    dim = _dim(x, -1 if dim is None else dim)
    values = sort_values(x, dim, descending=bool(largest))
    return _pair(_take(values, dim, slice(0, int(k)), False), "torch.topk")


def torch_kthvalue(input, k, dim=-1, keepdim=False, *, out=None):  # noqa: A002
    _no_out("torch.kthvalue", out)
    x = wrap(as_objects(input))
    dim = _dim(x, dim)
    values = sort_values(x, dim)
    size = x.shape[dim] if x.ndim else 1
    if not 1 <= int(k) <= size:
        raise IndexError(f"kthvalue(): selected number k out of range for dimension {dim}")
    return _pair(_take(values, dim, int(k) - 1, keepdim), "torch.kthvalue")


def torch_median(input, dim=None, keepdim=False, *, out=None):  # noqa: A002
    """PyTorch's median is the lower of the two middle values (no average)."""
    _no_out("torch.median", out)
    x = wrap(as_objects(input))
    if any(_is_nan(e) for e in x.data.reshape(-1)):
        raise trace_error("torch.median / torch.nanmedian of constant NaN values among traced ones (median "
                          "propagates them, nanmedian skips them; torch.masked.median fills masked elements "
                          "with NaN): symhess orders only numbers", "take the median of the elements you "
                          "mean, selected with constant indices, or of constants outside the traced code")
    if dim is None:
        flat = wrap(x.data.reshape(-1))
        return _take(sort_values(flat, 0), 0, (flat.shape[0] - 1) // 2, False)
    dim = _dim(x, dim)
    size = x.shape[dim] if x.ndim else 1
    return _pair(_take(sort_values(x, dim), dim, (size - 1) // 2, keepdim), "torch.median")


def _is_nan(value) -> bool:
    """A constant NaN (SymEngine's NaN, or a floating-point NaN, which does not equal itself)."""
    return getattr(value, "is_Number", False) and (value != value or str(value) == "nan")


def torch_mode(input, dim=-1, keepdim=False, *, out=None):  # noqa: A002
    raise trace_error("torch.mode of traced values (which value is most frequent depends on which "
                      "traced values are equal)", "compute the mode of constants outside the traced code")


def quantile(x, q, dim=None, keepdim=False, interpolation="linear", name="torch.quantile"):
    """``torch.quantile`` / ``np.quantile``: between the sorted values at ``q (n - 1)``."""
    if isinstance(q, Placeholder):
        raise trace_error(f"{name} with a traced q", "pass q as a constant")
    qs = np.asarray(q.detach().cpu().numpy() if hasattr(q, "detach") else q, dtype=np.float64)
    data = as_objects(x)
    if dim is None:
        data, dim = data.reshape(-1), 0
    dim = dim % max(data.ndim, 1)
    values = sort_values(wrap(data), dim).data if data.ndim else data.reshape(1)
    n = values.shape[dim] if data.ndim else 1
    pieces = []
    for quantile_ in qs.reshape(-1):
        if not 0 <= quantile_ <= 1:
            raise RuntimeError(f"{name}() q values must be in the range [0, 1]")
        position = quantile_ * (n - 1)
        low, high = int(np.floor(position)), int(np.ceil(position))
        fraction = position - low
        take = (lambda k: np.take(values, k, axis=dim)) if data.ndim else (lambda k: values[0])
        if interpolation == "linear":
            piece = take(low) if high == low else take(low) * (1 - fraction) + take(high) * fraction
        elif interpolation == "lower":
            piece = take(low)
        elif interpolation == "higher":
            piece = take(high)
        elif interpolation == "midpoint":
            piece = (take(low) + take(high)) * 0.5
        elif interpolation == "nearest":
            piece = take(int(np.round(position)))  # half to even, as both libraries
        else:
            raise trace_error(f"{name}(..., interpolation={interpolation!r})",
                              "use 'linear', 'lower', 'higher', 'midpoint' or 'nearest'")
        piece = np.asarray(piece, dtype=object)
        if keepdim and data.ndim:
            piece = np.expand_dims(piece, dim)
        pieces.append(piece)
    result = np.stack(pieces) if qs.ndim else pieces[0]
    return wrap(np.asarray(result, dtype=object))


def cumulative_extreme(x, dim, name):
    """Values of ``cummax``/``cummin``: the running maximum (minimum) along ``dim``."""
    data = as_objects(x)
    if data.ndim == 0:
        return _pair(wrap(data.copy()), f"torch.{name}")
    dim = dim % data.ndim
    reduce = amax if name == "cummax" else amin
    pieces = [reduce(wrap(np.take(data, range(k + 1), axis=dim)), dim, True).data
              for k in range(data.shape[dim])]
    return _pair(wrap(np.concatenate(pieces, axis=dim)), f"torch.{name}")


def aminmax(input, *, dim=None, keepdim=False, out=None):  # noqa: A002
    _no_out("torch.aminmax", out)
    return amin(input, dim, keepdim), amax(input, dim, keepdim)


def numpy_sort(a, axis=-1, kind=None, order=None, stable=None):
    if order is not None:
        raise trace_error("np.sort(..., order=...)", "sort plain arrays")
    if axis is None:
        return sort_values(wrap(as_objects(a).reshape(-1)), 0)
    return sort_values(a, axis)


def numpy_median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """NumPy's median: the mean of the two middle values for an even count."""
    _no_out("np.median", out)
    return quantile(a, 0.5, axis, keepdims, "linear", "np.median")


def numpy_quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False,
                   *, weights=None, interpolation=None):
    _no_out("np.quantile", out)
    if weights is not None:
        raise trace_error("np.quantile(..., weights=...)", "leave weights out")
    return quantile(a, q, axis, keepdims, interpolation or method, "np.quantile")


def numpy_percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False,
                     *, weights=None, interpolation=None):
    return numpy_quantile(a, np.asarray(q, dtype=np.float64) / 100, axis, out, overwrite_input, method,
                          keepdims, weights=weights, interpolation=interpolation)


def refuse_indices(name):
    def call(*args, **kwargs):
        raise trace_error(f"{name} of traced values (positions that depend on the order of the values)",
                          "compute positions from constants, or use the sorted values themselves")

    return call


def _no_out(name, out):
    if out is not None:
        raise trace_error(f"{name}(..., out=...) writes into a preallocated array", "assign the result instead")
