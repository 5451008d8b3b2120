"""Drop-in results with ``create_graph=True``: torch tensors carrying symbolic autograd nodes.

With create_graph=True PyTorch keeps every result connected to its (re-wrapped) inputs, so its
strict checks on the second derivative never fire for functions of the inputs; the checks on the
function and its gradient (:mod:`symhess.strict`) run before these.
"""

from __future__ import annotations

import symengine as se

from .autograd import apply, differentiable_inputs, directions
from .convert import compute_dtype
from .expression_lists import expression_list, split_blocks, split_vector
from .jacobians import traced_list


def _with_grad(function):
    """As PyTorch: a graph even under ``torch.no_grad()``."""
    def wrapped(*args):
        import torch

        with torch.enable_grad():
            return function(*args)

    wrapped.__doc__ = function.__doc__
    return wrapped


def _shapes(tensors) -> list:
    return [tuple(x.shape) for x in tensors]


def _cast_columns(blocks, inputs) -> tuple:
    """Block ``[i][j]`` in input ``j``'s dtype, as PyTorch gives it."""
    return tuple(tuple(block.to(inputs[j].dtype) for j, block in enumerate(row)) for row in blocks)


@_with_grad
def hessian_with_graph(compiled, inputs):
    """Hessian blocks as differentiable torch tensors (third and higher derivatives symbolic)."""
    derivs = compiled._derivatives()
    n = len(derivs.variables)
    dense = [[se.Integer(0)] * n for _ in range(n)]
    for (i, j), entry in derivs.hessian.items():
        dense[i][j] = dense[j][i] = entry
    node = expression_list([e for row in dense for e in row], derivs.variables)
    flat = apply(node, differentiable_inputs(inputs)).reshape(n, n)
    return _cast_columns(split_blocks(flat, _shapes(inputs), _shapes(inputs)), inputs)


@_with_grad
def product_with_graph(compiled, inputs, v):
    """``(func_output, hvp or vhp)`` as differentiable torch tensors."""
    derivs = compiled._derivatives()
    node = expression_list((derivs.value, *derivs.hvp), derivs.variables + derivs.direction)
    flat = apply(node, differentiable_inputs(inputs) + directions(v))
    func_output = flat[0].reshape(compiled._output_shape).to(compute_dtype(inputs))
    return func_output, _cast(split_vector(flat[1:], _shapes(inputs)), inputs)


def _cast(pieces, templates) -> tuple:
    return tuple(piece.to(template.dtype) for piece, template in zip(pieces, templates))


@_with_grad
def jacobian_with_graph(trace, inputs):
    """Jacobian blocks of a traced (tuple of) output(s) as differentiable torch tensors."""
    listed = traced_list(trace)
    m, n = len(listed.outputs), len(listed.variables)
    dense = [[se.Integer(0)] * n for _ in range(m)]
    for (row, col), entry in listed.entries.items():
        dense[row][col] = entry
    node = expression_list([e for row in dense for e in row], listed.variables)
    flat = apply(node, differentiable_inputs(inputs)).reshape(m, n)
    return _cast_columns(split_blocks(flat, [out.shape for out in trace.outputs], _shapes(inputs)), inputs)


@_with_grad
def vjp_with_graph(trace, inputs, v):
    """``(outputs, v @ J)`` as differentiable torch tensors (of the inputs and of ``v``)."""
    listed = traced_list(trace)
    flat = apply(listed.followed_by(listed.vjp_list), differentiable_inputs(inputs) + directions(v))
    m, dtype = len(listed.outputs), compute_dtype(inputs)
    outputs = tuple(y.to(dtype) for y in split_vector(flat[:m], [out.shape for out in trace.outputs]))
    return outputs, _cast(split_vector(flat[m:], _shapes(inputs)), inputs)


@_with_grad
def jvp_with_graph(trace, inputs, v):
    """``(outputs, J @ v)`` as differentiable torch tensors (of the inputs and of ``v``)."""
    listed = traced_list(trace)
    flat = apply(listed.followed_by(listed.jvp_list), differentiable_inputs(inputs) + directions(v))
    m, dtype = len(listed.outputs), compute_dtype(inputs)
    shapes = [out.shape for out in trace.outputs]
    return (tuple(y.to(dtype) for y in split_vector(flat[:m], shapes)),
            tuple(y.to(dtype) for y in split_vector(flat[m:], shapes)))
