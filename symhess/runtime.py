"""Numba helpers that generated modules import (compiled once, cached on disk)."""

from __future__ import annotations

import math

import numba
import numpy as np

_JIT = dict(cache=True, nogil=True, error_model="numpy")


@numba.njit(**_JIT)
def _maxof(values):
    best = values[0]
    for v in values:
        if v != v:
            return v
        if v > best:
            best = v
    return best


@numba.njit(**_JIT)
def _minof(values):
    best = values[0]
    for v in values:
        if v != v:
            return v
        if v < best:
            best = v
    return best


@numba.njit(**_JIT)
def _logsumexp(values):
    top = _maxof(values)
    if math.isinf(top) or top != top:
        return top
    total = 0.0
    for v in values:
        total += math.exp(v - top)
    return top + math.log(total)


@numba.njit(**_JIT)
def _sign(u):
    if u > 0.0:
        return 1.0
    if u < 0.0:
        return -1.0
    return u  # 0.0, -0.0 and NaN stay as they are


@numba.njit(**_JIT)
def _softplus(u):
    if u > 0.0:
        return u + math.log1p(math.exp(-u))
    return math.log1p(math.exp(u))


@numba.njit(**_JIT)
def _cbrt(u):
    return math.copysign(abs(u) ** (1.0 / 3.0), u)


@numba.njit(**_JIT)
def _round(u):
    return np.round(u)


@numba.njit(**_JIT)
def scatter_symmetric(values, rows, cols, out):
    """Write upper-triangle values into both triangles of a dense matrix."""
    for k in range(values.shape[0]):
        out[rows[k], cols[k]] = values[k]
        out[cols[k], rows[k]] = values[k]
