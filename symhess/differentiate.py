"""Stage 2, differentiate: gradient, sparse upper Hessian and Hessian-vector product.

Sparsity is exploited term by term: a sum is split into its terms and each term
is differentiated only with respect to the symbols it contains, so the cost grows
with the expression size and the number of structural non-zeros, not with n².
Only the upper triangle of the (symmetric) Hessian is differentiated.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import symengine as se


@dataclass(frozen=True)
class Derivatives:
    """Value, gradient and Hessian of a scalar function of the flat variables ``x``."""

    variables: tuple           # flat wrt symbols, in input order
    parameters: tuple          # flat symbols of the non-differentiated inputs
    value: se.Basic
    gradient: tuple            # one expression per variable
    hessian: dict              # {(i, j): expr} for i <= j, structural non-zeros only
    direction: tuple           # symbols v[k] of the hvp direction
    hvp: tuple                 # H @ v, one expression per variable (never forms H)

    @property
    def rows(self) -> np.ndarray:
        return np.array([i for i, _ in self.hessian], dtype=np.int64)

    @property
    def cols(self) -> np.ndarray:
        return np.array([j for _, j in self.hessian], dtype=np.int64)


def terms(expr) -> tuple:
    """The terms of a sum (the expression itself otherwise)."""
    return expr.args if isinstance(expr, se.Add) else (expr,)


def sparse_gradient(expr, index: dict, lowest: int = 0) -> dict:
    """{k: d expr / d x_k} over the variables x_k (k >= lowest) that occur, term by term."""
    parts = defaultdict(list)
    for term in terms(expr):
        for symbol in term.free_symbols:
            k = index.get(symbol)
            if k is not None and k >= lowest:
                derivative = term.diff(symbol)
                if derivative != 0:
                    parts[k].append(derivative)
    return {k: se.Add(*p) for k, p in parts.items()}


def differentiate(value, variables, parameters=()) -> Derivatives:
    """All derivatives of ``value`` with respect to the flat ``variables``."""
    variables = tuple(variables)
    index = {s: k for k, s in enumerate(variables)}
    gradient_parts = sparse_gradient(value, index)
    gradient = tuple(gradient_parts.get(k, se.Integer(0)) for k in range(len(variables)))
    hessian = {}
    for i, g in sorted(gradient_parts.items()):
        for j, entry in sparse_gradient(g, index, lowest=i).items():
            hessian[(i, j)] = entry
    hessian = dict(sorted(hessian.items()))
    # "hvp.v" cannot be the name of an input (inputs are Python identifiers)
    direction = tuple(se.Symbol(f"hvp.v[{k}]") for k in range(len(variables)))
    return Derivatives(variables, tuple(parameters), value, gradient, hessian, direction,
                       hessian_vector_product(hessian, direction))


def hessian_vector_product(hessian: dict, direction) -> tuple:
    """``H @ v`` from the upper-triangle entries: O(non-zeros), no dense H."""
    rows = defaultdict(list)
    for (i, j), entry in hessian.items():
        rows[i].append(entry * direction[j])
        if i != j:
            rows[j].append(entry * direction[i])
    return tuple(se.Add(*rows[k]) if k in rows else se.Integer(0) for k in range(len(direction)))


def jacobian(outputs, variables) -> dict:
    """{(row, k): d output_row / d x_k} for a flat tuple of output expressions."""
    index = {s: k for k, s in enumerate(variables)}
    entries = {}
    for row, expr in enumerate(outputs):
        for k, d in sparse_gradient(expr, index).items():
            entries[(row, k)] = d
    return dict(sorted(entries.items()))
