"""Small dense linear algebra in closed form: determinants, inverses, solves, Cholesky, norms.

Formulas grow factorially with the size, so square matrices are limited to
:data:`MAX_SIZE` (batches of them are fine); decompositions without a closed form
(eigenvalues, singular values, QR, LU pivoting) are refused by name.
"""

from __future__ import annotations

import collections

import numpy as np
import symengine as se

from . import arrays
from .errors import trace_error
from .placeholder import as_objects, wrap

MAX_SIZE = 4


def _square(data, name):
    if data.ndim < 2 or data.shape[-1] != data.shape[-2]:
        raise trace_error(f"{name} of an array of shape {data.shape}", "pass square matrices (..., n, n)")
    if data.shape[-1] > MAX_SIZE:
        raise trace_error(f"{name} of {data.shape[-1]}x{data.shape[-1]} matrices (symbolic formulas grow "
                          "factorially)", f"use matrices of size at most {MAX_SIZE}, or rewrite with a factorisation")


def _batched(data, function, out_shape):
    """Apply ``function(matrix) -> object array of out_shape`` to every matrix of a batch."""
    batch = data.shape[:-2]
    result = np.empty(batch + out_shape, dtype=object)
    for index in np.ndindex(*batch):
        result[index] = function(data[index])
    return result


def _det(matrix):
    n = matrix.shape[0]
    if n == 0:
        return se.Integer(1)
    if n == 1:
        return matrix[0, 0]
    if n == 2:
        return matrix[0, 0] * matrix[1, 1] - matrix[0, 1] * matrix[1, 0]
    return se.Matrix(matrix.tolist()).det()


def det(a):
    data = as_objects(a)
    _square(data, "det")
    result = np.empty(data.shape[:-2], dtype=object)
    for index in np.ndindex(*data.shape[:-2]):
        result[index] = _det(data[index])
    return wrap(result)


def _inverse(matrix):
    n = matrix.shape[0]
    inverse = se.Matrix(matrix.tolist()).inv()
    return np.array([[inverse[i, j] for j in range(n)] for i in range(n)], dtype=object).reshape(n, n)


def inv(a):
    data = as_objects(a)
    _square(data, "inv")
    return wrap(_batched(data, _inverse, data.shape[-2:]))


def inv_ex(a, *, check_errors=False, out=None):
    return inv(a), wrap(np.zeros(as_objects(a).shape[:-2], dtype=object) + se.Integer(0))


def solve(a, b, *, left=True, out=None):
    """``A^{-1} B`` (``left``) or ``B A^{-1}``; a vector B when its shape is A's without the last dim."""
    data = as_objects(a)
    _square(data, "solve")
    inverse = inv(a)
    rhs = as_objects(b)
    if not left:
        return arrays.matmul(rhs, inverse)
    if rhs.ndim == 1 or rhs.shape == data.shape[:-1]:
        return arrays.matmul(inverse, wrap(rhs[..., None])).reshape(rhs.shape) if rhs.ndim > 1 else \
            arrays.matmul(inverse, rhs)
    return arrays.matmul(inverse, rhs)


SlogdetResult = collections.namedtuple("SlogdetResult", ["sign", "logabsdet"])
"""What NumPy's and PyTorch's slogdet return: ``.logabsdet`` works as with them."""


def slogdet(a):
    d = det(a)
    return SlogdetResult(d.sign().detach(), abs(d).log())


def logdet(a):
    """PyTorch's: log(det), NaN for a negative determinant."""
    return det(a).log()


def cholesky(a, *, upper=False, out=None):
    """From the lower triangle of the symmetrised matrix (PyTorch's gradient is symmetric too)."""
    data = as_objects(a)
    _square(data, "cholesky")

    def factor(matrix):
        n = matrix.shape[0]
        sym = (matrix + matrix.T) * se.Rational(1, 2)
        low = np.zeros((n, n), dtype=object) + se.Integer(0)
        for j in range(n):
            low[j, j] = se.sqrt(sym[j, j] - se.Add(*[low[j, k] ** 2 for k in range(j)]))
            for i in range(j + 1, n):
                low[i, j] = (sym[i, j] - se.Add(*[low[i, k] * low[j, k] for k in range(j)])) / low[j, j]
        return low.T.copy() if upper else low

    return wrap(_batched(data, factor, data.shape[-2:]))


def matrix_power(a, n):
    data = as_objects(a)
    if data.ndim < 2 or data.shape[-1] != data.shape[-2]:
        raise trace_error(f"matrix_power of an array of shape {data.shape}", "pass square matrices")
    n = int(n)
    if n < 0:
        return matrix_power(inv(a), -n)
    size = data.shape[-1]
    result = wrap(np.broadcast_to(np.eye(size, dtype=object) * se.Integer(1), data.shape).copy())
    for index in np.ndindex(*result.data.shape):
        result.data[index] = se.Integer(1) if index[-1] == index[-2] else se.Integer(0)
    base = wrap(data)
    while n:
        if n & 1:
            result = arrays.matmul(result, base)
        n >>= 1
        if n:
            base = arrays.matmul(base, base)
    return result


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):  # noqa: A002
    if out is not None:
        raise trace_error("linalg.vector_norm(..., out=...)", "assign the result instead")
    t = wrap(as_objects(x))
    if ord == 0:
        return arrays.reduce_sum((t != 0).detach(), dim, keepdim)
    return arrays.norm(t, ord, dim, keepdim)


def numpy_norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - NumPy's name
    """NumPy's rule: a 2-D input (or a pair of axes) takes matrix norms, not vector p-norms."""
    data = as_objects(x)
    axes = tuple(range(data.ndim)) if axis is None else axis
    if ord in (None, "fro") or not (isinstance(axes, tuple) and len(axes) == 2):
        return arrays.norm(x, ord, axis, keepdims)
    if ord not in (1, -1, np.inf, -np.inf):
        raise trace_error(f"np.linalg.norm of a matrix with ord={ord!r} (singular values)",
                          "use ord=None/'fro', 1, -1, inf or -inf")
    rows, cols = axes if abs(ord) == 1 else axes[::-1]  # 1: largest column sum, inf: row sum
    sums = arrays.reduce_sum(abs(wrap(data)), rows, keepdims=True)
    result = (arrays.amax if ord > 0 else arrays.amin)(sums, cols, keepdims=True)
    return result if keepdims else arrays.squeeze(result, axes)


def matrix_norm(a, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, out=None):  # noqa: A002
    if ord in ("nuc", 2, -2):
        raise trace_error(f"matrix_norm with ord={ord!r} (singular values have no closed form)",
                          "use ord='fro', 1, -1, inf or -inf")
    data = as_objects(a)
    axes = tuple(d % data.ndim for d in dim)
    return numpy_norm(wrap(data), None if ord == "fro" else ord, axes, keepdim)


def linalg_norm(a, ord=None, dim=None, keepdim=False, *, out=None, dtype=None):  # noqa: A002
    """``torch.linalg.norm``: a matrix norm for two dims (or a 2-D input without dim), else a vector norm."""
    data = as_objects(a)
    if (dim is None and data.ndim == 2 and ord is not None) or (isinstance(dim, (tuple, list)) and len(dim) == 2):
        return matrix_norm(a, "fro" if ord is None else ord, tuple(dim) if dim is not None else (-2, -1), keepdim)
    if ord is None:
        return vector_norm(a, 2, dim, keepdim)
    return vector_norm(a, ord, dim, keepdim)


def multi_dot(tensors, *, out=None):
    result = tensors[0]
    for t in tensors[1:]:
        result = arrays.matmul(result, t)
    return result


def refuse(name, reason):
    def call(*args, **kwargs):
        raise trace_error(f"{name} of traced values: {reason}",
                          "compute it outside the traced function, or use det/inv/solve/cholesky "
                          f"of matrices of size at most {MAX_SIZE}")

    call.__name__ = name
    return call
