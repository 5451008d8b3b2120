"""create_graph=True: results torch can differentiate again, derivatives of any order symbolic."""

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is optional: pip install torch==2.13.0")
from torch.autograd import gradcheck, gradgradcheck  # noqa: E402

import symhess  # noqa: E402


def cubic_sine(x):
    return x.pow(3).sum() * x.sin().sum()


def two_inputs(x, y):
    return (x.exp() * y.pow(2)).sum() + (x * y).sum() ** 2


@pytest.fixture
def point():
    return torch.rand(3, dtype=torch.float64, requires_grad=True)


def test_hessian_matches_and_has_a_graph(point):
    H = symhess.hessian(cubic_sine, point, create_graph=True)
    assert H.grad_fn is not None
    torch.testing.assert_close(H, torch.autograd.functional.hessian(cubic_sine, point))
    assert symhess.hessian(cubic_sine, point).grad_fn is None


def test_gradcheck_and_gradgradcheck_on_hessian(point):
    def h(a):
        return symhess.hessian(cubic_sine, a, create_graph=True)

    assert gradcheck(h, (point,))
    assert gradgradcheck(h, (point,))
    assert gradcheck(lambda a: torch.cos(h(a)).sum(), (point,))


def test_gradcheck_on_hvp_and_vhp(point):
    v = torch.rand(3, dtype=torch.float64, requires_grad=True)
    for fn in (symhess.hvp, symhess.vhp):
        assert gradcheck(lambda a, b, fn=fn: fn(cubic_sine, a, b, create_graph=True), (point, v))
        assert gradgradcheck(lambda a, b, fn=fn: fn(cubic_sine, a, b, create_graph=True), (point, v))


def test_two_inputs_blocks():
    x = torch.rand(2, dtype=torch.float64, requires_grad=True)
    y = torch.rand(2, dtype=torch.float64, requires_grad=True)
    ours = symhess.hessian(two_inputs, (x, y), create_graph=True)
    theirs = torch.autograd.functional.hessian(two_inputs, (x, y), create_graph=True)
    for i in range(2):
        for j in range(2):
            torch.testing.assert_close(ours[i][j], theirs[i][j])
    assert gradcheck(lambda a, b: symhess.hessian(two_inputs, (a, b), create_graph=True)[0][1], (x, y))


def test_graph_even_under_no_grad():
    with torch.no_grad():
        H = symhess.hessian(cubic_sine, torch.rand(3, dtype=torch.float64), create_graph=True)
        value, _ = symhess.hvp(cubic_sine, torch.rand(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64),
                               create_graph=True)
    assert H.grad_fn is not None and value.grad_fn is not None


def test_strict_with_create_graph_constant_hessian_is_allowed_as_in_pytorch():
    def square(x):
        return x.pow(2).sum()

    x = torch.rand(2, dtype=torch.float64)
    theirs = torch.autograd.functional.hessian(square, x, create_graph=True, strict=True)
    ours = symhess.hessian(square, x, create_graph=True, strict=True)
    torch.testing.assert_close(ours, theirs)
