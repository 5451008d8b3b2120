"""Helpers shared by the tracing tests.

``evaluate`` reads a trace's values by substituting numbers (no Numba compile, so
value checks are free); ``dual`` pairs a traced function with a NumPy reference so
that :func:`symhess.testing.check_derivatives` (through ``check``) compares the two.
"""

from __future__ import annotations

import numpy as np
import symengine as se

from symhess.convert import trace_style
from symhess.testing import check_derivatives
from symhess.tracing import Tensor, trace_function


def evaluate(func, *inputs):
    """``func``'s traced output(s) at ``inputs``, by substitution into the expressions.

    Torch inputs trace in torch's style (``x.var(0)`` is then PyTorch's, not NumPy's).
    """
    style = trace_style(inputs)
    inputs = [np.asarray(x, dtype=np.float64) for x in inputs]
    trace = trace_function(func, [x.shape for x in inputs], style=style)
    values = {symbol: se.RealDouble(value)
              for symbols, x in zip(trace.symbols, inputs)
              for symbol, value in zip(symbols.reshape(-1), x.reshape(-1).tolist())}
    outputs = tuple(np.array([float(e.subs(values)) for e in out.reshape(-1)]).reshape(out.shape)
                    for out in trace.outputs)
    return outputs if trace.output_is_tuple else outputs[0]


def dual(traced, reference):
    """One function: ``traced`` on placeholders, ``reference`` on NumPy arrays."""

    def func(*inputs):
        if isinstance(inputs[0], Tensor):
            return traced(*inputs)
        return reference(*inputs)

    return func


def weights(shape) -> np.ndarray:
    """Fixed non-zero weights of both signs, so that every output element counts."""
    k = np.arange(int(np.prod(shape, dtype=np.int64)))
    return ((0.6 + 0.4 * np.sin(1.7 * k)) * (-1.0) ** k).reshape(shape)


def scalarize(func, shape):
    """``func`` (array output of ``shape``) reduced to a scalar with a quadratic term."""
    w = weights(shape)

    def scalar(*inputs):
        out = func(*inputs)
        return np.sum(w * (out + 0.3 * out * out))

    return scalar


def check(func, *inputs):
    """``check_derivatives`` with fast simplification (SymPy's is tested elsewhere and
    would double the run time); inputs of different ndim are joined into one flat input
    (``symhess.testing`` splits a Hessian block ``H[i][j]`` at ``ndim // 2``, which is
    wrong when inputs ``i`` and ``j`` differ in ndim).
    """
    if len({np.ndim(x) for x in inputs}) <= 1:
        return check_derivatives(func, *inputs, simplify="fast")
    shapes = [np.shape(x) for x in inputs]
    bounds = np.cumsum([0] + [int(np.prod(s, dtype=np.int64)) for s in shapes]).tolist()

    def joined(z):
        return func(*(z[bounds[k]:bounds[k + 1]].reshape(s) for k, s in enumerate(shapes)))

    return check_derivatives(joined, np.concatenate([np.ravel(x) for x in inputs]), simplify="fast")
