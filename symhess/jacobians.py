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
from .tracing.elementwise import graph_inputs

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
    if strict:
        _check_strict(trace)
    module, rows, cols, m, n = _compiled_jacobian(trace)
    x = np.concatenate([to_float64(v).reshape(-1) for v in inputs]) if n else np.zeros(0)
    y, values = np.empty(m), np.empty(len(rows))
    module.jacobian(np.ascontiguousarray(x), np.zeros(0), y, values)
    dense = np.zeros((m, n))
    dense[rows, cols] = values
    out_offsets = np.cumsum([0] + [o.size for o in trace.outputs])
    in_offsets = np.cumsum([0] + [int(np.prod(s, dtype=np.int64)) for s in trace.shapes])
    return tuple(
        tuple(dense[out_offsets[i]:out_offsets[i + 1], in_offsets[j]:in_offsets[j + 1]]
              .reshape(trace.outputs[i].shape + trace.shapes[j])
              for j in range(len(trace.shapes)))
        for i in range(len(trace.outputs)))


def _check_strict(trace):
    """PyTorch's strict checks of ``jacobian``, in its order, from the connections of its autograd
    graph (:func:`graph_inputs`): an output that requires no gradient (it reaches no input and no
    ``requires_grad_()`` leaf), then an output whose graph does not reach an input.  Connections,
    not non-zero derivatives: ``floor(x)`` reaches ``x``; a ``requires_grad_()`` leaf cut from the
    inputs requires grad but reaches none of them."""
    blocks = [set(symbols.reshape(-1)) for symbols in trace.symbols]
    reached = []
    for i, out in enumerate(trace.outputs):
        symbols, marked = graph_inputs(out.reshape(-1))
        if not (marked or any(symbols & block for block in blocks)):
            raise RuntimeError(OUTPUT_NO_GRAD.replace("Output 0", f"Output {i}"))
        reached.append(symbols)
    for i, symbols in enumerate(reached):
        for j, block in enumerate(blocks):
            if not symbols & block:
                raise RuntimeError(BLOCK_INDEPENDENT.format(i, j))
