"""Every argument is honoured as PyTorch or NumPy define it, or refused by name.

``torch.var(x, False)`` once read ``False`` as ``dim`` and gave wrong Hessians without a
word; these tests run each call form on real arrays and on placeholders and compare.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from tracing_helpers import evaluate

import symhess

A = np.array([[0.3, -0.8, 1.1], [-0.45, 0.9, 0.6]])

TORCH_VARIANCE = [  # the forms of PyTorch's three overloads, positional and by keyword
    "torch.var(x, False)", "torch.var(x, True)", "x.var(False)", "x.std(False)", "torch.std(x, False)",
    "x.var()", "x.var(0)", "x.var(1, False)", "x.var(1, False, True)", "x.var(-1, True, keepdim=True)",
    "x.var((0, 1))", "x.var([0, 1], False)", "x.var(None, False)", "x.var(dim=[])",
    "x.var(unbiased=False)", "x.var(dim=0, unbiased=False, keepdim=True)",
    "x.var(0, correction=0)", "x.var(dim=1, correction=2.5)", "x.var(correction=0.5)",
    "x.var(1, keepdim=True, correction=None)", "torch.var(x, 0, keepdim=True, correction=0)",
    "torch.std(x, dim=(0, 1), correction=3)", "x.std(1, True, True)", "torch.var(x, 1, out=None)",
]
NUMPY_VARIANCE = [
    "np.var(x)", "np.var(x, 1)", "np.var(x, 0, None, None, 1)", "np.var(x, axis=(0, 1), ddof=2)",
    "np.std(x, ddof=1, keepdims=True)", "np.std(x, 1, float, None, 1, True)", "np.var(x, correction=1)",
    "np.var(x, axis=1, where=True)", "x.var()", "x.var(0)", "x.std(1, None, None, 1)", "x.var(axis=())",
    "x.std(ddof=True)", "x.var(axis=-1, keepdims=True, ddof=1)",
]


def _function(source):
    """``lambda x: source`` with ``np`` and (when installed) ``torch`` in scope."""
    names = {"np": np}
    if "torch." in source:
        names["torch"] = pytest.importorskip("torch")
    return eval(f"lambda x: {source}", names)


@pytest.mark.parametrize("source", TORCH_VARIANCE)
def test_torch_variance_values(source):
    torch = pytest.importorskip("torch")
    func = _function(source)
    x = torch.tensor(A)
    np.testing.assert_allclose(evaluate(func, x), func(x).numpy(), rtol=1e-12)


@pytest.mark.parametrize("source", NUMPY_VARIANCE)
def test_numpy_variance_values(source):
    func = _function(source)
    np.testing.assert_allclose(evaluate(func, A), func(A), rtol=1e-12)


@pytest.mark.parametrize("source", ["torch.var(x, False)", "x.std(False)", "x.var(1, False, True)",
                                    "x.var(dim=0, correction=0)"])
def test_torch_variance_hessians(source):
    torch = pytest.importorskip("torch")
    func = _function(source)
    w = torch.tensor([0.7, -1.3, 0.4]).double()

    def scalar(x):
        return (func(x) * (1 + x.sum())).sum() + (w * x).sum() ** 2

    x = torch.tensor(A)
    torch.testing.assert_close(symhess.hessian(scalar, x), torch.autograd.functional.hessian(scalar, x))


REFUSED = {  # source: the words the TraceError must contain
    "x.var(0, True, correction=0)": "both unbiased= and correction=",
    "x.var(0, unbiased=1)": "unbiased must be a bool",
    "x.var(True, keepdim=True)": "unbiased alone",
    "x.var(dim=0, foo=1)": "unexpected keyword argument 'foo'",
    "torch.var(x, 1, out=x)": "torch.var\\(..., out=...\\)",
    "x.var(dim='a')": "dim='a'",
    "x.var(dim=1, correction=3)": "divides by zero",
    "np.var(x, where=x > 0)": "np.var\\(..., where=...\\)",
    "np.std(x, mean=x)": "np.std\\(..., mean=...\\)",
    "np.var(x, ddof=1, correction=1)": "both ddof= and correction=",
    "np.var(x, dtype=int)": "np.var\\(..., dtype=...\\)",
    "x.var(axis=0, unbiased=False)": "unexpected keyword argument 'axis'",
}


@pytest.mark.parametrize("source", list(REFUSED))
def test_unsupported_arguments_are_refused_by_name(source):
    torch = pytest.importorskip("torch")
    with pytest.raises(symhess.TraceError, match=REFUSED[source]):
        evaluate(_function(source), torch.tensor(A))


# ----- softplus: x itself above the threshold ---------------------------------------------

SOFTPLUS_AT = [0.3, 0.6, -0.8, 1.5, 12.0, -25.0]  # both sides of each threshold below


@pytest.mark.parametrize("arguments", ["2.0, 1.0", "threshold=0.5", "beta=-1.0, threshold=0.5", "0.5",
                                       "beta=0.5, threshold=0.2"])
def test_softplus_threshold_values_and_hessians(arguments):
    torch = pytest.importorskip("torch")
    softplus = eval(f"lambda x: torch.nn.functional.softplus(x, {arguments})", {"torch": torch})
    x = torch.tensor(SOFTPLUS_AT, dtype=torch.float64)
    w = torch.tensor([0.7, -1.3, 0.4, 1.1, 0.5, -0.9], dtype=torch.float64)

    def scalar(x):
        y = softplus(x)
        return (w * y + 0.3 * y * y).sum()

    np.testing.assert_allclose(evaluate(softplus, x), softplus(x).numpy(), rtol=1e-12)
    torch.testing.assert_close(symhess.hessian(scalar, x), torch.autograd.functional.hessian(scalar, x))


def test_logsigmoid_has_no_threshold():
    torch = pytest.importorskip("torch")
    x = torch.tensor([-30.0, -21.0, 0.4])
    func = torch.nn.functional.logsigmoid
    np.testing.assert_allclose(evaluate(func, x.double()), func(x.double()).numpy(), rtol=1e-14)


# ----- arguments that once raised a raw TypeError or were dropped -------------------------

ROUNDING = ["torch.round(x, decimals=1)", "torch.round(x, decimals=-1)", "x.round(decimals=2)",
            "torch.div(x, 0.7, rounding_mode='floor')", "x.div(0.7, rounding_mode='trunc')",
            "torch.true_divide(x, 0.7)", "x.div(0.7, rounding_mode=None)",
            "torch.nn.functional.softmax(x)", "torch.nn.functional.log_softmax(x, 0, dtype=torch.float64)",
            "x.softmax(1, dtype=torch.float64)", "torch.softmax(x, 0)", "torch.log_softmax(x, dim=1)",
            "torch.norm(x, 2, 1, False, dtype=torch.float64)", "torch.norm(x, out=None)",
            "x.double(memory_format=torch.preserve_format) * x.contiguous(memory_format=torch.contiguous_format)"]


@pytest.mark.parametrize("source", ROUNDING)
def test_torch_arguments_values(source):
    torch = pytest.importorskip("torch")
    func = _function(source)
    x = torch.tensor([[1.234, -2.567, 3.52], [0.26, -0.35, 2.61]], dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # softmax's implicit dim is deprecated
        expected = func(x).numpy()
    np.testing.assert_allclose(evaluate(func, x), expected, rtol=1e-12)


def test_numpy_round_decimals():
    x = np.array([1.234, -2.567, 3.52, 0.26])
    for decimals in (1, 2, -1, 0):
        np.testing.assert_allclose(evaluate(lambda x, d=decimals: np.round(x, d), x), np.round(x, decimals))


def test_softmax_hessian_with_implicit_dim():
    torch = pytest.importorskip("torch")
    x = torch.tensor([[0.3, -0.8, 1.1], [0.9, 0.6, -1.2]], dtype=torch.float64)
    w = torch.tensor([[0.7, -1.3, 0.4], [1.1, 0.5, -0.9]], dtype=torch.float64)

    def func(x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return (w * torch.nn.functional.softmax(x)).sum()

    torch.testing.assert_close(symhess.hessian(func, x), torch.autograd.functional.hessian(func, x))


@pytest.mark.parametrize(("source", "words"), [
    ("x.div(2.0, rounding_mode='up')", "rounding_mode='up'"),
    ("x.round(decimals=1.5)", "decimals=1.5"),
    ("torch.norm(x, out=x)", "norm\\(..., out=...\\)"),
    ("x.softmax(0, dtype=torch.int64)", "softmax\\(..., dtype=torch.int64\\)"),
])
def test_refused_arguments_name_the_argument(source, words):
    torch = pytest.importorskip("torch")
    with pytest.raises(symhess.TraceError, match=words):
        evaluate(_function(source), torch.tensor(A))
