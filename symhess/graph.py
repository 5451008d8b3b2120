"""Drop-in results with ``create_graph=True``: torch tensors carrying symbolic autograd nodes."""

from __future__ import annotations

import numpy as np
import symengine as se

from .autograd import ExpressionNode, apply, differentiable_inputs

# With create_graph=True PyTorch keeps every result connected to its (re-wrapped) inputs, so
# its strict checks on the second derivative never fire for functions of the inputs; the
# checks on the function and its gradient (symhess.strict) still apply before this point.


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
    offsets = compiled._offsets
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
    offsets = compiled._offsets
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


def jacobian_with_graph(trace, inputs, strict: bool = False):
    """Jacobian blocks of a traced (tuple of) output(s) as differentiable torch tensors."""
    import torch

    from .differentiate import jacobian as sparse_jacobian

    outputs = [e for out in trace.outputs for e in out.reshape(-1)]
    variables = tuple(s for sym in trace.symbols for s in sym.reshape(-1))
    m, n = len(outputs), len(variables)
    dense = [[se.Integer(0)] * n for _ in range(m)]
    for (row, col), entry in sparse_jacobian(outputs, variables).items():
        dense[row][col] = entry
    node = ExpressionNode.of([e for row in dense for e in row], variables)
    out_offsets = np.cumsum([0] + [o.size for o in trace.outputs])
    in_offsets = np.cumsum([0] + [int(np.prod(s, dtype=np.int64)) for s in trace.shapes])
    if strict:
        _check_jacobian_graph(dense, set(variables), out_offsets, in_offsets)
    with torch.enable_grad():
        flat = apply(node, differentiable_inputs(inputs)).reshape(m, n)
        return tuple(
            tuple(flat[out_offsets[i]:out_offsets[i + 1], in_offsets[j]:in_offsets[j + 1]]
                  .reshape(tuple(trace.outputs[i].shape) + tuple(inputs[j].shape)).to(inputs[j].dtype)
                  for j in range(len(inputs)))
            for i in range(len(trace.outputs)))


def _check_jacobian_graph(dense, variables, out_offsets, in_offsets):
    """PyTorch's strict checks of jacobian(create_graph=True), in its loop order: per output
    and element, each input's row part must exist and must itself depend on the inputs."""
    from .strict import BLOCK_INDEPENDENT, GRAPH_JACOBIAN_CONSTANT

    for i in range(len(out_offsets) - 1):
        for row in range(out_offsets[i], out_offsets[i + 1]):
            for j in range(len(in_offsets) - 1):
                part = dense[row][in_offsets[j]:in_offsets[j + 1]]
                if all(e == 0 for e in part):
                    raise RuntimeError(BLOCK_INDEPENDENT.format(i, j))
                if not any(e.free_symbols & variables for e in part):
                    raise RuntimeError(GRAPH_JACOBIAN_CONSTANT.format(i))
