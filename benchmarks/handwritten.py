"""Hand-written Numba kernels of each problem's analytic Hessian: the speed-of-light baseline.

Per family: ``value(x, *data)``, ``hessian_into(x, H, *data)`` (adds the Hessian into a
zeroed ``H``) and ``hvp(x, v, out, *data)`` (writes ``H @ v`` into ``out``, returns the
value), derived by hand from the formulas in ``problems.py`` (each derivation is in the
kernel's docstring). :func:`kernels` wraps them as ``hessian(x)``, ``hvp(x, v)`` and the
parallel ``hessian_batch(X)`` with the problem's data bound.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numba
import numpy as np


# ----- sum of cubes and PyTorch's pow_adder_reducer: diagonal Hessians ---------------
@numba.njit
def sum_of_cubes_value(x):
    return np.sum(x ** 3)


@numba.njit
def sum_of_cubes_hessian_into(x, H):
    for i in range(x.size):
        H[i, i] = 6 * x[i]


@numba.njit
def sum_of_cubes_hvp(x, v, out):
    value = 0.0
    for i in range(x.size):
        out[i] = 6 * x[i] * v[i]
        value += x[i] ** 3
    return value


@numba.njit
def pow_adder_reducer_value(x):
    return 2 * (x[0] ** 2 + x[1] ** 2) + 3 * (x[2] ** 2 + x[3] ** 2)


@numba.njit
def pow_adder_reducer_hessian_into(x, H):
    H[0, 0] = H[1, 1] = 4.0
    H[2, 2] = H[3, 3] = 6.0


@numba.njit
def pow_adder_reducer_hvp(x, v, out):
    out[0], out[1], out[2], out[3] = 4 * v[0], 4 * v[1], 6 * v[2], 6 * v[3]
    return pow_adder_reducer_value(x)


# ----- chained Rosenbrock: tridiagonal -----------------------------------------------
@numba.njit
def rosenbrock_value(x):
    value = 0.0
    for i in range(x.size - 1):
        value += 100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return value


@numba.njit
def rosenbrock_hessian_into(x, H):
    """Term i adds 1200 x_i^2 - 400 x_{i+1} + 2 at (i, i), 200 at (i+1, i+1), -400 x_i at (i, i+1)."""
    for i in range(x.size - 1):
        H[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        H[i + 1, i + 1] += 200.0
        H[i, i + 1] = H[i + 1, i] = -400 * x[i]


@numba.njit
def rosenbrock_tridiagonal(x):
    """The Hessian's diagonal and first off-diagonal: all it has (the sparse speed of light)."""
    diagonal, off = np.zeros(x.size), np.empty(x.size - 1)
    for i in range(x.size - 1):
        diagonal[i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        diagonal[i + 1] += 200.0
        off[i] = -400 * x[i]
    return diagonal, off


@numba.njit
def rosenbrock_hvp(x, v, out):
    out[:] = 0.0
    value = 0.0
    for i in range(x.size - 1):
        value += 100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
        off = -400 * x[i]
        out[i] += (1200 * x[i] ** 2 - 400 * x[i + 1] + 2) * v[i] + off * v[i + 1]
        out[i + 1] += 200 * v[i + 1] + off * v[i]
    return value


# ----- logistic regression: X^T diag(s (1 - s)) X -----------------------------------
@numba.njit
def _dot(row, w):
    total = 0.0
    for i in range(w.size):
        total += row[i] * w[i]
    return total


@numba.njit
def logistic_value(w, X, y):
    value = 0.0
    for k in range(X.shape[0]):
        z = _dot(X[k], w)
        value += np.log1p(np.exp(z)) - y[k] * z
    return value


@numba.njit
def logistic_hessian_into(w, H, X, y):
    n = w.size
    for k in range(X.shape[0]):
        e = np.exp(_dot(X[k], w))
        d = e / (1 + e) ** 2  # s (1 - s) with s = e / (1 + e)
        for i in range(n):
            a = d * X[k, i]
            for j in range(i, n):
                H[i, j] += a * X[k, j]
    for i in range(n):
        for j in range(i):
            H[i, j] = H[j, i]


@numba.njit
def logistic_hvp(w, v, out, X, y):
    out[:] = 0.0
    value = 0.0
    for k in range(X.shape[0]):
        z = _dot(X[k], w)
        e = np.exp(z)
        value += np.log1p(e) - y[k] * z
        scale = e / (1 + e) ** 2 * _dot(X[k], v)
        for i in range(w.size):
            out[i] += scale * X[k, i]
    return value


# ----- Lennard-Jones: 3x3 pair blocks ------------------------------------------------
@numba.njit
def _separation(x, a, b, d):
    """Writes d = p_a - p_b; returns s = |d|^2 and phi'(s), phi''(s) for phi(s) = 4 (s^-6 - s^-3)."""
    for i in range(3):
        d[i] = x[3 * a + i] - x[3 * b + i]
    s = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    return s, 4 * (-6 * s ** -7 + 3 * s ** -4), 4 * (42 * s ** -8 - 12 * s ** -5)


@numba.njit
def lennard_jones_value(x, first, second):
    value, d = 0.0, np.empty(3)
    for k in range(first.size):
        s = _separation(x, first[k], second[k], d)[0]
        value += 4 * (s ** -6 - s ** -3)
    return value


@numba.njit
def lennard_jones_hessian_into(x, H, first, second):
    """Pair block B = 2 phi'(s) I + 4 phi''(s) d d^T: +B on both diagonal blocks, -B off them."""
    d = np.empty(3)
    for k in range(first.size):
        a, b = 3 * first[k], 3 * second[k]
        _, d1, d2 = _separation(x, first[k], second[k], d)
        for i in range(3):
            for j in range(3):
                block = 4 * d2 * d[i] * d[j] + (2 * d1 if i == j else 0.0)
                H[a + i, a + j] += block
                H[b + i, b + j] += block
                H[a + i, b + j] -= block
                H[b + i, a + j] -= block


@numba.njit
def lennard_jones_hvp(x, v, out, first, second):
    out[:] = 0.0
    value, d = 0.0, np.empty(3)
    for k in range(first.size):
        a, b = 3 * first[k], 3 * second[k]
        s, d1, d2 = _separation(x, first[k], second[k], d)
        value += 4 * (s ** -6 - s ** -3)
        dv0, dv1, dv2 = v[a] - v[b], v[a + 1] - v[b + 1], v[a + 2] - v[b + 2]
        along = 4 * d2 * (d[0] * dv0 + d[1] * dv1 + d[2] * dv2)
        for i, dv in ((0, dv0), (1, dv1), (2, dv2)):
            w = 2 * d1 * dv + along * d[i]
            out[a + i] += w
            out[b + i] -= w
    return value


# ----- sum((A x)^4) + sum(x^2): 12 A^T diag((A x)^2) A + 2 I ---------------------------
@numba.njit
def ax4_value(x, A):
    return np.sum((A @ x) ** 4) + np.sum(x ** 2)


@numba.njit
def ax4_hessian_into(x, H, A):
    """H = A^T D A + 2 I with D = diag(12 (A x)^2): rows of A scaled by D, then one product."""
    z = A @ x
    scaled = A * (12 * z * z).reshape(-1, 1)
    H += A.T @ scaled
    for i in range(x.size):
        H[i, i] += 2.0


@numba.njit
def ax4_hvp(x, v, out, A):
    z = A @ x
    out[:] = A.T @ (12 * z * z * (A @ v)) + 2 * v
    return np.sum(z ** 4) + np.sum(x ** 2)


# ----- MLP: Gauss-Newton part plus residual times the network's own Hessian ----------
@numba.njit
def _mlp_sample(theta, row, target, hidden, g, t, dt, ddt):
    """Writes the residual's gradient g and tanh, tanh', tanh'' of one sample's hidden layer; returns r."""
    columns = row.size
    r = theta[-1] - target
    for k in range(hidden):
        a = 0.0
        for j in range(columns):
            a += theta[k * columns + j] * row[j]
        t[k] = np.tanh(a)
        dt[k] = 1 - t[k] ** 2
        ddt[k] = -2 * t[k] * dt[k]
        w2 = theta[hidden * columns + k]
        r += w2 * t[k]
        for j in range(columns):
            g[k * columns + j] = w2 * dt[k] * row[j]
        g[hidden * columns + k] = t[k]
    g[-1] = 1.0
    return r


@numba.njit
def _mlp_work(theta, inputs):
    hidden = (theta.size - 1) // (inputs.shape[1] + 1)
    return hidden, np.empty(theta.size), np.empty(hidden), np.empty(hidden), np.empty(hidden)


@numba.njit
def mlp_value(theta, inputs, targets):
    hidden, g, t, dt, ddt = _mlp_work(theta, inputs)
    value = 0.0
    for b in range(inputs.shape[0]):
        value += _mlp_sample(theta, inputs[b], targets[b], hidden, g, t, dt, ddt) ** 2
    return value / inputs.shape[0]


@numba.njit
def mlp_hessian_into(theta, H, inputs, targets):
    """L = mean r^2: H = (2/B) sum (g g^T + r S), S having the W1-W1 blocks w2_k tanh''_k x x^T
    and the W1-w2 entries tanh'_k x (everything else in the residual is linear)."""
    samples, columns = inputs.shape
    hidden, g, t, dt, ddt = _mlp_work(theta, inputs)
    scale = 2.0 / samples
    for b in range(samples):
        row = inputs[b]
        r = _mlp_sample(theta, row, targets[b], hidden, g, t, dt, ddt)
        for i in range(theta.size):
            gi = scale * g[i]
            for j in range(i, theta.size):
                H[i, j] += gi * g[j]
        for k in range(hidden):
            base, w2_index = k * columns, hidden * columns + k
            curvature = scale * r * theta[w2_index] * ddt[k]
            for i in range(columns):
                H[base + i, w2_index] += scale * r * dt[k] * row[i]
                for j in range(i, columns):
                    H[base + i, base + j] += curvature * row[i] * row[j]
    for i in range(theta.size):
        for j in range(i):
            H[i, j] = H[j, i]


@numba.njit
def mlp_hvp(theta, v, out, inputs, targets):
    samples, columns = inputs.shape
    hidden, g, t, dt, ddt = _mlp_work(theta, inputs)
    scale = 2.0 / samples
    out[:] = 0.0
    value = 0.0
    for b in range(samples):
        row = inputs[b]
        r = _mlp_sample(theta, row, targets[b], hidden, g, t, dt, ddt)
        value += r * r
        gv = scale * (g @ v)
        for i in range(theta.size):
            out[i] += gv * g[i]
        for k in range(hidden):
            base, w2_index = k * columns, hidden * columns + k
            xv = 0.0
            for j in range(columns):
                xv += row[j] * v[base + j]
            c = scale * r * (theta[w2_index] * ddt[k] * xv + dt[k] * v[w2_index])
            for j in range(columns):
                out[base + j] += c * row[j]
            out[w2_index] += scale * r * dt[k] * xv
    return value / samples


# ----- wrappers with the data bound ----------------------------------------------------
@dataclass(frozen=True)
class Kernels:
    value: object
    hessian: object
    hvp: object
    hessian_batch: object


@functools.cache
def _batched(hessian_into):
    """A parallel loop over the rows of ``X`` around one family's ``hessian_into``."""

    @numba.njit(parallel=True)
    def batch(X, data):
        out = np.zeros((X.shape[0], X.shape[1], X.shape[1]))
        for b in numba.prange(X.shape[0]):
            hessian_into(X[b], out[b], *data)
        return out

    return batch


def kernels(problem) -> Kernels:
    """The hand-written evaluators of ``problem``, with its data bound, as NumPy callables."""
    module = globals()
    value, into, hvp = (module[f"{problem.kernel_family}_{name}"] for name in ("value", "hessian_into", "hvp"))
    data = tuple(np.ascontiguousarray(a) for a in problem.kernel_arrays)
    batch = _batched(into)

    def hessian(x):
        H = np.zeros((x.size, x.size))
        into(x, H, *data)
        return H

    def product(x, v):
        out = np.empty(x.size)
        return hvp(x, v, out, *data), out

    return Kernels(lambda x: value(x, *data), hessian, product, lambda X: batch(X, data))
