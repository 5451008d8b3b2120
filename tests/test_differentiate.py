"""Differentiation: sparsity, symmetry (upper triangle), linear cost on sparse problems."""

import symengine as se

from symhess.differentiate import differentiate
from symhess.tracing import trace_function


def chained_rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def test_upper_triangle_only_and_structural_nonzeros():
    trace = trace_function(chained_rosenbrock, [(6,)])
    derivs = differentiate(trace.output[()], trace.symbols[0].reshape(-1))
    assert all(i <= j for i, j in derivs.hessian)
    assert sorted(derivs.hessian) == sorted([(i, i) for i in range(6)] + [(i, i + 1) for i in range(5)])


def test_hvp_uses_both_triangles():
    x = se.symbols("a b")
    derivs = differentiate(x[0] ** 2 * x[1] ** 3, x)
    v = derivs.direction
    expected0 = 2 * x[1] ** 3 * v[0] + 6 * x[0] * x[1] ** 2 * v[1]
    assert se.expand(derivs.hvp[0] - expected0) == 0
