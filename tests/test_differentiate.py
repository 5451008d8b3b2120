"""Differentiation: sparsity, symmetry (upper triangle), linear cost on sparse problems."""

import numpy as np
import pytest
import symengine as se
import sympy as sp

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


def test_chain_rule_through_primitives_matches_sympys_own_derivatives():
    """derivative_of differentiates primitives by templates; SymEngine's .diff calls back into SymPy."""
    from symhess.differentiate import derivative_of
    from symhess.tracing.primitives import Abs, LogSumExp, MaxOf, Softplus

    x, y = sp.symbols("x y")
    inner = LogSumExp(sp.Integer(0), x * y)
    expr = se.sympify(MaxOf(inner, Abs(x - y) ** 2) * sp.exp(inner) + Softplus(Softplus(x) * y) + x**3 * y)
    X, Y = se.Symbol("x"), se.Symbol("y")
    for symbol in (X, Y):
        ours, theirs = derivative_of(expr, symbol), expr.diff(symbol)
        for point in ({X: 0.3, Y: -1.2}, {X: -0.7, Y: 0.4}, {X: 1.5, Y: 0.5}):
            assert float(ours.subs(point)) == pytest.approx(float(theirs.subs(point)), rel=1e-12)


def test_directional_derivative_agrees_with_the_gradient_through_primitives_and_functions():
    from symhess.differentiate import derivative_of, directional_derivative
    from symhess.tracing.primitives import Softplus

    x, y = se.symbols("x y")
    v = se.symbols("vx vy")
    expr = se.tanh(x * y) ** 3 + se.sympify(Softplus(sp.Symbol("x") ** 2)) * se.exp(y) + x ** y
    forward = directional_derivative(expr, {x: v[0], y: v[1]})
    reverse = derivative_of(expr, x) * v[0] + derivative_of(expr, y) * v[1]
    point = {x: 0.7, y: -1.3, v[0]: 0.4, v[1]: 2.1}
    assert abs(float(forward.subs(point)) - float(reverse.subs(point))) < 1e-12


def test_hvp_of_a_dense_hessian_costs_about_a_gradient_not_the_hessian():
    """Forward over reverse: for log(sum(exp(x))) the Hessian is dense, its product with v is not."""
    from symhess.codegen import generate

    n = 30
    trace = trace_function(lambda x: np.log(np.exp(x).sum()), [(n,)])
    derivs = differentiate(trace.output[()], trace.symbols[0].reshape(-1))
    assert len(derivs.hessian) == n * (n + 1) // 2
    source = generate(derivs)
    hvp = source[source.index("def hvp("):source.index('"""', source.index("def hvp("))]
    hessian = source[source.index("def hessian("):source.index('"""', source.index("def hessian("))]
    assert len(hvp.splitlines()) < len(hessian.splitlines()) / 4


def test_linear_forms_become_local_variables():
    from symhess.differentiate import linear_forms

    x = se.symbols("x0:6")
    a = se.symbols("a0:6")
    u = se.Add(*(c * s for c, s in zip(a[:3], x[:3]))) + 1
    w = se.Add(*(c * s for c, s in zip(a[3:], x[3:])))
    reduced, forms, direct = linear_forms(se.tanh(u) * x[5] + w**2, list(x))
    assert sorted(map(str, forms.values())) == sorted(map(str, [u, w])) and direct == [x[5]]
    assert len(reduced.free_symbols & set(x)) == 1
    assert linear_forms(se.exp(x[0] * x[1] + x[2] * x[3]), list(x)) is None  # products of variables: not linear


def test_a_repeated_term_differentiated_through_its_locals_matches_every_slot(monkeypatch):
    """An MLP's loss over data rows: the same derivatives through the hidden units' linear forms."""
    import symhess
    from symhess import differentiate as stage
    from symhess import loops, pipeline

    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(12, 3)), rng.normal(size=12)

    def loss(theta):
        W, b, v = theta[:12].reshape(4, 3), theta[12:16], theta[16:20]
        return ((np.tanh(X @ W.T + b) @ v + theta[20] - y) ** 2).sum()

    theta = 0.5 * rng.normal(size=21)
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    monkeypatch.setattr(loops, "BIG_TERM", 8)
    through_locals = symhess.compile(loss, theta, cache=False)
    assert through_locals.stats["repeated_terms"] == 1
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    monkeypatch.setattr(stage, "LOCAL_SLOTS", 10**9)
    in_slots = symhess.compile(loss, theta, cache=False)
    assert in_slots.source != through_locals.source
    v = rng.normal(size=21)
    np.testing.assert_allclose(through_locals.hessian(theta), in_slots.hessian(theta), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(through_locals.gradient(theta), in_slots.gradient(theta), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(through_locals.hvp(theta, v=v)[1], in_slots.hvp(theta, v=v)[1], rtol=1e-12, atol=1e-12)


def _mlp_squared(theta, X, y):
    W, b, v = theta[:18].reshape(6, 3), theta[18:24], theta[24:30]
    return ((np.tanh(X @ W.T + b) @ v + theta[30] - y) ** 2).sum()


def _mlp_cross_entropy(theta, X, y):
    """The outer function of the output a primitive call (softplus): F'' is a call too."""
    W, b, v = theta[:18].reshape(6, 3), theta[18:24], theta[24:30]
    z = np.tanh(X @ W.T + b) @ v + theta[30]
    return (np.logaddexp(0.0, z) - y * z).sum()


def _mlp_linear_outer(theta, X, y):
    """F linear (F'' = 0): no rank-one part, only the pairs within the hidden units."""
    W, b, v = theta[:18].reshape(6, 3), theta[18:24], theta[24:30]
    return (np.tanh(X @ W.T + b) @ v * y).sum()


@pytest.mark.parametrize("function", [_mlp_squared, _mlp_cross_entropy, _mlp_linear_outer])
def test_a_sum_of_hidden_units_inside_an_outer_function_is_a_rank_one_block(monkeypatch, function):
    """``F(S)``, ``S`` a sum of hidden units: the Hessian in the locals is ``F'' dS dS^T + F' d2S``,
    the first one outer product of the copy's gradient (a local array) instead of a block per pair
    of locals; the same numbers as every pair differentiated, in both tiers."""
    import symhess
    from symhess import differentiate as stage
    from symhess import loops, pipeline

    rng = np.random.default_rng(8)
    X, y = rng.normal(size=(10, 3)), rng.uniform(size=10)
    theta, v = 0.5 * rng.normal(size=31), rng.normal(size=31)

    def f(theta):
        return function(theta, X, y)

    monkeypatch.setattr(loops, "BIG_TERM", 8)
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    rank_one = symhess.compile(f, theta, cache=False)
    assert rank_one.stats["repeated_terms"] == 1
    assert ("= zeros(31)" in rank_one.source) == (function is not _mlp_linear_outer)  # the rank-one block is there
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    monkeypatch.setattr(stage, "RANK_ONE_LOCALS", 10**9)
    pairs = symhess.compile(f, theta, cache=False)
    assert "= zeros(" not in pairs.source
    first_tier = rank_one.hessian(theta), rank_one.hvp(theta, v=v)[1]
    for compiled in (rank_one, pairs):
        compiled.wait_for_jit()
    expected = pairs.hessian(theta)
    assert np.abs(expected).max() > 0.1
    for H, Hv in (first_tier, (rank_one.hessian(theta), rank_one.hvp(theta, v=v)[1])):
        np.testing.assert_allclose(H, expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(Hv, pairs.hvp(theta, v=v)[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rank_one.gradient(theta), pairs.gradient(theta), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(rank_one.sparsity, pairs.sparsity)


def _interleaved(x, A):
    """Rows of ``A`` times every second variable: other terms' entries sit between a block's columns."""
    return ((A @ x[::2]) ** 4).sum() + (x[:-1] * x[1:]).sum()


def _some_rows(x, A):
    """Two rows of ``A`` in every three: each copy's coefficients start at a position read from a table."""
    return (np.cosh(A[[k for k in range(18) if k % 3 != 2]] @ x) ** 2).sum()


def _mlp_with_biases(x, A):
    """Hidden units ``X @ W.T + b``: each form's coefficients are a data row and a 1 (the bias)."""
    W, b, v = x[:18].reshape(3, 6), x[18:21], x[21:24]
    return ((np.tanh(A[:, :6] @ W.T + b) @ v - A[:, 6]) ** 2).sum()


@pytest.mark.parametrize(("function", "n"), [(_interleaved, 36), (_some_rows, 18), (_mlp_with_biases, 24)])
def test_outer_products_of_local_variables_match_entry_by_entry(monkeypatch, function, n):
    """A pair of locals with many coefficients writes its Hessian entries by nested loops
    (differentiate.Block): the same numbers as one expression per entry, in both tiers."""
    import symhess
    from symhess import differentiate as stage
    from symhess import loops, pipeline

    rng = np.random.default_rng(11)
    A = rng.normal(size=(18, 18)) / 4
    x, v = 0.5 * rng.normal(size=n), rng.normal(size=n)

    def f(x):
        return function(x, A)

    monkeypatch.setattr(loops, "BIG_TERM", 8)
    monkeypatch.setattr(stage, "LOCAL_SLOTS", 6)
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    blocks = symhess.compile(f, x, cache=False)
    assert "for j in range(" in blocks.source  # the outer products are there
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    monkeypatch.setattr(stage, "VECTOR_SLOTS", 10**9)
    entries = symhess.compile(f, x, cache=False)
    assert "for j in range(" not in entries.source
    for compiled in (blocks, entries):
        compiled.wait_for_jit()
    np.testing.assert_allclose(blocks.hessian(x), entries.hessian(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(blocks.hvp(x, v=v)[1], entries.hvp(x, v=v)[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(blocks.sparsity, entries.sparsity)


def test_a_builtin_function_of_a_primitive_call_is_differentiated_without_crashing():
    """atan2 whose other argument holds a primitive (LogSumExp): SymEngine differentiated into the
    primitive and crashed the interpreter; the partials are taken in stand-ins for every argument."""
    import symhess

    torch = pytest.importorskip("torch", reason="PyTorch is optional: pip install torch==2.13.0")

    def f(a):
        return torch.atan2(torch.tanh(torch.log_softmax(a, 0)), torch.tanh(torch.cat((a, a))[:1])).sum()

    a = torch.tensor([[0.3]], dtype=torch.float64)
    np.testing.assert_allclose(symhess.hessian(f, a).numpy(), torch.autograd.functional.hessian(f, a).numpy(),
                               atol=1e-12)
    assert symhess.hvp(f, a, torch.ones_like(a))[1].shape == a.shape
