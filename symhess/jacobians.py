"""``jacobian``, ``vjp`` and ``jvp`` of traced tensor- or tuple-valued functions, in float64.

A trace becomes one :class:`~symhess.expression_lists.ExpressionList`: its outputs flattened in
order, over its inputs' symbols and, as parameters, the data it read (runtime values: new data of
the same shapes reuses the compiled code).
"""

from __future__ import annotations

import numpy as np

from .convert import kernel_vector
from .expression_lists import NO_DATA, ExpressionList, expression_list, split_blocks, split_vector
from .lru import LRU

_BY_OUTPUTS = LRU(64)  # id(trace.traced_outputs) -> (those outputs, their list): traces sharing them


def traced_list(trace) -> ExpressionList:
    """The trace's expression list; found without computing its key again for a trace that shares
    its outputs with an earlier one (a trace bound to new data)."""
    known = _BY_OUTPUTS.get(id(trace.traced_outputs))
    if known is not None and known[0] is trace.traced_outputs:
        return known[1]
    listed = _listed(trace)
    _BY_OUTPUTS[id(trace.traced_outputs)] = (trace.traced_outputs, listed)
    return listed


def _listed(trace) -> ExpressionList:
    return expression_list([e for out in trace.outputs for e in out.reshape(-1)],
                           [s for sym in trace.symbols for s in sym.reshape(-1)],
                           [s for sym in trace.data_symbols for s in sym.reshape(-1)])


def _point(trace, inputs) -> tuple[np.ndarray, np.ndarray]:
    """The flat inputs and the flat data of ``trace``."""
    x = np.concatenate([kernel_vector(v) for v in inputs]) if inputs else NO_DATA
    data = trace.data_values
    return x, (np.concatenate([d.reshape(-1) for d in data]) if data else NO_DATA)


def _output_shapes(trace) -> list:
    return [out.shape for out in trace.outputs]


def jacobian(trace, inputs) -> tuple:
    """Blocks ``J[i][j]`` of shape ``out_i.shape + in_j.shape``."""
    _, dense = traced_list(trace).dense_jacobian(*_point(trace, inputs))
    return split_blocks(dense, _output_shapes(trace), trace.shapes)


def vjp(trace, inputs, v) -> tuple[tuple, tuple]:
    """The outputs and ``v @ J`` shaped as the inputs, ``v`` one array per output."""
    x, data = _point(trace, inputs)
    y, product = traced_list(trace).vjp(x, np.concatenate([kernel_vector(w) for w in v]), data)
    return split_vector(y, _output_shapes(trace)), split_vector(product, trace.shapes)


def jvp(trace, inputs, v) -> tuple[tuple, tuple]:
    """The outputs and ``J @ v`` shaped as the outputs, ``v`` one array per input."""
    x, data = _point(trace, inputs)
    tangent = np.concatenate([kernel_vector(t) for t in v]) if v else NO_DATA
    y, product = traced_list(trace).jvp(x, tangent, data)
    return split_vector(y, _output_shapes(trace)), split_vector(product, _output_shapes(trace))
