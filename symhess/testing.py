"""Check a function's symbolic derivatives against finite differences.

``check_derivatives(func, *inputs)`` compiles ``func`` with symhess and compares
its gradient, Hessian and Hessian-vector product with central differences of
``func`` evaluated in plain NumPy; symhess's own tests use it everywhere.
"""

from __future__ import annotations

import numpy as np

from .compiled import compile as compile_function

__all__ = ["check_derivatives", "numerical_gradient", "numerical_hessian"]


def _flat_function(func, inputs):
    shapes = [np.shape(x) for x in inputs]
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
    offsets = np.cumsum([0, *sizes])

    def flat(z):
        parts = [z[offsets[k]:offsets[k + 1]].reshape(shapes[k]) for k in range(len(shapes))]
        return float(np.asarray(func(*parts), dtype=np.float64).reshape(-1)[0])

    z0 = np.concatenate([np.asarray(x, dtype=np.float64).reshape(-1) for x in inputs])
    return flat, z0


def _richardson(difference, h):
    """Central difference with step h, refined by Richardson extrapolation (error O(h^4))."""
    return (4 * difference(h / 2) - difference(h)) / 3


def numerical_gradient(flat, z, step=1e-5):
    """Central differences (Richardson-refined) of a scalar function of a flat vector."""
    grad = np.empty_like(z)
    for k in range(z.size):
        def difference(h, k=k):
            up, down = z.copy(), z.copy()
            up[k] += h
            down[k] -= h
            return (flat(up) - flat(down)) / (2 * h)

        grad[k] = _richardson(difference, step * max(1.0, abs(z[k])))
    return grad


def numerical_hessian(flat, z, step=1e-4):
    """Richardson-refined central differences of the numerical gradient (symmetrised)."""
    n = z.size
    hess = np.empty((n, n))
    for k in range(n):
        def difference(h, k=k):
            up, down = z.copy(), z.copy()
            up[k] += h
            down[k] -= h
            return (numerical_gradient(flat, up) - numerical_gradient(flat, down)) / (2 * h)

        hess[:, k] = _richardson(difference, step * max(1.0, abs(z[k])))
    return (hess + hess.T) / 2


def _assert_close(name, got, want, rtol, atol):
    if not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
        worst = np.max(np.abs(np.asarray(got) - np.asarray(want)))
        raise AssertionError(f"symhess {name} differs from finite differences by up to {worst:.3g}"
                             f"\n symhess: {np.asarray(got)!r}\n finite differences: {np.asarray(want)!r}")


def check_derivatives(func, *inputs, rtol=1e-5, atol=1e-6, seed=0, **compile_options):
    """Assert that symhess's value, gradient, Hessian and hvp of ``func`` match NumPy.

    ``func`` must also run on plain NumPy arrays (the reference).

    Args:
        func: the function to check, as given to ``symhess.compile``.
        *inputs: the point to check at, one array per argument of ``func``.
        rtol: relative tolerance of the gradient and Hessian against finite differences.
        atol: absolute tolerance of the gradient and Hessian against finite differences.
        seed: seed of the random direction of the Hessian-vector product check.
        **compile_options: passed on to ``symhess.compile`` (``wrt``, ``simplify``, ...).

    Returns:
        The compiled object, so that callers can check more.

    Raises:
        AssertionError: a derivative differs, with both values in the message.
    """
    inputs = tuple(np.asarray(x, dtype=np.float64) for x in inputs)
    compiled = compile_function(func, *inputs, **compile_options)
    flat, z0 = _flat_function(func, inputs)
    n = z0.size
    _assert_close("value", float(np.asarray(compiled.value(*inputs)).reshape(-1)[0]), flat(z0), 1e-10, 1e-12)
    gradient = _as_flat(compiled.gradient(*inputs))
    _assert_close("gradient", gradient, numerical_gradient(flat, z0), rtol, atol)
    hessian = _as_flat_matrix(compiled.hessian(*inputs), inputs)
    value_scale = max(1.0, abs(flat(z0)))  # finite-difference Hessians lose digits relative to |f|
    _assert_close("Hessian", hessian, numerical_hessian(flat, z0), max(rtol, 1e-4),
                  max(atol, 1e-5, 1e-6 * value_scale))
    direction = np.random.default_rng(seed).standard_normal(n)
    vs = _split_like(direction, inputs)
    _, product = compiled.hvp(*inputs, v=vs[0] if len(inputs) == 1 else vs)
    scale = max(1.0, float(np.abs(hessian).max()) * float(np.abs(direction).sum()))
    _assert_close("hvp", _as_flat(product), hessian @ direction, 1e-9, 1e-12 * scale)
    return compiled


def _as_flat(value):
    if isinstance(value, tuple):
        return np.concatenate([np.asarray(v).reshape(-1) for v in value])
    return np.asarray(value).reshape(-1)


def _as_flat_matrix(value, inputs):
    """Hessian blocks (one array or a tuple of tuples) as one (n, n) matrix."""
    if not isinstance(value, tuple):
        n = sum(x.size for x in inputs)
        return np.asarray(value).reshape(n, n)
    return np.block([[np.asarray(block).reshape(inputs[i].size, inputs[j].size)
                      for j, block in enumerate(row)] for i, row in enumerate(value)])


def _split_like(flat, inputs):
    parts, start = [], 0
    for x in inputs:
        parts.append(flat[start:start + x.size].reshape(x.shape))
        start += x.size
    return tuple(parts)
