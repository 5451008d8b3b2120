"""Constrained problems (symhess.compile_nlp): cyipopt's Problem protocol, IPOPT and trust-constr."""

import sys

import numpy as np
import pytest

import symhess

X_STAR = np.array([1.0, 4.74299963, 3.82114998, 1.37940829])  # HS071's optimum (IPOPT's documentation)


def hs071_objective(x):
    return x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2]


def hs071_constraints(x):
    return np.array([x.prod(), (x**2).sum()])


HS071 = {"lb": 1.0, "ub": 5.0, "cl": [25.0, 40.0], "cu": [np.inf, 40.0]}
QUIET = {"print_level": 0, "sb": "yes"}


@pytest.fixture(scope="module")
def hs071():
    return symhess.compile_nlp(hs071_objective, hs071_constraints, np.ones(4))


def dense(rows, cols, values, shape):
    out = np.zeros(shape)
    np.add.at(out, (rows, cols), values)
    return out


def hs071_jacobian(x):
    a, b, c, d = x
    return np.array([[b * c * d, a * c * d, a * b * d, a * b * c], 2 * x])


def hs071_lagrangian_hessian(x, lam, sigma):
    a, b, c, d = x
    f = np.array([[2 * d, d, d, 2 * a + b + c], [d, 0, 0, a], [d, 0, 0, a], [2 * a + b + c, a, a, 0]])
    g0 = np.array([[0, c * d, b * d, b * c], [c * d, 0, a * d, a * c], [b * d, a * d, 0, a * b],
                   [b * c, a * c, a * b, 0]])
    return sigma * f + lam[0] * g0 + lam[1] * 2 * np.eye(4)


def test_hs071_callbacks_match_the_hand_derivatives(hs071):
    x = np.array([1.0, 5.0, 5.0, 1.0])
    assert hs071.n == 4 and hs071.m == 2
    assert hs071.objective(x) == pytest.approx(16.0)
    np.testing.assert_allclose(hs071.gradient(x), [12.0, 1.0, 2.0, 11.0])
    np.testing.assert_allclose(hs071.constraints(x), [25.0, 52.0])
    rows, cols = hs071.jacobianstructure()
    np.testing.assert_allclose(dense(rows, cols, hs071.jacobian(x), (2, 4)), hs071_jacobian(x))
    rows, cols = hs071.hessianstructure()
    assert np.all(rows >= cols), "IPOPT takes the lower triangle"
    lam, sigma = np.array([0.7, -1.3]), 2.5
    expected = hs071_lagrangian_hessian(x, lam, sigma)
    np.testing.assert_allclose(dense(rows, cols, hs071.hessian(x, lam, sigma), (4, 4)), np.tril(expected))


def test_constraint_values_follow_x_after_the_gradient_cached_them(hs071):
    x, y = np.full(4, 2.0), np.full(4, 3.0)
    hs071.gradient(x)
    np.testing.assert_allclose(hs071.constraints(y), [81.0, 36.0])
    np.testing.assert_allclose(hs071.gradient(y), [3 * 9 + 9, 9, 9 + 1, 27])


def test_hs071_with_ipopt_converges_in_ipopts_iteration_count(hs071):
    pytest.importorskip("cyipopt", reason="cyipopt is optional: pip install 'symhess[ipopt]'")
    result = symhess.minimize_ipopt(hs071, [1.0, 5.0, 5.0, 1.0], options=QUIET, **HS071)
    assert result.success, result.message
    np.testing.assert_allclose(result.x, X_STAR, atol=1e-6)
    assert result.fun == pytest.approx(17.014017145, rel=1e-9)
    assert result.nit == 8  # IPOPT's documented run of HS071 (Ipopt's examples/hs071_cpp)


def test_trust_constr_agrees_with_ipopt(hs071):
    from scipy.optimize import Bounds, minimize

    constraints = [hs071.nonlinear_constraint(HS071["cl"], HS071["cu"])]
    result = minimize(hs071.objective, [1.0, 5.0, 5.0, 1.0], jac=hs071.gradient, hess=hs071.objective_hessian,
                      method="trust-constr", bounds=Bounds(np.ones(4), np.full(4, 5.0)), constraints=constraints,
                      options={"gtol": 1e-10, "xtol": 1e-12, "maxiter": 2000})
    np.testing.assert_allclose(result.x, X_STAR, atol=1e-5)


def test_constraint_hessian_for_scipy_is_the_weighted_sum_of_the_constraints_hessians(hs071):
    x, v = np.array([1.5, 2.0, 3.0, 4.0]), np.array([0.3, -2.0])
    constraint = hs071.nonlinear_constraint(-np.inf, np.inf)
    hessian = constraint.hess(x, v)
    np.testing.assert_allclose(hessian.toarray(), hs071_lagrangian_hessian(x, v, 0.0))
    np.testing.assert_allclose(constraint.jac(x).toarray(), hs071_jacobian(x))


def nearest(x, target, normal):
    return ((x - target) ** 2).sum()


def on_plane(x, target, normal):
    return np.array([(x * normal).sum() - 1.0, (x**2).sum() * normal[0]])


def test_data_are_runtime_values_swapped_by_set_data():
    a, b = np.arange(6.0), np.linspace(1.0, 2.0, 6)
    nlp = symhess.compile_nlp(nearest, on_plane, np.zeros(6), a, b)
    x = np.linspace(-1.0, 1.0, 6)
    for target, normal in ((a, b), (np.ones(6), np.full(6, 3.0))):
        nlp.set_data(target, normal)
        assert nlp.objective(x) == pytest.approx(((x - target) ** 2).sum())
        np.testing.assert_allclose(nlp.gradient(x), 2 * (x - target))
        np.testing.assert_allclose(nlp.constraints(x), [x @ normal - 1.0, (x**2).sum() * normal[0]])
        rows, cols = nlp.jacobianstructure()
        np.testing.assert_allclose(dense(rows, cols, nlp.jacobian(x), (2, 6)), [normal, 2 * x * normal[0]])
        rows, cols = nlp.hessianstructure()
        values = nlp.hessian(x, np.array([5.0, 0.5]), 2.0)
        np.testing.assert_allclose(dense(rows, cols, values, (6, 6)), (4.0 + normal[0]) * np.eye(6))
    with pytest.raises(ValueError, match=r"data\[1\] has shape \(5,\).*compiled for \(6,\)"):
        nlp.set_data(target, np.ones(5))
    with pytest.raises(TypeError, match="takes the 2 data array"):
        nlp.set_data(target)


def test_arrays_read_from_the_closure_are_data_too():
    weights = np.linspace(1.0, 3.0, 8)

    def objective(x):
        return (weights * x**2).sum()

    nlp = symhess.compile_nlp(objective, lambda x: x[:-1] - x[1:] ** 2, np.zeros(8))
    x = np.linspace(0.5, 1.5, 8)
    assert nlp.objective(x) == pytest.approx((weights * x**2).sum())
    assert nlp.compiled.stats["parameters"] == 1 + 8  # σ, then the lifted weights
    rows, cols = nlp.hessianstructure()
    lam = np.arange(1.0, 8.0)
    expected = np.diag(2 * weights)
    expected[np.arange(1, 8), np.arange(1, 8)] -= 2 * lam
    np.testing.assert_allclose(dense(rows, cols, nlp.hessian(x, lam, 1.0), (8, 8)), np.tril(expected))
    assert len(rows) == 8, "the Lagrangian Hessian of this problem is diagonal: nothing else is stored"


def test_a_problem_without_constraints():
    nlp = symhess.compile_nlp(lambda x: ((x - 2.0) ** 4).sum(), None, np.zeros(3))
    assert nlp.m == 0
    assert len(nlp.jacobianstructure()[0]) == 0
    np.testing.assert_allclose(nlp.hessian(np.ones(3), np.zeros(0), 1.0), np.full(3, 12.0))
    with pytest.raises(ValueError, match="without constraints"):
        nlp.nonlinear_constraint(0, 1)


def test_clear_errors():
    with pytest.raises(ValueError, match="objective must return a single-element tensor"):
        symhess.compile_nlp(lambda x: x**2, lambda x: x.sum(), np.zeros(3))
    with pytest.raises(TypeError, match="x0 is a str"):
        symhess.compile_nlp(lambda x: x.sum(), None, "abc")
    nlp = symhess.compile_nlp(lambda x: (x**2).sum(), lambda x: x[:1], np.zeros(2))
    with pytest.raises(ValueError, match="x has 3 values; the problem has 2 variables"):
        nlp.objective(np.zeros(3))
    with pytest.raises(ValueError, match="lagrange has 2 values; the problem has 1 constraints"):
        nlp.hessian(np.zeros(2), np.zeros(2), 1.0)


def test_minimize_ipopt_without_cyipopt_says_what_to_install(monkeypatch, hs071):
    monkeypatch.setitem(sys.modules, "cyipopt", None)
    with pytest.raises(ImportError, match=r"pip install 'symhess\[ipopt\]'"):
        symhess.minimize_ipopt(hs071, np.ones(4))
