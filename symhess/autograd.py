"""``create_graph=True``: torch autograd nodes whose derivatives are symbolic and compiled.

A node evaluates an :class:`~symhess.expression_lists.ExpressionList` of flat variables.  Its
torch ``backward`` is another node, the list's symbolic vector-Jacobian product
(:attr:`~symhess.expression_lists.ExpressionList.vjp_list`, the cotangent as extra variables),
so torch can differentiate the results again to any order without ever calling PyTorch's
autograd on the user's function.
"""

from __future__ import annotations

import functools

import numpy as np

from .expression_lists import NO_DATA, ExpressionList


@functools.cache
def _function_class():
    import torch

    class SymbolicFunction(torch.autograd.Function):
        """Forward: evaluate a list; backward: apply the list's symbolic VJP list."""

        @staticmethod
        def forward(ctx, node, data, *groups):
            ctx.node, ctx.data = node, data
            ctx.sizes = [g.numel() for g in groups]
            ctx.save_for_backward(*groups)
            z = np.concatenate([g.detach().cpu().double().reshape(-1).numpy() for g in groups])
            return torch.from_numpy(node.values(z, data)).to(groups[0].device)

        @staticmethod
        def backward(ctx, grad):
            groups = ctx.saved_tensors
            flat = SymbolicFunction.apply(ctx.node.vjp_list, ctx.data, *groups, grad.double())
            pieces = torch.split(flat, ctx.sizes)
            return (None, None, *(p.reshape(g.shape).to(g.dtype) for p, g in zip(pieces, groups)))

    return SymbolicFunction


def apply(node: ExpressionList, groups, data: np.ndarray = NO_DATA):
    """Evaluate ``node`` on torch tensors (its variables, flattened in order), differentiably
    (even under ``torch.no_grad``); ``data`` are its parameters."""
    import torch

    with torch.enable_grad():
        flat_groups = [g.reshape(-1).double() for g in groups]
        return _function_class().apply(node, data, *flat_groups)


def differentiable_inputs(inputs):
    """PyTorch's preprocessing for create_graph: results always carry a graph."""
    return tuple(x.view_as(x) if x.requires_grad else x.detach().requires_grad_(True) for x in inputs)


def directions(v):
    """PyTorch's preprocessing of ``v`` for create_graph: connected if it requires grad, else detached."""
    import torch

    return tuple((x.view_as(x) if x.requires_grad else x.detach()) if isinstance(x, torch.Tensor)
                 else torch.as_tensor(np.asarray(x, dtype=np.float64)) for x in v)
