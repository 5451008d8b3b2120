"""Operations added for issue 14, each against PyTorch, JAX or NumPy: values and Hessians."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import symhess
from symhess import TraceError

torch = pytest.importorskip("torch")
X = np.array([0.31, -1.2, 0.77, 2.1, -0.45, 1.3])


def _t(x):
    return torch.tensor(x, dtype=torch.float64)


def _same_hessian(f, x, rtol=1e-8):
    expected = torch.autograd.functional.hessian(f, _t(x))
    got = symhess.hessian(f, _t(x))
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=rtol, atol=rtol * max(1, expected.abs().max()))


W = _t(np.linspace(0.5, 1.7, 6))


@pytest.mark.parametrize("f", [
    lambda x: (W * torch.sort(x ** 3).values).sum() + (torch.sort(x, descending=True)[0] * W).sum() ** 2,
    lambda x: (torch.topk(x * x, 3).values * W[:3]).sum() ** 2,
    lambda x: torch.kthvalue(x.sin(), 2).values ** 3,
    lambda x: torch.median(x.exp()) ** 2 + torch.median(x.reshape(2, 3), 1).values.prod(),
    lambda x: (x.reshape(2, 3).max(1)[0] ** 3).sum() + (torch.min(x.reshape(3, 2), 0).values ** 2).sum(),
    lambda x: (torch.quantile(x, 0.3) ** 2),
    lambda x: (torch.cummax(x, 0).values ** 2 * W).sum(),
    lambda x: (torch.nn.functional.max_pool1d(x[None, None], 2) ** 3).sum()
              + (torch.nn.functional.max_pool2d(x.reshape(1, 2, 3), (2, 2), stride=1) ** 2).sum()
              + (torch.max_pool1d(x.reshape(2, 3), 3, 1) * W[:2, None]).sum() ** 2,
])
def test_order_statistics(f):
    _same_hessian(f, X)


def test_indices_refused_on_use_but_unpacking_is_fine():
    def unpacked(x):
        values, _ = x.max(0)
        return values ** 2

    np.testing.assert_allclose(symhess.hessian(unpacked, _t(X)).numpy(),
                               torch.autograd.functional.hessian(unpacked, _t(X)).numpy())
    with pytest.raises(TraceError, match=r"indices of torch\.sort depend on the order"):
        symhess.hessian(lambda x: x[torch.sort(x).indices].sum(), _t(X))
    with pytest.raises(TraceError, match=r"torch\.mode of traced values"):
        symhess.hessian(lambda x: torch.mode(x).values, _t(X))
    with pytest.raises(TraceError, match=r"torch\.argsort of traced values"):
        symhess.hessian(lambda x: torch.argsort(x).sum(), _t(X))


def test_c_descriptor_called_on_a_placeholder_is_a_trace_error():
    with pytest.raises(TraceError, match=r"torch.Tensor.__radd__\(x, ...\) called on a placeholder"):
        symhess.hessian(lambda x: torch.Tensor.__radd__(x, 2).sum(), _t(X))
    _same_hessian(lambda x: (x.__radd__(2) * x.__rmul__(3)).sum(), X)


A = _t(np.array([[2.0, 0.3, 0.1], [0.3, 1.5, -0.2], [0.1, -0.2, 1.1]]))


@pytest.mark.parametrize("f", [
    lambda x: (torch.addmm(x.reshape(2, 3)[:, :2], x.reshape(2, 3), A[:, :2], beta=0.5, alpha=2) ** 2).sum(),
    lambda x: (torch.addcdiv(x, x.sin(), x.exp(), value=0.3) ** 2).sum(),
    lambda x: (torch.cross(x[:3], x[3:] ** 2, dim=0) ** 2).sum(),
    lambda x: (torch.cumprod(x, 0) * W).sum(),
    lambda x: (torch.diff(x ** 2) * W[:5]).sum() + (torch.roll(x, 2) * W * x).sum(),
    lambda x: torch.linalg.det(A + x[:3].diag()) + torch.linalg.slogdet(A * x[0].exp())[1],
    lambda x: torch.linalg.slogdet(A * x[0].exp()).logabsdet + torch.slogdet(A + x[:3].diag()).logabsdet,
    lambda x: (torch.linalg.solve(A + x[3:].diag(), x[:3]) ** 2).sum(),
    lambda x: (torch.linalg.cholesky(A + (x[:3] ** 2).diag()) * A).sum(),
    lambda x: torch.linalg.vector_norm(x, 3) + torch.linalg.matrix_norm(x.reshape(2, 3)),
    lambda x: (torch.nn.functional.gelu(x) * W).sum() + (torch.nn.functional.gelu(x, approximate="tanh") ** 2).sum(),
    lambda x: (torch.nn.functional.layer_norm(x.reshape(2, 3), (3,)) * W.reshape(2, 3)).sum(),
    lambda x: torch.nn.functional.cross_entropy(x.reshape(2, 3), torch.tensor([2, 0])),
    lambda x: torch.nn.functional.huber_loss(x, W, delta=0.7) + torch.nn.functional.smooth_l1_loss(x, W, beta=0.5),
    lambda x: torch.nn.functional.kl_div(x.log_softmax(0), W.softmax(0), reduction="batchmean"),
    lambda x: torch.nn.functional.gaussian_nll_loss(x[:3], W[:3], x[3:].exp()),
    lambda x: (torch.nn.functional.normalize(x.reshape(2, 3), dim=1) * W.reshape(2, 3)).sum(),
    lambda x: (torch.nn.functional.conv1d(x.reshape(1, 1, 6), W[:3].reshape(1, 1, 3)) ** 2).sum(),
    # input, weights and bias all traced: bilinear, the patches times the weights
    lambda x: (torch.nn.functional.conv1d(x.reshape(1, 2, 3), x.reshape(2, 1, 3) ** 2, x[4:], padding="same",
                                          groups=2) ** 2 * W[:6].reshape(1, 2, 3)).sum(),
    lambda x: (torch.conv2d(x.reshape(1, 2, 3), x[:4].reshape(1, 1, 2, 2).sin(), stride=(1, 2), padding=1) ** 2).sum(),
    lambda x: (torch.special.xlogy(x, x.exp()) + torch.special.entr(x.abs()) + torch.logit(x.sigmoid())).sum(),
    lambda x: (torch.lgamma(x) * W + x.digamma() + torch.polygamma(2, x.exp()) + torch.erfc(x) + (x / 3).erfinv()
               + torch.mvlgamma(x.exp() + 2, 3) + torch.special.ndtri(x.sigmoid()) + torch.special.log_ndtr(4 * x)
               + torch.special.erfcx(x) + torch.special.gammaln(x + 5) + torch.special.psi(x + 9)).sum(),
    lambda x: ((torch.cov(x.reshape(2, 3)) * A[:2, :2]).sum() + (torch.corrcoef(x.reshape(3, 2) ** 2) * A).sum()
               + (torch.linalg.vander(x[:3], N=4) ** 2).sum() + (torch.nn.functional.rrelu(x) * W).sum()
               + torch.nn.functional.linear_cross_entropy(x.reshape(2, 3), A, torch.tensor([2, 0]))
               + torch.cov(x, correction=0)),
    lambda x: (torch.i0(x) * W + torch.special.i0e(3 * x) + torch.special.i1(x) ** 2 + torch.special.i1e(x * 12)
               + x.i0()).sum(),
    lambda x: (x.logaddexp2(x ** 2) * W).sum() + (torch.logaddexp2(3 * x, W) ** 2).sum(),
    lambda x: (torch.special.gammainc(W * 3, x.exp()) * x).sum() + torch.igammac(_t(0.4), x * x).sum() ** 2
              + _t(2.5).igamma(x.abs() * 40).sum() + torch.special.gammaincc(_t(700.0), x + 700).sum(),
])
def test_torch_functions(f):
    _same_hessian(f, X)


@pytest.mark.parametrize(("f", "message"), [
    (lambda x: torch.nn.functional.rrelu(x, training=True).sum(), r"rrelu\(..., training=True\) draws a random"),
    (lambda x: torch.cov(x.reshape(2, 3), fweights=torch.tensor([1, 2, 1])).sum(), "torch.cov with fweights"),
    (lambda x: torch.nn.functional.max_pool1d(x[None], 2, padding=1).sum(), "max_pool1d with padding"),
    (lambda x: torch.nn.functional.max_pool1d(x[None], 2, return_indices=True)[0].sum(), "return_indices"),
])
def test_random_and_weighted_variants_are_refused(f, message):
    with pytest.raises(TraceError, match=message):
        symhess.hessian(f, torch.tensor(X))


def test_median_of_constant_nan_values_is_refused():
    """median propagates NaN, nanmedian skips it: ordering them among traced values would be wrong."""
    for median in (torch.median, torch.nanmedian):
        with pytest.raises(TraceError, match="constant NaN values among traced ones"):
            symhess.hessian(lambda x, median=median: median(torch.cat([x, torch.tensor([math.nan])])),
                            torch.tensor(X))
    with pytest.raises(TraceError, match=r"torch\.masked\.median fills masked elements"):
        symhess.hessian(lambda x: torch.masked.median(x, 0, mask=torch.tensor(X) > 0), torch.tensor(X))


@pytest.mark.parametrize(("call", "name", "instead"), [
    (lambda x, s: s.logsumexp(x), "logsumexp", "x.logsumexp(axis)"),
    (lambda x, s: s.softmax(x, axis=0)[0], "softmax", "x.softmax(axis)"),
    (lambda x, s: s.log_softmax(x)[1], "log_softmax", "x.log_softmax(axis)"),
    (lambda x, s: s.polygamma(1, x).sum(), "polygamma", "x.polygamma(n)"),
    (lambda x, s: s.multigammaln(x[0] + 3, 2), "multigammaln", "x.mvlgamma(d)"),
])
def test_scipy_special_python_functions_name_the_traced_method(call, name, instead):
    """Not ufuncs: NumPy's protocols never reach symhess; the error says what traces instead, at the user's line."""
    special = pytest.importorskip("scipy.special")
    with pytest.raises(TraceError, match=rf"scipy\.special\.{name} is Python code(.|\n)*test_coverage\.py:\d+"
                                         rf"(.|\n)*fix: call {re.escape(instead)}") as caught:
        symhess.hessian(lambda x: call(x, special), X)
    method = getattr(symhess.tracing.Tensor, instead.split("(")[0].removeprefix("x."))
    assert callable(method), caught.value


special = pytest.importorskip("scipy.special")


@pytest.fixture
def jax():
    """JAX in 64 bits, the reference of the tests that take it. Not a module-level importorskip:
    that skipped every test of this file where JAX is not installed (CI), the PyTorch ones too."""
    module = pytest.importorskip("jax")
    module.config.update("jax_enable_x64", True)
    return module


def test_scipy_special_ufuncs_against_jax(jax):
    import jax.numpy as jnp
    import jax.scipy.special as js

    x = np.array([0.3, 0.7, 0.2, 0.55])

    def f(x):
        return np.sum(special.expit(x) * 3 + special.logit(x) + special.log_expit(x) + special.erf(x)
                      + special.ndtr(x) + special.xlogy(x, x + 1) + special.xlog1py(x, x) + special.entr(x))

    def g(x):
        return jnp.sum(js.expit(x) * 3 + js.logit(x) - jax.nn.softplus(-x) + js.erf(x) + js.ndtr(x)
                       + js.xlogy(x, x + 1) + js.xlog1py(x, x) + js.entr(x))

    np.testing.assert_allclose(symhess.hessian(f, x), jax.hessian(g)(x), rtol=1e-8, atol=1e-10)


def test_scipy_special_functions_of_statistics_against_jax(jax):
    import jax.numpy as jnp
    import jax.scipy.special as js

    x = np.array([0.3, 0.7, 0.2, 0.55])

    def f(x, s=special, np=np):
        return np.sum(s.gammaln(x + 0.5) + s.digamma(x + 1) * x + s.erfc(x) + s.erfinv(x - 0.4) + s.ndtri(x)
                      + s.log_ndtr(x - 6) + s.log_ndtr(3 * x) + s.betaln(x + 1, x * x + 0.5) + s.erfcx(2 * x - 1))

    np.testing.assert_allclose(symhess.hessian(f, x), jax.hessian(lambda x: f(x, js, jnp))(x), rtol=1e-8, atol=1e-10)


def test_incomplete_gamma_in_x_against_jax(jax):
    import jax.numpy as jnp
    import jax.scipy.special as js

    x, a = np.array([0.3, 0.7, 0.2, 0.55]), np.array([0.4, 2.5, 1.0, 30.0])

    def f(x, s=special, np=np):
        return np.sum(s.gammainc(a, 20 * x) * x + s.gammaincc(2.5, x * x + 1) + s.gammainc(0.05, x) ** 2
                      + s.gammaincc(a, np.exp(3 * x)))

    np.testing.assert_allclose(symhess.hessian(f, x), jax.hessian(lambda x: f(x, js, jnp))(x), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("call", [
    lambda x: special.gammainc(x, 2.0), lambda x: special.gammaincc(x[0] + 1, x),
    lambda x: torch.igamma(x, _t(X)), lambda x: torch.special.gammaincc(x * 2, _t(X)), lambda x: x.igammac(_t(X)),
])
def test_incomplete_gamma_of_a_traced_a_is_refused(call):
    """Its derivatives in a are not elementary: refused by name, with the way out."""
    for x in (X, _t(X)):
        if ("torch" in call.__code__.co_names or "_t" in call.__code__.co_names) != isinstance(x, torch.Tensor):
            continue
        with pytest.raises(TraceError, match=r"gammainc+\(a, x\) with a traced a: its derivatives in a are not "
                                             r"elementary(.|\n)*fix: pass a as constant data"):
            symhess.hessian(lambda x: call(x).sum(), x)


def test_incomplete_gamma_outside_its_range_is_refused():
    with pytest.raises(TraceError, match=r"gammainc\(a, x\) with a = 1500: symhess computes it for 0 < a <= 1000"):
        symhess.hessian(lambda x: special.gammainc(1500.0, x).sum(), X)
    with pytest.raises(TraceError, match=r"gammaincc\(a, x\) with a = 0"):
        symhess.hessian(lambda x: special.gammaincc(0.0, x).sum(), X)


def test_unsupported_scipy_function_names_its_module():
    with pytest.raises(TraceError, match=r"scipy\.special\.j0 is not supported"):
        symhess.hessian(lambda x: special.j0(x).sum(), X)


def test_numpy_functions_against_jax(jax):
    import jax.numpy as jnp

    m = np.array([[2.0, 0.3], [0.3, 1.5]])

    def f(x, np=np):
        linalg = np.linalg
        return (np.sum(np.sort(x ** 3) * np.arange(1.0, 7.0)) + np.median(x * x) + np.quantile(x, 0.7)
                + np.sum(np.cumprod(x) ** 2) + np.polyval(x[:3], x[3]) + np.sum(np.vander(x[:3], 3) ** 2)
                + np.sum(linalg.solve(m + np.diag(x[:2] ** 2), x[2:4]) ** 2) + linalg.slogdet(m * np.exp(x[0])).logabsdet
                + np.sum(linalg.cholesky(m + np.diag(x[4:] ** 2))))

    np.testing.assert_allclose(symhess.hessian(f, X), jax.hessian(lambda x: f(x, jnp))(X), rtol=1e-8, atol=1e-10)

