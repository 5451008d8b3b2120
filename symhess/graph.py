"""Drop-in results with ``create_graph=True``: torch tensors carrying symbolic autograd nodes."""

from __future__ import annotations

import numpy as np
import symengine as se

from .autograd import ExpressionNode, apply, differentiable_inputs

# With create_graph=True PyTorch keeps every result connected to its (re-wrapped) inputs, so
# its strict checks on the second derivative never fire for functions of the inputs; the
# checks on the function and its gradient (symhess.strict) still apply before this point.


def _offsets(compiled):
    return compiled._offsets


def hessian_with_graph(compiled, inputs):
    """Hessian blocks as differentiable torch tensors (third and higher derivatives symbolic)."""
    import torch

    with torch.enable_grad():  # as PyTorch: a graph even under torch.no_grad()
        return _hessian_with_graph(compiled, inputs)


def _hessian_with_graph(compiled, inputs):
    derivs = compiled._derivatives()
    n = len(derivs.variables)
    dense = [[se.Integer(0)] * n for _ in range(n)]
    for (i, j), entry in derivs.hessian.items():
        dense[i][j] = dense[j][i] = entry
    offsets = _offsets(compiled)
    node = ExpressionNode.of([e for row in dense for e in row], derivs.variables)
    flat = apply(node, differentiable_inputs(inputs)).reshape(n, n)
    return tuple(
        tuple(flat[offsets[i]:offsets[i + 1], offsets[j]:offsets[j + 1]]
              .reshape(tuple(inputs[i].shape) + tuple(inputs[j].shape)).to(inputs[j].dtype)
              for j in range(len(inputs)))
        for i in range(len(inputs)))


def product_with_graph(compiled, inputs, v):
    """``(func_output, hvp or vhp)`` as differentiable torch tensors."""
    import torch

    with torch.enable_grad():  # as PyTorch: a graph even under torch.no_grad()
        return _product_with_graph(compiled, inputs, v)


def _product_with_graph(compiled, inputs, v):
    import torch

    derivs = compiled._derivatives()
    offsets = _offsets(compiled)
    node = ExpressionNode.of((derivs.value, *derivs.hvp), derivs.variables + derivs.direction)
    directions = tuple(
        (x.view_as(x) if x.requires_grad else x.detach()) if isinstance(x, torch.Tensor)
        else torch.as_tensor(np.asarray(x, dtype=np.float64))
        for x in v)
    flat = apply(node, differentiable_inputs(inputs) + directions)
    dtype = inputs[0].dtype
    for x in inputs[1:]:
        dtype = torch.promote_types(dtype, x.dtype)
    func_output = flat[0].reshape(compiled._output_shape).to(dtype)
    result = tuple(flat[1 + offsets[i]:1 + offsets[i + 1]].reshape(inputs[i].shape).to(inputs[i].dtype)
                   for i in range(len(inputs)))
    return func_output, result
