import gc
import weakref

import numpy as np
import pytest
import scipy.optimize as so

import symhess


def weighted_cubes(x, a):
    return (a * x**3).sum() + x[0] * x[2]


@pytest.fixture(scope="module")
def rosen():
    return symhess.compile(so.rosen, np.ones(5))


@pytest.fixture(scope="module")
def with_parameters():
    return symhess.compile(weighted_cubes, np.ones(3), np.ones(3), wrt=0)


def test_every_call_agrees_with_the_compiled_methods(rosen, with_parameters, rng):
    for f, p in ((rosen, ()), (with_parameters, (rng.standard_normal(3),))):
        b = f.buffer()
        n = b.x.size
        x, v = rng.standard_normal(n), rng.standard_normal(n)
        b.x[:], b.v[:] = x, v
        if p:
            b.p[:] = p[0]
        assert b.value() == pytest.approx(f.value(x, *p), rel=1e-14)
        b.gradient()
        np.testing.assert_allclose(b.g, f.gradient(x, *p), rtol=1e-14)
        b.hessian()
        np.testing.assert_allclose(b.H, f.hessian(x, *p), rtol=1e-14)
        b.hessian_values()
        np.testing.assert_allclose(b.values, f.hessian_values(x, *p), rtol=1e-14)
        value, product = f.hvp(x, *p, v=v)
        assert b.hvp() == pytest.approx(value, rel=1e-14)
        np.testing.assert_allclose(b.hv, product, rtol=1e-14)


def test_the_dense_hessian_is_rewritten_whole(with_parameters):
    b = with_parameters.buffer()
    b.x[:], b.p[:] = 1.0, 2.0
    b.hessian()
    expected = b.H.copy()
    b.H[:] = 7.0  # a caller damping or factoring in place
    b.hessian()
    np.testing.assert_array_equal(b.H, expected)
    assert b.H[0, 1] == 0.0


def test_arrays_cannot_be_replaced_and_outlive_the_buffer(rosen):
    b = rosen.buffer()
    with pytest.raises(AttributeError, match=r"b\.x\[:\] = "):
        b.x = np.zeros(5)
    with pytest.raises(AttributeError, match="its calls are value, gradient"):
        b.jacobian  # noqa: B018
    b.x[:] = 0.5
    hessian, H, x = b.hessian, b.H, weakref.ref(b.x)
    del b
    gc.collect()
    assert x() is not None  # the call holds the address of x: it keeps it
    hessian()
    np.testing.assert_allclose(H, so.rosen_hess(np.full(5, 0.5)), rtol=1e-14)
    del hessian
    gc.collect()
    assert x() is None
