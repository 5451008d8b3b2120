"""PyTorch inputs and torch.* functions inside func, against torch.autograd.functional."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is optional: pip install torch==2.13.0")
F = torch.nn.functional
taf = torch.autograd.functional

import symhess  # noqa: E402


def assert_same(ours, theirs):
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same(a, b)
        return
    assert isinstance(ours, torch.Tensor)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype and ours.device == theirs.device
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)


def mixed(x, y):
    return ((torch.sin(x) * torch.exp(y)).sum() + F.softplus(x).sum() + torch.cat([x, y]).pow(2).sum()
            + torch.ones([]) * x.sum() + torch.tensor([1.0, 2.0], dtype=x.dtype) @ x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_functions_and_constants(dtype):
    inputs = (torch.tensor([0.1, 0.2], dtype=dtype), torch.tensor([0.3, -0.1], dtype=dtype))
    assert_same(symhess.hessian(mixed, inputs), taf.hessian(mixed, inputs))
    v = (torch.ones(2, dtype=dtype), torch.zeros(2, dtype=dtype))
    assert_same(symhess.hvp(mixed, inputs, v), taf.hvp(mixed, inputs, v))
    assert_same(symhess.vhp(mixed, inputs, v), taf.vhp(mixed, inputs, v))


def test_doc_examples_with_torch():
    x = torch.rand(2, 2)
    assert_same(symhess.hessian(lambda a: a.pow(3).sum(), x), taf.hessian(lambda a: a.pow(3).sum(), x))

    def pow_adder_reducer(a, b):
        return (2 * a.pow(2) + 3 * b.pow(2)).sum()

    inputs = (torch.rand(2), torch.rand(2))
    assert_same(symhess.hessian(pow_adder_reducer, inputs), taf.hessian(pow_adder_reducer, inputs))


def test_block_dtype_follows_input_j():
    inputs = (torch.rand(2, dtype=torch.float32), torch.rand(3, dtype=torch.float64))

    def f(a, b):
        return (a.sum() * b.double()).sum()

    H = symhess.hessian(f, inputs)
    assert H[0][1].dtype == torch.float64 and H[1][0].dtype == torch.float32


def test_strict_long_float_matches_pytorch():
    def f(a):
        return a.long().float().sum() * a.sum()

    with pytest.raises(RuntimeError) as theirs:
        taf.hessian(f, torch.ones(2), strict=True)
    with pytest.raises(RuntimeError) as ours:
        symhess.hessian(f, torch.ones(2), strict=True)
    assert str(ours.value) == str(theirs.value)
    assert_same(symhess.hessian(f, torch.ones(2)), taf.hessian(f, torch.ones(2)))


def test_unsupported_torch_function_is_named():
    with pytest.raises(symhess.TraceError, match="fft"):
        symhess.hessian(lambda a: torch.fft.fft(a).real.sum(), torch.ones(2))


def test_import_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, symhess; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_numpy_results_unchanged_when_torch_is_installed():
    assert isinstance(symhess.hessian(lambda a: a.pow(3).sum(), np.ones(2)), np.ndarray)


def pow_adder_reducer(x, y):
    return (2 * x.pow(2) + 3 * y.pow(2)).sum()


@pytest.mark.parametrize(("dtypes", "v_dtypes"), [
    ((torch.float32,), (torch.float32,)),
    ((torch.float64, torch.float32), (torch.float64, torch.float32)),
    ((torch.float32, torch.float64), (torch.float64, torch.float64)),  # v dtypes differ: full checks
])
def test_repeated_calls_take_the_lean_path_with_identical_results(dtypes, v_dtypes):
    """Calls after the trace is trusted skip validation (symhess.plans): same results as PyTorch."""
    rng = np.random.default_rng(0)
    func = (lambda x: x.pow(3).sum()) if len(dtypes) == 1 else pow_adder_reducer
    for _ in range(4):  # the first calls trace; later ones reuse the plan
        inputs = tuple(torch.tensor(rng.standard_normal((2, 3)), dtype=d) for d in dtypes)
        v = tuple(torch.tensor(rng.standard_normal((2, 3)), dtype=d) for d in v_dtypes)
        args = (inputs, v) if len(dtypes) > 1 else (inputs[0], v[0])
        assert_same(symhess.hessian(func, args[0]), taf.hessian(func, args[0]))
        assert_same(symhess.hvp(func, *args), taf.hvp(func, *args))
        assert_same(symhess.vhp(func, *args), taf.vhp(func, *args))


def test_repeated_calls_still_validate_v():
    x = torch.rand(3, dtype=torch.float64)
    for _ in range(3):
        symhess.hvp(lambda a: a.pow(3).sum(), x, x)
    with pytest.raises(RuntimeError, match="v has invalid size"):
        symhess.hvp(lambda a: a.pow(3).sum(), x, torch.ones(4, dtype=torch.float64))
