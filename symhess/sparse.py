"""Sparse Hessians and SciPy optimizer callbacks, over the flat differentiated variables.

Solvers see one flat vector ``x`` (all ``wrt`` inputs, flattened and concatenated in
order) and want the Hessian without n² storage: interior-point codes take the
structure once and then only the values in that fixed order; SciPy takes a sparse
matrix.  The kernels already compute exactly the upper triangle's structural
non-zeros, so both come without densifying.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .convert import kernel_vector


@dataclass(frozen=True)
class CsrLayout:
    """Where each upper-triangle value goes in the full symmetric CSR matrix."""

    n: int
    indptr: np.ndarray
    indices: np.ndarray
    source: np.ndarray   # CSR data = values[source]


def csr_layout(n: int, rows: np.ndarray, cols: np.ndarray) -> CsrLayout:
    """The CSR structure of the full symmetric matrix with upper triangle ``(rows, cols)``."""
    off = rows != cols
    full_rows = np.concatenate([rows, cols[off]])
    full_cols = np.concatenate([cols, rows[off]])
    source = np.concatenate([np.arange(len(rows)), np.flatnonzero(off)])
    order = np.lexsort((full_cols, full_rows))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(full_rows, minlength=n), out=indptr[1:])
    return CsrLayout(n, indptr, full_cols[order].astype(np.int64), source[order])


def csr_matrix(layout: CsrLayout, values: np.ndarray):
    """The full symmetric ``scipy.sparse.csr_array`` from the upper-triangle ``values``."""
    from scipy.sparse import csr_array

    return csr_array((values[layout.source], layout.indices, layout.indptr), shape=(layout.n, layout.n))


class ScipyCallbacks:
    """``fun``, ``jac``, ``hess`` and ``hessp`` of a compiled function, for ``scipy.optimize.minimize``.

    Each takes SciPy's flat ``x`` (the ``wrt`` inputs flattened and concatenated);
    the runtime parameters are fixed when the callbacks are made.  ``hess`` returns
    a sparse matrix (``sparse=True``, for ``trust-constr``) or a dense array.
    """

    def __init__(self, compiled, parameters: np.ndarray, sparse: bool):
        self._compiled = compiled  # its kernels: tier 0's until Numba's are ready
        self._p = parameters
        self._n = compiled._built.layout.n
        self._nnz = len(compiled._built.layout.rows)
        self._csr = compiled._csr_layout() if sparse else None
        self._dense, self._product = compiled.dense_kernel(), compiled.product_kernel()

    def _x(self, x) -> np.ndarray:
        x = kernel_vector(x)
        if x.shape != (self._n,):
            raise ValueError(f"x has {x.size} values; the differentiated inputs have {self._n}")
        return x

    def fun(self, x) -> float:
        return float(self._compiled._kernels.value(self._x(x), self._p))

    def jac(self, x) -> np.ndarray:
        g = np.empty(self._n)
        self._compiled._kernels.gradient(self._x(x), self._p, g)
        return g

    def hess(self, x):
        if self._csr is None:
            return self._dense(self._x(x), self._p)
        values = np.empty(self._nnz)
        self._compiled._kernels.hessian(self._x(x), self._p, values)
        return csr_matrix(self._csr, values)

    def hessp(self, x, p) -> np.ndarray:
        return self._product(self._x(x), self._p, self._x(p))[1]

    @property
    def kwargs(self) -> dict:
        """``fun``, ``jac`` and ``hess`` by name: ``minimize(x0=x0, method=..., **callbacks.kwargs)``."""
        return {"fun": self.fun, "jac": self.jac, "hess": self.hess}
