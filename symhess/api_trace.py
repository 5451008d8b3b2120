"""``symhess.trace``: the traced SymPy expression of a function, nothing more."""

from __future__ import annotations

import numpy as np
import sympy as sp

from .convert import to_float64
from .tracing import trace_function


def trace(func, *example_inputs):
    """Call ``func`` on placeholders shaped like ``example_inputs``; return SymPy.

    A single-element output gives one SymPy expression; otherwise a SymPy
    ``Array`` shaped like the output (a tuple of them for tuple outputs).
    """
    result = trace_function(func, [np.shape(to_float64(v)) for v in example_inputs])
    converted = tuple(_to_sympy(out) for out in result.outputs)
    return converted if result.output_is_tuple else converted[0]


def _to_sympy(array):
    if array.size == 1 and array.ndim <= 1:
        return array.reshape(-1)[0]._sympy_()
    return sp.ImmutableDenseNDimArray([e._sympy_() for e in array.reshape(-1)], array.shape)
