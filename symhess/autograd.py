"""``create_graph=True``: torch autograd nodes whose derivatives are symbolic and compiled.

An :class:`ExpressionNode` is a list of output expressions of flat variables.  Its
torch ``backward`` is another node, the symbolic vector-Jacobian product (the
cotangent becomes extra variables), evaluated by its own compiled kernel, so torch
can differentiate the results again to any order without ever calling PyTorch's
autograd on the user's function.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
import symengine as se

from .differentiate import jacobian as sparse_jacobian
from .lru import LRU

_NODES: dict[str, ExpressionNode] = LRU(256)


class ExpressionNode:
    """Outputs ``y(z)`` (SymEngine) of the variables ``z``, compiled on first evaluation."""

    def __init__(self, outputs, variables):
        self.outputs = tuple(outputs)
        self.variables = tuple(variables)
        self.key = hashlib.sha256(
            ("|".join(map(str, self.variables)) + "||" + "|".join(map(str, self.outputs))).encode()
        ).hexdigest()

    @classmethod
    def of(cls, outputs, variables) -> ExpressionNode:
        node = cls(outputs, variables)
        return _NODES.setdefault(node.key, node)

    @functools.cached_property
    def _module(self):
        from .cache import cache_dir
        from .codegen import generate_jacobian
        from .jit import load

        return load(generate_jacobian(self.outputs, self.variables, (), {}), cache_dir())

    def evaluate(self, z: np.ndarray) -> np.ndarray:
        y = np.empty(len(self.outputs))
        self._module.jacobian(np.ascontiguousarray(z, dtype=np.float64), np.zeros(0), y, np.zeros(0))
        return y

    @functools.cached_property
    def vjp(self) -> ExpressionNode:
        """``g_j = sum_k w_k dy_k/dz_j`` as a node of the variables ``(z, w)``."""
        level = self.key[:8]
        cotangent = tuple(se.Symbol(f"w{level}[{k}]") for k in range(len(self.outputs)))
        parts = [[] for _ in self.variables]
        for (k, j), derivative in sparse_jacobian(self.outputs, self.variables).items():
            parts[j].append(cotangent[k] * derivative)
        outputs = [se.Add(*p) if p else se.Integer(0) for p in parts]
        return ExpressionNode.of(outputs, self.variables + cotangent)


@functools.cache
def _function_class():
    import torch

    class SymbolicFunction(torch.autograd.Function):
        """Forward: evaluate a node; backward: apply the node's symbolic VJP node."""

        @staticmethod
        def forward(ctx, node, *groups):
            ctx.node = node
            ctx.sizes = [g.numel() for g in groups]
            ctx.save_for_backward(*groups)
            z = np.concatenate([g.detach().cpu().double().reshape(-1).numpy() for g in groups])
            return torch.from_numpy(node.evaluate(z)).to(groups[0].device)

        @staticmethod
        def backward(ctx, grad):
            groups = ctx.saved_tensors
            flat = SymbolicFunction.apply(ctx.node.vjp, *groups, grad.double())
            pieces = torch.split(flat, ctx.sizes)
            return (None, *(p.reshape(g.shape).to(g.dtype) for p, g in zip(pieces, groups)))

    return SymbolicFunction


def apply(node: ExpressionNode, groups):
    """Evaluate ``node`` on torch tensors, differentiably (even under ``torch.no_grad``)."""
    import torch

    with torch.enable_grad():
        flat_groups = [g.reshape(-1).double() for g in groups]
        return _function_class().apply(node, *flat_groups)


def differentiable_inputs(inputs):
    """PyTorch's preprocessing for create_graph: results always carry a graph."""
    return tuple(x.view_as(x) if x.requires_grad else x.detach().requires_grad_(True) for x in inputs)
