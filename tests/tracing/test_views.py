"""Writes through views reach every array that shares the memory, as in NumPy and PyTorch.

A generated corpus of view-and-write programs (``view_corpus.py``) runs on real arrays
and on placeholders: values must agree program by program, and the Hessian of the whole
corpus must match PyTorch's autograd (torch programs) or complex-step differences
(NumPy programs). Targeted tests pin what differs between the two libraries and what
symhess refuses.
"""

from __future__ import annotations

import numpy as np
import pytest
import view_corpus
from tracing_helpers import evaluate

import symhess

PROGRAMS = 40
HESSIAN_PROGRAMS = 16


def _reference(func, library):
    x = view_corpus.X.copy() if library == "numpy" else pytest.importorskip("torch").tensor(view_corpus.X)
    return x, float(func(x.copy() if library == "numpy" else x.clone()))


def _refused_by_design(source, error) -> bool:
    """np.asarray(x) of a placeholder is a read-only array of its elements (see Tensor.__array__)."""
    return "np.asarray" in source and "read-only" in str(error)


@pytest.mark.parametrize("library", ["numpy", "torch"])
@pytest.mark.parametrize("seed", range(PROGRAMS))
def test_corpus_values(library, seed):
    source = view_corpus.program(seed, library)
    func = view_corpus.function(source, library)
    x, expected = _reference(func, library)
    try:
        got, refused = float(evaluate(func, x)), None
    except ValueError as error:
        got, refused = None, error
    if refused is not None:
        assert _refused_by_design(source, refused), source
    else:
        assert got == pytest.approx(expected, rel=1e-10, abs=1e-12), source


def _corpus(library, count):
    """The first ``count`` programs symhess traces (NumPy: not refused), as one weighted sum."""
    functions = []
    for seed in range(PROGRAMS):
        source = view_corpus.program(seed, library)
        if library == "numpy" and "np.asarray" in source:
            continue
        functions.append(view_corpus.function(source, library))
        if len(functions) == count:
            break

    def total(x):
        return sum((0.5 + 0.1 * k) * func(x) for k, func in enumerate(functions))

    return total


def test_corpus_hessian_matches_torch():
    torch = pytest.importorskip("torch")
    total = _corpus("torch", HESSIAN_PROGRAMS)
    x = torch.tensor(view_corpus.X)
    torch.testing.assert_close(symhess.hessian(total, x), torch.autograd.functional.hessian(total, x))


def _complex_step_hessian(func, x, h=1e-3):
    """Exact gradients by complex step, differenced (Richardson) for the Hessian."""
    n = x.size

    def gradient(z):
        return np.array([func((z + 1e-30j * e).reshape(x.shape)).imag / 1e-30 for e in np.eye(n)])

    def column(k, step):
        e = np.eye(n)[k] * step
        z = x.reshape(-1).astype(complex)
        return (gradient(z + e) - gradient(z - e)) / (2 * step)

    return np.stack([(4 * column(k, h / 2) - column(k, h)) / 3 for k in range(n)], axis=1)


def test_corpus_hessian_matches_complex_step():
    total = _corpus("numpy", HESSIAN_PROGRAMS)
    x = view_corpus.X
    expected = _complex_step_hessian(total, x).reshape(x.shape * 2)
    got = symhess.hessian(total, x)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7 * np.abs(expected).max())


# ----- the programs, and what differs between NumPy and PyTorch -------------------

def _write_through_slice(x):
    y = x.copy()
    v = y[1:3]
    v *= 5
    return (y ** 3).sum()


def test_write_into_slice_reaches_base_numpy():
    x = np.array([0.3, -0.8, 1.1, -0.45])
    expected = np.diag(6 * x * np.array([1, 125, 125, 1]))
    np.testing.assert_allclose(symhess.hessian(_write_through_slice, x), expected, rtol=1e-12)


def test_write_into_slice_reaches_base_torch():
    torch = pytest.importorskip("torch")

    def func(x):
        y = x.clone()
        v = y[1:3]
        v *= 5
        return (y ** 3).sum()

    x = torch.tensor([0.3, -0.8, 1.1, -0.45], dtype=torch.float64)
    torch.testing.assert_close(symhess.hessian(func, x), torch.autograd.functional.hessian(func, x))


NUMPY_SEMANTICS = {  # NumPy copies or views here; symhess must do the same
    "flatten-copies": lambda x: _after(x.flatten(), x),
    "ravel-views": lambda x: _after(x.ravel(), x),
    "positive-copies": lambda x: _after(+x, x),
    "array-copies": lambda x: _after(np.array(x), x, write=False),
    "asarray-elements-see-writes": lambda x: _after(np.asarray(x), x, write=False),
    "astype-copies": lambda x: _after(x.astype(np.float64), x),
    "int-index-copies": lambda x: _after(x[0, 1], x),
    "flip-views": lambda x: _after(np.flip(x), x),
    "shape-assignment": lambda x: _reshape_in_place(x),
    "matmul-in-place": lambda x: _matmul_in_place(x),
}
TORCH_SEMANTICS = {
    "flatten-views": lambda x: _after(x.flatten(), x),
    "flip-copies": lambda x: _after(x.flip(0), x),
    "positive-is-self": lambda x: _after(+x, x),
    "int-index-0d-view": lambda x: _after(x[0, 1], x),
    "contiguous-of-transpose-copies": lambda x: _after(x.T.contiguous(), x),
    "to-same-dtype-is-self": lambda x: _after(x.to(x.dtype), x),
    "double-is-self": lambda x: _after(x.double(), x),
    "float-copies": lambda x: _after(x.float(), x),
    "diag-copies": lambda x: _after(__import__("torch").diag(x), x),
    "diagonal-sees-writes": lambda x: _after(x.diagonal(), x, write=False),
    "relu-inplace": lambda x: _relu_inplace(x),
    "squeeze-t-unsqueeze-in-place": lambda x: _shape_methods_in_place(x),
    "iterate-rows-views": lambda x: _iterate_rows(x),
}


def _after(derived, source, write=True):
    """Write into ``derived`` (if asked) and into ``source``; both values tell who saw what."""
    if write:
        derived *= 3.0
    source[0] += 2.0
    return (derived ** 3).sum() + (source ** 2).sum()


def _reshape_in_place(x):
    y = x.copy()
    view = y[0]
    y.shape = (12,)
    y[1] = -2.0
    return (view ** 3).sum() + (y ** 2).sum()


def _matmul_in_place(x):
    y = x[:, :3].copy()
    view = y[1]
    y @= np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.25], [0.5, 0.0, 1.0]])
    return (view ** 3).sum() + (y ** 2).sum()


def _relu_inplace(x):
    import torch.nn.functional as F  # noqa: N812

    y = x.clone()
    F.relu(y[1], inplace=True)
    return (y ** 3).sum()


def _shape_methods_in_place(x):
    y = x.clone()
    v = y[0]
    y.t_()
    y.unsqueeze_(0)
    y[0, 1] *= 2.0
    y.squeeze_()
    return (v ** 3).sum() + (y ** 2).sum()


def _iterate_rows(x):
    y = x.clone()
    for row in y:
        row.mul_(row.sum())
    return (y ** 3).sum()


@pytest.mark.parametrize("name", list(NUMPY_SEMANTICS))
def test_numpy_copy_or_view(name):
    func = NUMPY_SEMANTICS[name]
    x = view_corpus.X
    assert evaluate(func, x) == pytest.approx(func(x.copy()), rel=1e-12)


@pytest.mark.parametrize("name", list(TORCH_SEMANTICS))
def test_torch_copy_or_view(name):
    torch = pytest.importorskip("torch")
    func = TORCH_SEMANTICS[name]
    x = torch.tensor(view_corpus.X[:, :3])
    assert evaluate(func, x) == pytest.approx(float(func(x.clone())), rel=1e-6)  # x.float(): float32


def test_torch_functions_view_on_numpy_inputs():
    torch = pytest.importorskip("torch")

    def func(x):
        flat = torch.flatten(x)
        x[0] *= 2.0
        return (flat ** 3).sum()

    x = view_corpus.X
    assert evaluate(func, x) == pytest.approx(float(func(torch.tensor(x))), rel=1e-12)


REFUSED = {  # what symhess does not alias as the library does: refused, never copied silently
    "write-into-expand": lambda x: x[0].expand(2, 4).mul_(2.0),
    "write-into-diagonal": lambda x: x.diagonal().add_(1.0),
    "write-after-detach": lambda x: _detach_then_write(x),
    "write-into-detached": lambda x: _write_detached(x),
}


def _detach_then_write(x):
    y = x.clone()
    d = y.detach()
    y.mul_(2.0)
    return d.sum()


def _write_detached(x):
    y = x.clone()
    d = y.detach()
    d[0] = 1.0
    return y.sum()


@pytest.mark.parametrize("name", list(REFUSED))
def test_unmodelled_aliasing_is_refused(name):
    torch = pytest.importorskip("torch")
    with pytest.raises(symhess.TraceError, match="writes into"):
        evaluate(REFUSED[name], torch.tensor(view_corpus.X[:, :4]))
