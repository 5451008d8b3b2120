"""Jacobians of tensor- or tuple-valued functions for the drop-in ``jacobian``."""

from __future__ import annotations

import hashlib

import numpy as np

from .cache import cache_dir
from .codegen import generate_jacobian
from .convert import to_float64
from .differentiate import jacobian as sparse_jacobian
from .jit import load
from .lru import LRU
from .strict import BLOCK_INDEPENDENT, OUTPUT_NO_GRAD

_MEMORY: dict[str, tuple] = LRU(64)


def _compiled_jacobian(trace):
    outputs = [e for out in trace.outputs for e in out.reshape(-1)]
    variables = [s for sym in trace.symbols for s in sym.reshape(-1)]
    key = hashlib.sha256((repr(trace.shapes) + "|" + "|".join(map(str, outputs))).encode()).hexdigest()
    if key not in _MEMORY:
        entries = sparse_jacobian(outputs, variables)
        module = load(generate_jacobian(outputs, variables, (), entries), cache_dir())
        rows = np.array([r for r, _ in entries], dtype=np.int64)
        cols = np.array([c for _, c in entries], dtype=np.int64)
        _MEMORY[key] = (module, rows, cols, len(outputs), len(variables))
    return _MEMORY[key]


def evaluate_jacobian(trace, inputs, strict: bool):
    """Blocks ``J[i][j]`` (NumPy float64) of shape ``out_i.shape + in_j.shape``."""
    module, rows, cols, m, n = _compiled_jacobian(trace)
    x = np.concatenate([to_float64(v).reshape(-1) for v in inputs]) if n else np.zeros(0)
    y, values = np.empty(m), np.empty(len(rows))
    module.jacobian(np.ascontiguousarray(x), np.zeros(0), y, values)
    dense = np.zeros((m, n))
    dense[rows, cols] = values
    out_offsets = np.cumsum([0] + [o.size for o in trace.outputs])
    in_offsets = np.cumsum([0] + [int(np.prod(s, dtype=np.int64)) for s in trace.shapes])
    if strict:
        _check_strict(rows, cols, out_offsets, in_offsets)
    return tuple(
        tuple(dense[out_offsets[i]:out_offsets[i + 1], in_offsets[j]:in_offsets[j + 1]]
              .reshape(trace.outputs[i].shape + trace.shapes[j])
              for j in range(len(trace.shapes)))
        for i in range(len(trace.outputs)))


def _check_strict(rows, cols, out_offsets, in_offsets):
    out_of = np.searchsorted(out_offsets, rows, side="right") - 1
    in_of = np.searchsorted(in_offsets, cols, side="right") - 1
    pairs = set(zip(out_of.tolist(), in_of.tolist()))
    for i in range(len(out_offsets) - 1):
        if not any(p[0] == i for p in pairs):
            raise RuntimeError(OUTPUT_NO_GRAD.replace("Output 0", f"Output {i}"))
    for i in range(len(out_offsets) - 1):
        for j in range(len(in_offsets) - 1):
            if (i, j) not in pairs:
                raise RuntimeError(BLOCK_INDEPENDENT.format(i, j))
