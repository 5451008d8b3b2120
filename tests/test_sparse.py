"""Sparse Hessians (structure once, values in that order, SciPy CSR) and scipy.optimize callbacks."""

import numpy as np
import pytest
import scipy.optimize as so
import scipy.sparse as sps

import symhess


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def two_inputs(a, B, c):
    return (np.sin(a) * B.sum(axis=1)).sum() + (B**3 * c).sum() + (a @ B).sum() ** 2


@pytest.fixture(scope="module")
def rosen20():
    return symhess.compile(rosenbrock, np.zeros(20))


@pytest.fixture(scope="module")
def mixed():
    return symhess.compile(two_inputs, np.ones(2), np.ones((2, 3)), 2.0, wrt=(0, 1))


def flat_dense(f, *args):
    """The dense Hessian over the flat wrt variables, from the block results."""
    H = f.hessian(*args)
    if not isinstance(H, tuple):
        n = int(np.sqrt(H.size))
        return H.reshape(n, n)
    sizes = [int(np.sqrt(np.asarray(H[i][i]).size)) for i in range(len(H))]
    return np.block([[np.asarray(H[i][j]).reshape(sizes[i], sizes[j]) for j in range(len(H))]
                     for i in range(len(H))])


def test_values_follow_the_structure(rosen20, rng):
    x = rng.standard_normal(20)
    rows, cols = rosen20.hessian_structure()
    assert np.all(rows <= cols) and len(rows) == 20 + 19
    dense = rosen20.hessian(x)
    np.testing.assert_array_equal(rosen20.hessian_values(x), dense[rows, cols])


def test_sparse_hessian_equals_the_dense_one(rosen20, mixed, rng):
    x = rng.standard_normal(20)
    H = rosen20.hessian_sparse(x)
    assert isinstance(H, sps.csr_array) and H.nnz == 20 + 2 * 19
    np.testing.assert_array_equal(H.toarray(), rosen20.hessian(x))
    a, B = rng.standard_normal(2), rng.standard_normal((2, 3))
    np.testing.assert_allclose(mixed.hessian_sparse(a, B, 0.5).toarray(), flat_dense(mixed, a, B, 0.5), rtol=1e-13)


def test_batched_values(rosen20, rng):
    X = rng.standard_normal((3, 2, 20))
    values = rosen20.hessian_values(X)
    assert values.shape == (3, 2, 39)
    np.testing.assert_array_equal(values[2, 1], rosen20.hessian_values(X[2, 1]))
    with pytest.raises(ValueError, match="use hessian_values for batches"):
        rosen20.hessian_sparse(X)


@pytest.mark.parametrize(("method", "sparse", "use_hessp"), [
    ("trust-ncg", False, False), ("trust-krylov", False, True), ("Newton-CG", False, True),
    ("trust-constr", True, False), ("trust-exact", False, False)])
def test_scipy_minimize_converges(rosen20, method, sparse, use_hessp):
    callbacks = rosen20.scipy(sparse=sparse)
    x0 = np.linspace(-1, 1, 20)
    hessian = {"hessp": callbacks.hessp} if use_hessp else {"hess": callbacks.hess}
    result = so.minimize(callbacks.fun, x0, jac=callbacks.jac, method=method, options={"maxiter": 500}, **hessian)
    assert result.success, result.message
    np.testing.assert_allclose(result.x, np.ones(20), atol=1e-4)  # Newton-CG stops at xtol=1e-5


def test_scipy_callbacks_with_parameters(rng):
    def quadratic(x, A, b):
        return 0.5 * x @ A @ x - b @ x

    M = rng.standard_normal((4, 4))
    A, b = M @ M.T + 4 * np.eye(4), rng.standard_normal(4)
    f = symhess.compile(quadratic, np.zeros(4), A, b, wrt=0)
    callbacks = f.scipy(A, b, sparse=True)
    result = so.minimize(x0=np.zeros(4), method="trust-constr", **callbacks.kwargs)
    np.testing.assert_allclose(result.x, np.linalg.solve(A, b), rtol=1e-6)
    with pytest.raises(TypeError, match="takes the 2 runtime parameter"):
        f.scipy(A)
    with pytest.raises(ValueError, match="x has 3 values"):
        callbacks.jac(np.zeros(3))


@pytest.mark.slow
def test_rosenbrock_ten_thousand_never_dense():
    n = 10_000
    f = symhess.compile(so.rosen, np.zeros(n))
    x = np.random.default_rng(0).standard_normal(n)
    H = f.hessian_sparse(x)
    assert H.nnz == 3 * n - 2
    v = np.random.default_rng(1).standard_normal(n)
    expected = so.rosen_hess_prod(x, v)
    scale = 1e-12 * np.abs(expected).max()  # entries are sums of terms of order 1e3: cancellation
    np.testing.assert_allclose(H @ v, expected, rtol=1e-12, atol=scale)
    np.testing.assert_allclose(f.hvp(x, v=v)[1], expected, rtol=1e-12, atol=scale)
