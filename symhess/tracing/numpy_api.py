"""NumPy's protocols for placeholders: ufunc and function translation tables.

``UFUNCS`` maps each supported ufunc to an :data:`~.elementwise.ELEMENTWISE`
entry; ``FUNCTIONS`` maps NumPy functions to implementations on tensors.  Shape
functions that only move elements run NumPy itself on the object array.
"""

from __future__ import annotations

import sys

import numpy as np
import symengine as se

from . import arrays, linalg, nn, ordering, special_functions, variance
from .elementwise import ELEMENTWISE
from .errors import trace_error
from .placeholder import Placeholder, as_objects, clamped, elementwise, rounded, wrap

UFUNCS = {
    **{getattr(np, name): name for name in ELEMENTWISE if isinstance(getattr(np, name, None), np.ufunc)},
    np.float_power: "power", np.radians: "deg2rad", np.degrees: "rad2deg", np.fabs: "abs",
    np.fmax: "maximum", np.fmin: "minimum", np.rint: "round", np.conjugate: "positive",
}
"""NumPy ufunc -> :data:`~.elementwise.ELEMENTWISE` entry: each of NumPy's name, and NumPy's other names."""

REDUCERS = {np.add: arrays.reduce_sum, np.multiply: arrays.prod,
            np.maximum: arrays.amax, np.minimum: arrays.amin}


def ufunc_call(ufunc, method, inputs, kwargs):
    if kwargs.get("out") is not None:
        raise trace_error(f"numpy.{ufunc.__name__}(..., out=...) writes into a preallocated array",
                          f"assign the result instead: y = np.{ufunc.__name__}(...)")
    if ufunc is np.matmul and method == "__call__":  # a ufunc, but not elementwise
        return arrays.matmul(*inputs)
    name = UFUNCS.get(ufunc)
    if name is None and method == "__call__":
        impl = scipy_ufuncs().get(ufunc)
        if impl is not None:
            return impl(*inputs)
    if name is None:
        raise trace_error(f"{ufunc_name(ufunc)} is not supported by symhess",
                          f"use one of the supported functions ({_supported()}), or open an issue")
    if method == "__call__":
        return elementwise(name, *inputs)
    if method == "reduce" and ufunc in REDUCERS:
        axis = kwargs.get("axis", 0)
        return REDUCERS[ufunc](inputs[0], axis, kwargs.get("keepdims", False))
    if method == "accumulate" and ufunc is np.add:
        return wrap(np.cumsum(as_objects(inputs[0]), axis=kwargs.get("axis", 0)))
    raise trace_error(f"numpy.{ufunc.__name__}.{method}", "use the plain call or np.sum / np.prod")


def ufunc_name(ufunc) -> str:
    """Where a ufunc comes from, by identity (scipy.special's ufuncs carry no module)."""
    if getattr(np, ufunc.__name__, None) is ufunc:
        return f"numpy.{ufunc.__name__}"
    for module in ("scipy.special",):
        namespace = sys.modules.get(module)
        if namespace is not None:
            for attribute in dir(namespace):
                if getattr(namespace, attribute, None) is ufunc:
                    return f"{module}.{attribute}"
    return f"the ufunc {ufunc.__name__} (not NumPy's)"


def scipy_ufuncs() -> dict:
    """scipy.special's ufuncs that symhess traces (when SciPy is loaded), ufunc -> implementation."""
    special = sys.modules.get("scipy.special")
    if special is None:
        return {}
    return _scipy_table(special)


_SCIPY: dict = {}


def _scipy_table(special) -> dict:
    if not _SCIPY:
        _SCIPY.update({
            special.expit: lambda x: elementwise("sigmoid", x),
            special.logit: lambda x: nn.logit(x),
            special.log_expit: lambda x: -elementwise("softplus", -nn._t(x)),
            special.ndtr: nn.ndtr,
            special.entr: nn.scipy_entr,
            **special_functions.scipy_table(special),
        })
    return _SCIPY


def _supported():
    names = sorted({f"np.{u.__name__}" for u in UFUNCS} | {f"np.{_name(f)}" for f in FUNCTIONS})
    return ", ".join(names)


def _name(func):
    module = getattr(func, "__module__", "") or ""
    return ("linalg." if "linalg" in module else "") + func.__name__


def _structural(func):
    """Run NumPy's own function on the object arrays: for shape-only functions."""
    def unwrap(value):
        if isinstance(value, Placeholder):
            return value.data
        if isinstance(value, (list, tuple)):
            return type(value)(unwrap(v) for v in value)
        return value

    def run(*args, **kwargs):
        result = func(*unwrap(args), **{k: unwrap(v) for k, v in kwargs.items()})
        if isinstance(result, (list, tuple)):
            return type(result)(wrap(r) for r in result)
        return wrap(result)

    return run


def _reduction(impl, name):
    def run(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        _no_out(out, name)
        if kwargs:  # initial= / where=: ignoring them would change the value silently
            raise trace_error(f"np.{name}(..., {'=..., '.join(kwargs)}=...)",
                              f"apply the mask or the initial value before calling np.{name}")
        return impl(a, axis, bool(keepdims))

    return run


def _var(a, *args, **kwargs):
    return variance.numpy_var("np.var", a, args, kwargs)


def _std(a, *args, **kwargs):
    return variance.numpy_var("np.std", a, args, kwargs)


def _no_out(out, name):
    if out is not None:
        raise trace_error(f"np.{name}(..., out=...) writes into a preallocated array",
                          "assign the result instead")


def _where(cond, a=None, b=None):
    if a is None or b is None:
        raise trace_error("np.where(cond) with one argument returns indices of traced values",
                          "use np.where(cond, a, b)")
    return elementwise("where", cond, a, b)


def _round(a, decimals=0, out=None):
    _no_out(out, "round")
    return rounded(wrap(as_objects(a)), decimals)


def _clip(a, a_min=None, a_max=None, out=None, **kwargs):
    _no_out(out, "clip")
    a_min = kwargs.get("min", a_min)
    a_max = kwargs.get("max", a_max)
    return clamped(a, a_min, a_max)


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    _no_out(out, "trace")
    return arrays.reduce_sum(wrap(np.diagonal(as_objects(a), offset, axis1, axis2)), -1)


def _outer(a, b, out=None):
    _no_out(out, "outer")
    return wrap(np.multiply.outer(as_objects(a).reshape(-1), as_objects(b).reshape(-1)))


def _tensordot(a, b, axes=2):
    a, b = as_objects(a), as_objects(b)
    if isinstance(axes, int):
        axes_a, axes_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        axes_a, axes_b = ([x] if isinstance(x, int) else list(x) for x in axes)
    free_a = [k for k in range(a.ndim) if k not in [x % a.ndim for x in axes_a]]
    free_b = [k for k in range(b.ndim) if k not in [x % b.ndim for x in axes_b]]
    a2 = np.transpose(a, free_a + [x % a.ndim for x in axes_a])
    b2 = np.transpose(b, [x % b.ndim for x in axes_b] + free_b)
    k = int(np.prod([a.shape[x] for x in axes_a], dtype=np.int64))
    product = arrays.matmul(a2.reshape(-1, k), b2.reshape(k, -1)).data
    return wrap(product.reshape([a.shape[x] for x in free_a] + [b.shape[x] for x in free_b]))


def _conversion(func):
    """``np.array``/``np.asarray``/...: NumPy's own copy-or-view rule (``copy=``, ``order=``,
    ``ndmin=``), run on the object array, so that writes reach what NumPy would share."""

    def run(a, dtype=None, *args, like=None, **kwargs):
        if dtype is not None and np.dtype(dtype).kind != "f":
            raise trace_error(f"converting traced values to {np.dtype(dtype)}",
                              "keep traced values floating point")
        data = a.data if isinstance(a, Placeholder) else as_objects(a)
        return wrap(func(data, None, *args, **kwargs))

    return run


def _cumprod(a, axis=None, dtype=None, out=None):
    _no_out(out, "cumprod")
    data = as_objects(a)
    return nn.cumprod(wrap(data.reshape(-1)) if axis is None else wrap(data), 0 if axis is None else axis)


def _polyval(p, x):
    """Horner's rule, as NumPy."""
    coefficients = as_objects(p)
    result = wrap(np.zeros_like(as_objects(x)) + coefficients[0]) if coefficients.size else 0 * wrap(as_objects(x))
    for c in coefficients[1:]:
        result = result * x + c
    return result


def _vander(x, N=None, increasing=False):
    data = as_objects(x)
    n = data.shape[0] if N is None else N
    powers = range(n) if increasing else range(n - 1, -1, -1)
    return wrap(np.stack([data ** k if k else data * 0 + 1 for k in powers], axis=1))


_MODES = {"v": "valid", "s": "same", "f": "full", 0: "valid", 1: "same", 2: "full"}


def _signal(value, name: str, function: str) -> np.ndarray:
    """A 1-D operand of np.convolve / np.correlate, as NumPy takes it (a number is one sample)."""
    data = as_objects(value)
    data = data.reshape(-1) if data.ndim == 0 else data
    if data.ndim != 1:
        raise trace_error(f"np.{function} of a {data.ndim}-D array", "pass 1-D arrays, as NumPy requires")
    if not data.size:
        raise ValueError(f"{name} cannot be empty")
    return data


def _mode(mode, function: str) -> str:
    key = mode.lower()[:1] if isinstance(mode, str) else mode
    if isinstance(key, bool) or key not in _MODES:
        raise trace_error(f"np.{function}(..., mode={mode!r})", "use mode='full', 'same' or 'valid'")
    return _MODES[key]


def _convolve(a, v, mode="full"):
    """np.convolve: NumPy's correlation of ``a`` with ``v`` reversed, the longer operand first."""
    a, v = _signal(a, "a", "convolve"), _signal(v, "v", "convolve")
    if v.size > a.size:
        a, v = v, a
    return wrap(_correlation(a, v[::-1], _mode(mode, "convolve")))


def _correlate(a, v, mode="valid"):
    """np.correlate (real operands): with ``v`` the longer, NumPy correlates the other way round and
    reverses the result."""
    a, v = _signal(a, "a", "correlate"), _signal(v, "v", "correlate")
    mode = _mode(mode, "correlate")
    return wrap(_correlation(v, a, mode)[::-1] if v.size > a.size else _correlation(a, v, mode))


def _correlation(a, v, mode: str) -> np.ndarray:
    """``c[k] = sum_i a[k - (m - 1) + i] * v[i]`` for ``len(v) = m <= len(a) = n``, each one n-ary sum
    (NumPy on object arrays adds term by term: 1 s for two signals of 400), cut as NumPy cuts ``mode``."""
    n, m = a.size, v.size
    full = np.empty(n + m - 1, dtype=object)
    for k in range(n + m - 1):
        first = max(0, m - 1 - k)
        full[k] = se.Add(*(a[k - (m - 1) + i] * v[i] for i in range(first, min(m, n + m - 1 - k))))  # never empty
    start, length = {"full": (0, n + m - 1), "same": ((m - 1) // 2, n), "valid": (m - 1, n - m + 1)}[mode]
    return full[start:start + length]


def _interp(x, xp, fp, left=None, right=None, period=None):
    """np.interp at traced ``x`` (``fp``, ``left``, ``right`` may be traced too): a chain of selects over
    the segments of the constant, increasing ``xp``.  Segment ``i`` holds ``xp[i] <= x < xp[i + 1]``,
    the last one its right end too; beyond the ends ``left`` and ``right`` (default ``fp[0]``,
    ``fp[-1]``).  The derivative at a knot is the right segment's slope, as JAX's ``interp``; a
    NaN ``x`` falls through to the last segment's formula and stays NaN, as in NumPy."""
    if period is not None:
        raise trace_error("np.interp(..., period=...)", "wrap x into one period first (x % period) and "
                                                        "extend xp and fp by one sample on each side")
    points = as_objects(xp)
    if points.dtype == object and not all(isinstance(p, (int, float)) or getattr(p, "is_Number", False)
                                          for p in points.reshape(-1)):
        raise trace_error("np.interp with traced sample points xp", "keep xp constant (differentiate through fp)")
    points = np.asarray(points, dtype=np.float64)
    values = as_objects(fp)
    if points.ndim != 1 or values.ndim != 1 or points.size != values.size:
        raise ValueError("fp and xp are not of the same length." if points.size != values.size
                         else "object too deep for desired array")
    if not points.size:
        raise ValueError("array of sample points is empty")
    if np.any(np.diff(points) <= 0) or not np.all(np.isfinite(points)):
        raise trace_error("np.interp with sample points xp that do not strictly increase",
                          "sort xp (and fp with it) and drop repeated points")
    x = wrap(as_objects(x))
    left = values[0] if left is None else left
    right = values[-1] if right is None else right
    inside = values[0] * (x * 0 + 1) if points.size == 1 else _segment(x, points, values, points.size - 2)
    for i in range(points.size - 3, -1, -1):
        inside = elementwise("where", x < points[i + 1], _segment(x, points, values, i), inside)
    return elementwise("where", x < points[0], left, elementwise("where", x > points[-1], right, inside))


def _segment(x, points, values, i: int):
    """The line through samples ``i`` and ``i + 1``, at ``x``."""
    slope = (values[i + 1] - values[i]) / float(points[i + 1] - points[i])
    return values[i] + slope * (x - float(points[i]))


def _det(a):
    return linalg.det(a)


def _inv(a):
    return linalg.inv(a)


def _solve(a, b):
    return linalg.solve(a, b)


def _slogdet(a):
    return linalg.slogdet(a)


def _cholesky(a, upper=False):
    return linalg.cholesky(a, upper=upper)


def _matrix_power(a, n):
    return linalg.matrix_power(a, n)


FUNCTIONS = {
    # reductions
    np.sum: _reduction(arrays.reduce_sum, "sum"), np.prod: _reduction(arrays.prod, "prod"),
    np.mean: _reduction(arrays.mean, "mean"), np.max: _reduction(arrays.amax, "max"),
    np.min: _reduction(arrays.amin, "min"), np.amax: _reduction(arrays.amax, "amax"),
    np.amin: _reduction(arrays.amin, "amin"), np.var: _var, np.std: _std,
    np.linalg.norm: linalg.numpy_norm, np.trace: _trace,
    # elementwise functions that are not ufuncs
    np.where: _where, np.clip: _clip, np.round: _round, np.around: _round,
    # linear algebra
    np.dot: arrays.dot, np.vdot: lambda a, b: arrays.dot(_flat(a), _flat(b)),
    np.matmul: arrays.matmul, np.inner: arrays.inner, np.outer: _outer,
    np.einsum: arrays.einsum, np.tensordot: _tensordot,
    np.linalg.det: _det, np.linalg.inv: _inv, np.linalg.solve: _solve,
    np.linalg.slogdet: _slogdet, np.linalg.cholesky: _cholesky, np.linalg.matrix_power: _matrix_power,
    np.cumprod: _cumprod, np.polyval: _polyval, np.vander: _vander,
    np.convolve: _convolve, np.correlate: _correlate, np.interp: _interp,
    np.sort: ordering.numpy_sort, np.median: ordering.numpy_median, np.quantile: ordering.numpy_quantile,
    np.percentile: ordering.numpy_percentile,
    # conversions
    np.asarray: _conversion(np.asarray), np.array: _conversion(np.array),
    np.asanyarray: _conversion(np.asanyarray), np.ascontiguousarray: _conversion(np.ascontiguousarray),
}

STRUCTURAL = [
    np.reshape, np.ravel, np.transpose, np.swapaxes, np.moveaxis, np.concatenate,
    np.stack, np.hstack, np.vstack, np.column_stack, np.diag, np.diagonal, np.triu,
    np.tril, np.broadcast_to, np.squeeze, np.expand_dims, np.flip, np.roll, np.tile,
    np.repeat, np.atleast_1d, np.atleast_2d, np.atleast_3d, np.split, np.array_split,
    np.append, np.delete, np.insert, np.take, np.diagflat, np.copy, np.fliplr, np.flipud,
    np.rot90, np.cumsum, np.diff, np.kron, np.zeros_like, np.ones_like, np.full_like,
    np.shape, np.ndim, np.size, np.result_type,
]
_PLAIN = {np.shape, np.ndim, np.size, np.result_type}
for _func in STRUCTURAL:
    FUNCTIONS[_func] = _func if _func in _PLAIN else _structural(_func)


def _flat(value):
    return as_objects(value).reshape(-1)


def function_call(func, args, kwargs):
    impl = FUNCTIONS.get(func)
    if impl is None:
        raise trace_error(f"numpy function {_name(func)} is not supported by symhess",
                          "write it with supported NumPy functions (see the docs page "
                          "'What can be traced'), or open an issue")
    if func in _PLAIN:
        return _plain_call(func, args, kwargs)
    return impl(*args, **kwargs)


def _plain_call(func, args, kwargs):
    return func(*(a.data if isinstance(a, Placeholder) else a for a in args), **kwargs)
