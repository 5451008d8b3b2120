"""Every registered operation, traced and checked against NumPy.

The tests are parametrized over the translation tables (``UFUNCS``, ``FUNCTIONS``)
and the placeholder's PyTorch-style methods: values must equal NumPy's, and
gradient, Hessian and Hessian-vector products must match finite differences.
Each distinct function costs one Numba compile, so the problems are tiny and the
same function objects are reused wherever a check can share them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pytest
from tracing_helpers import check, dual, evaluate, scalarize

import symhess
from symhess.tracing import Tensor
from symhess.tracing.elementwise import ALIASES
from symhess.tracing.numpy_api import FUNCTIONS, UFUNCS
from symhess.tracing.placeholder import elementwise

# ----- inputs: inside every domain, away from kinks, ties and integers ---------------

X = np.array([0.3, -0.8, 1.1, -0.45])
Y = np.array([1.3, -0.6, 0.9, 2.1])
W = np.array([0.7, -1.3, 0.4, 1.1])
POSITIVE = np.array([0.4, 1.3, 2.2, 0.75])
UNIT = np.array([0.3, -0.6, 0.75, -0.1])          # |x| < 1
ABOVE_ONE = np.array([1.2, 1.7, 2.5, 3.1])
ABOVE_MINUS_ONE = np.array([-0.5, 0.3, 1.7, -0.2])
A23 = np.array([[0.3, -0.8, 1.1], [-0.45, 0.9, 0.6]])
B23 = np.array([[1.2, 0.5, -0.7], [0.25, -1.1, 0.8]])
B32 = B23.T.copy()
V2 = np.array([0.7, -1.4])
V3 = np.array([0.5, -1.2, 0.8])
M2 = np.array([[1.2, 0.3], [-0.4, 0.9]])
M3 = np.array([[1.5, 0.2, -0.3], [0.4, 1.1, 0.25], [-0.2, 0.35, 0.9]])


def _name(function) -> str:
    module = getattr(function, "__module__", "") or ""
    return ("linalg." if "linalg" in module else "") + function.__name__


# ----- 1. ufuncs ---------------------------------------------------------------------

COMPARISONS = [np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal]
LOGICAL = [np.logical_and, np.logical_or, np.logical_not]
DOMAINS = {
    np.log: (POSITIVE,), np.log2: (POSITIVE,), np.log10: (POSITIVE,), np.sqrt: (POSITIVE,),
    np.log1p: (ABOVE_MINUS_ONE,), np.arcsin: (UNIT,), np.arccos: (UNIT,), np.arctanh: (UNIT,),
    np.arccosh: (ABOVE_ONE,), np.power: (POSITIVE, Y), np.float_power: (POSITIVE, Y),
    # values of order 1: finite-difference Hessians of f ~ 50 are noisier than their tolerance
    np.rad2deg: (X / 50,), np.degrees: (X / 50,),
}
SMOOTH = [u for u in UFUNCS if u not in COMPARISONS + LOGICAL]


def test_every_ufunc_is_covered():
    assert set(UFUNCS) == set(SMOOTH) | set(COMPARISONS) | set(LOGICAL)


def _ufunc_function(ufunc, inputs):
    """A scalar function of the ufunc on placeholders, NumPy constants and Python numbers."""
    if ufunc.nin == 1:
        return lambda x: np.sum(W * ufunc(x))
    first_constant = inputs[0][::-1].copy()    # an array constant in the first argument's domain
    second_constant = float(inputs[1][2])      # a Python number in the second argument's domain

    def func(x, y):
        return (np.sum(W * ufunc(x, y)) + np.sum(W[::-1] * ufunc(x, second_constant))
                + np.sum(W * ufunc(first_constant, y)))

    return func


@pytest.mark.parametrize("ufunc", SMOOTH, ids=_name)
def test_ufunc_value_and_derivatives(ufunc):
    inputs = DOMAINS.get(ufunc, (X, Y)[:ufunc.nin])
    check(_ufunc_function(ufunc, inputs), *inputs)


def _comparison_function(ufunc):
    def func(x, y):
        return (np.sum(W * np.where(ufunc(x, y), x * y, x - y))
                + np.sum(W[::-1] * np.where(ufunc(x, 0.5), np.sin(x), y)))

    return func


@pytest.mark.parametrize("ufunc", COMPARISONS, ids=_name)
def test_comparison_selects_like_numpy(ufunc):
    func = _comparison_function(ufunc)
    compiled = check(func, X, Y)
    ties_x, ties_y = np.array([0.5, -0.8, 1.1, 0.2]), np.array([1.3, -0.8, 1.1, -0.2])
    assert compiled.value(ties_x, ties_y) == pytest.approx(func(ties_x, ties_y), rel=1e-12)
    assert evaluate(func, ties_x, ties_y) == pytest.approx(func(ties_x, ties_y), rel=1e-12)


def _logical_function(ufunc):
    if ufunc.nin == 1:
        return lambda x, y: np.sum(W * np.where(ufunc(x > 0), x * y, x - y))
    return lambda x, y: np.sum(W * np.where(ufunc(x > 0, y < 1), x * y, x - y))


@pytest.mark.parametrize("ufunc", LOGICAL, ids=_name)
def test_logical_selects_like_numpy(ufunc):
    check(_logical_function(ufunc), X, Y)


@pytest.mark.parametrize("ufunc", COMPARISONS + LOGICAL, ids=_name)
def test_condition_values_on_any_numbers(ufunc):
    """NumPy's truth value: every non-zero number is true, not only 1."""
    x, y = np.array([0.0, 2.0, -1.5, 0.0, 2.0]), np.array([2.0, 2.0, 0.0, 0.0, -3.0])
    func = (lambda x, y: ufunc(x) * 1.0) if ufunc.nin == 1 else (lambda x, y: ufunc(x, y) * 1.0)
    np.testing.assert_array_equal(evaluate(func, x, y), func(x, y))
    np.testing.assert_array_equal(evaluate(lambda x, y: np.where(x, y, 5.0), x, y), np.where(x, y, 5.0))


def test_ufunc_reduce_and_accumulate():
    functions = [
        lambda a: np.add.reduce(a), lambda a: np.add.reduce(a, axis=1),
        lambda a: np.multiply.reduce(a, 1, keepdims=True), lambda a: np.maximum.reduce(a, axis=0),
        lambda a: np.minimum.reduce(a, axis=None), lambda a: np.add.accumulate(a, axis=1),
    ]
    for func in functions:
        np.testing.assert_allclose(evaluate(func, A23), func(A23), rtol=1e-12)
    check(lambda a: np.sum(W[:3] * np.multiply.reduce(a, axis=0)) + np.sum(np.add.accumulate(a, axis=1) ** 2),
          A23)


def test_elementwise_entries_without_a_ufunc():
    """Entries no library function names (test_registration.py checks those that one does): softplus, a method."""
    softplus = dual(lambda x: elementwise("softplus", x).sum(),
                    lambda x: np.sum(np.logaddexp(0, x)))
    check(softplus, np.array([-30.0, -0.7, 0.4, 35.0]))


def test_rint_rounds_half_to_even():
    x = np.array([2.5, -0.5, 1.5, 0.49])
    compiled = symhess.compile(lambda x: np.sum(W * np.rint(x)), x)
    assert compiled.value(x) == pytest.approx(np.sum(W * np.rint(x)), rel=1e-12)
    np.testing.assert_array_equal(compiled.gradient(x), 0.0)


@pytest.mark.parametrize("exponent", [2, 3, -1, -2, 0.5, 1.5], ids=lambda e: f"x**{e}")
def test_power_with_number_exponents(exponent):
    x = np.array([1.3, 0.45, 2.1]) if exponent % 1 else np.array([-1.3, 0.45, -2.1])
    check(lambda x: np.sum(W[:3] * x ** exponent) + np.sum(2.0 ** x), x)


# ----- 2. NumPy functions --------------------------------------------------------------

class Case(NamedTuple):
    function: object     # the FUNCTIONS key this case exercises
    label: str
    func: object
    inputs: tuple


def _cases():
    cases = []

    def add(function, label, func, *inputs):
        name = f"{_name(function)}-{label}" if label else _name(function)
        cases.append(pytest.param(Case(function, label, func, inputs), id=name))

    for reduction in [np.sum, np.prod, np.mean, np.max, np.min, np.amax, np.amin, np.var, np.std]:
        add(reduction, "all", lambda a, r=reduction: r(a), A23)
        add(reduction, "axis0", lambda a, r=reduction: r(a, axis=0), A23)
        add(reduction, "axis-1-keepdims", lambda a, r=reduction: r(a, axis=-1, keepdims=True), A23)
        add(reduction, "axes01", lambda a, r=reduction: r(a, axis=(0, 1)), A23)
    add(np.var, "ddof1", lambda a: np.var(a, axis=1, ddof=1), A23)
    add(np.std, "ddof1-keepdims", lambda a: np.std(a, ddof=1, keepdims=True), A23)
    for order in [None, 1, 2, np.inf, -np.inf, 3, 0.5]:
        add(np.linalg.norm, f"vector-ord{order}", lambda v, o=order: np.linalg.norm(v, o), V3)
    for order in [None, "fro", 1, -1, np.inf, -np.inf]:
        add(np.linalg.norm, f"matrix-ord{order}", lambda a, o=order: np.linalg.norm(a, o), B23)
    add(np.linalg.norm, "axis1", lambda a: np.linalg.norm(a, axis=1), A23)
    add(np.linalg.norm, "ord1-axis0-keepdims", lambda a: np.linalg.norm(a, 1, axis=0, keepdims=True), A23)
    add(np.linalg.norm, "matrix-ord1-axes10", lambda a: np.linalg.norm(a, 1, axis=(1, 0)), B23)
    add(np.trace, "square", lambda m: np.trace(m), M2)
    add(np.trace, "offset1", lambda a: np.trace(a, offset=1), A23)
    add(np.where, "both-traced", lambda x, y: np.where(x > y, x, y * y), X, Y)
    add(np.where, "constant-condition", lambda x: np.where(np.array([True, False, False, True]), x, 2.0), X)
    add(np.where, "number-branch", lambda x: np.where(x > 0, np.sin(x), 0.0), X)
    add(np.clip, "both", lambda x: np.clip(x, -0.5, 0.5), X)
    add(np.clip, "upper", lambda x: np.clip(x, None, 0.5), X)
    add(np.clip, "lower", lambda x: np.clip(x, -0.5, None), X)
    add(np.clip, "arrays", lambda x: np.clip(x, Y - 1.05, Y), X)
    add(np.clip, "keywords", lambda x: np.clip(x, min=-0.5, max=0.5), X)
    add(np.round, "", lambda x: np.round(3 * x) * x, X)
    add(np.around, "", lambda x: np.around(3 * x) * x, X)
    add(np.dot, "vector-vector", lambda u, v: np.dot(u, v), V3, V3[::-1])
    add(np.dot, "matrix-vector", lambda a, v: np.dot(a, v), A23, V3)
    add(np.dot, "matrix-matrix", lambda a: np.dot(a, B32), A23)
    add(np.dot, "number", lambda v: np.dot(2.5, v), V3)
    add(np.dot, "matrix-3d", lambda a: np.dot(a, np.arange(12.0).reshape(2, 3, 2) / 7), A23)
    add(np.vdot, "matrices", lambda a: np.vdot(a, B23), A23)
    add(np.matmul, "matrix-vector", lambda a, v: np.matmul(a, v), A23, V3)
    add(np.matmul, "vector-matrix", lambda v: np.matmul(v, A23), V2)
    add(np.matmul, "constant-left", lambda v: B32 @ v, V2)
    add(np.matmul, "batched", lambda a: np.matmul(a.reshape(2, 1, 3), B32), A23)
    add(np.inner, "vectors", lambda u, v: np.inner(u, v), V3, V3[::-1])
    add(np.inner, "matrix-vector", lambda a, v: np.inner(a, v), A23, V3)
    add(np.inner, "matrices", lambda a: np.inner(a, B23), A23)
    add(np.outer, "vectors", lambda u, v: np.outer(u, v), V3, V2)
    add(np.outer, "flattened", lambda a: np.outer(a, V2), M2)
    add(np.einsum, "ij,j->i", lambda a, v: np.einsum("ij,j->i", a, v), A23, V3)
    add(np.einsum, "ij,ij->", lambda a: np.einsum("ij,ij->", a, B23), A23)
    add(np.einsum, "ij->ji", lambda a: np.einsum("ij->ji", a), A23)
    add(np.einsum, "ij->", lambda a: np.einsum("ij->", a), A23)
    add(np.einsum, "i,j->ij", lambda u, v: np.einsum("i,j->ij", u, v), V3, V2)
    add(np.einsum, "implicit-ij,kj", lambda a: np.einsum("ij,kj", a, B23), A23)
    add(np.einsum, "implicit-ii", lambda m: np.einsum("ii", m), M2)
    add(np.einsum, "ii->i", lambda m: np.einsum("ii->i", m), M2)
    add(np.tensordot, "axes1", lambda a: np.tensordot(a, B32, axes=1), A23)
    add(np.tensordot, "axes2", lambda a: np.tensordot(a, B23, axes=2), A23)
    add(np.tensordot, "axes0", lambda u, v: np.tensordot(u, v, axes=0), V3, V2)
    add(np.tensordot, "axes-lists", lambda a: np.tensordot(a, B23, axes=([1], [1])), A23)
    add(np.tensordot, "axes-pairs", lambda a: np.tensordot(a, B32, axes=([0, 1], [1, 0])), A23)
    add(np.linalg.det, "2x2", lambda m: np.linalg.det(m), M2)
    add(np.linalg.det, "3x3", lambda m: np.linalg.det(m), M3)
    add(np.linalg.inv, "2x2", lambda m: np.linalg.inv(m), M2)
    add(np.linalg.inv, "3x3", lambda m: np.linalg.inv(m), M3)
    add(np.linalg.solve, "vector", lambda m, v: np.linalg.solve(m @ m.T + np.eye(3), v), M3, V3)
    add(np.linalg.slogdet, "logabsdet", lambda m: np.linalg.slogdet(m)[1], M3)
    add(np.linalg.cholesky, "spd", lambda m: np.linalg.cholesky(m @ m.T + np.eye(3)), M3)
    add(np.linalg.matrix_power, "cube", lambda m: np.linalg.matrix_power(m, 3), M2)
    add(np.cumprod, "flat", lambda a: np.cumprod(a), A23)
    add(np.cumprod, "axis1", lambda a: np.cumprod(a, axis=1), A23)
    add(np.polyval, "horner", lambda p, x: np.polyval(p, x), V3, X)
    add(np.vander, "increasing", lambda v: np.vander(v, 4, increasing=True), V3)
    add(np.convolve, "full", lambda u, v: np.convolve(u, v), X, V3)
    add(np.convolve, "same-constant-even", lambda u: np.convolve(u, V2, "same"), X)
    add(np.convolve, "valid-longer-kernel", lambda u: np.convolve(V2, u, mode="valid"), X)
    add(np.correlate, "valid", lambda u, v: np.correlate(u, v), X, V3)
    add(np.correlate, "full-longer-second", lambda u: np.correlate(V2, u, "full"), X)
    add(np.interp, "between-knots", lambda x: np.interp(x, [-1.0, 0.0, 0.5, 2.0], [0.3, -0.4, 1.2, 0.1]), X)
    add(np.interp, "traced-values-beyond", lambda f: np.interp([-2.0, 0.7, 3.0], [-1.0, 0.0, 1.0, 2.0], f, right=5.0), Y)
    add(np.sort, "axis0", lambda a: np.sort(a, axis=0), A23)
    add(np.sort, "flat", lambda a: np.sort(a ** 3, axis=None), A23)
    add(np.median, "even", lambda a: np.median(a, axis=1), A23.T)
    add(np.median, "odd", lambda a: np.median(a), A23[:, :3].reshape(-1)[:5])
    add(np.quantile, "linear", lambda a: np.quantile(a, [0.2, 0.9], axis=1), A23)
    add(np.percentile, "nearest", lambda a: np.percentile(a, 40, method="nearest"), A23)
    for conversion in [np.asarray, np.array, np.asanyarray, np.ascontiguousarray]:
        add(conversion, "plain", lambda x, c=conversion: c(x), X)
        add(conversion, "like", lambda x, c=conversion: c(x, like=x), X)
    add(np.asarray, "float-dtype-like", lambda x: np.asarray(x, dtype=np.float64, like=x), X)
    add(np.array, "list", lambda x: np.array([x[0] * x[1], 2.5, x[3]]), X)
    # structural: NumPy itself moves the symbolic elements
    x6 = np.array([0.3, -0.8, 1.1, -0.45, 0.9, 0.6])
    a123 = A23.reshape(1, 2, 3)
    add(np.reshape, "3x2", lambda a: np.reshape(a, (3, 2)), A23)
    add(np.ravel, "", lambda a: np.ravel(a), A23)
    add(np.transpose, "2d", lambda a: np.transpose(a), A23)
    add(np.transpose, "axes", lambda a: np.transpose(a, (2, 0, 1)), a123)
    add(np.swapaxes, "", lambda a: np.swapaxes(a, 0, 2), a123)
    add(np.moveaxis, "", lambda a: np.moveaxis(a, 0, -1), a123)
    add(np.concatenate, "constant", lambda x: np.concatenate([x, Y]), X)
    add(np.concatenate, "axis1", lambda a: np.concatenate([a, B23, a], axis=1), A23)
    add(np.stack, "axis1", lambda u, v: np.stack([u, v, V3], axis=1), V3, V3[::-1])
    add(np.hstack, "", lambda u, v: np.hstack([u, v]), V3, V2)
    add(np.vstack, "", lambda u, v: np.vstack([u, v]), V3, V3[::-1])
    add(np.column_stack, "", lambda u: np.column_stack([u, V3]), V3)
    add(np.diag, "build", lambda v: np.diag(v, k=1), V3)
    add(np.diag, "extract", lambda m: np.diag(m), M3)
    add(np.diagonal, "", lambda a: np.diagonal(a, offset=1), A23)
    add(np.triu, "", lambda a: np.triu(a), A23)
    add(np.tril, "", lambda a: np.tril(a, -1), M3)
    add(np.broadcast_to, "", lambda v: np.broadcast_to(v, (2, 3)), V3)
    add(np.squeeze, "", lambda a: np.squeeze(a, axis=0), a123)
    add(np.expand_dims, "", lambda v: np.expand_dims(v, 1), V3)
    add(np.flip, "", lambda a: np.flip(a, axis=1), A23)
    add(np.roll, "", lambda x: np.roll(x, -1), X)
    add(np.tile, "", lambda v: np.tile(v, 2), V3)
    add(np.repeat, "", lambda v: np.repeat(v, 2), V3)
    add(np.atleast_1d, "", lambda x: np.atleast_1d(x[0] * x[1]), X)
    add(np.atleast_2d, "", lambda x: np.atleast_2d(x), X)
    add(np.atleast_3d, "", lambda x: np.atleast_3d(x), X)
    add(np.split, "", lambda x: np.stack(np.split(x, 3)[::-1]), x6)
    add(np.array_split, "", lambda x: np.concatenate(np.array_split(x, 2)[::-1]), x6[:5])
    add(np.append, "", lambda x: np.append(x, 1.5), X)
    add(np.delete, "", lambda x: np.delete(x, 1), X)
    add(np.insert, "", lambda x: np.insert(x, 1, 2.5), X)
    add(np.take, "", lambda x: np.take(x, [3, 0, 0]), X)
    add(np.diagflat, "", lambda v: np.diagflat(v), V2)
    add(np.copy, "", lambda x: np.copy(x), X)
    add(np.fliplr, "", lambda a: np.fliplr(a), A23)
    add(np.flipud, "", lambda a: np.flipud(a), A23)
    add(np.rot90, "", lambda a: np.rot90(a), A23)
    add(np.cumsum, "flat", lambda a: np.cumsum(a), A23)
    add(np.cumsum, "axis1", lambda a: np.cumsum(a, axis=1), A23)
    add(np.diff, "n2", lambda x: np.diff(x, n=2), X)
    add(np.kron, "", lambda m: np.kron(m, M2), M2)
    add(np.zeros_like, "", lambda x: np.zeros_like(x) + x * x, X)
    add(np.ones_like, "", lambda x: np.ones_like(x) * x, X)
    add(np.full_like, "", lambda x: np.full_like(x, 2.5) / x, X)
    # these return plain numbers, as on arrays
    add(np.shape, "", lambda a: np.reshape(a, np.shape(a)[::-1]), A23)
    add(np.ndim, "", lambda x: x * np.ndim(x), X)
    add(np.size, "", lambda x: x / np.size(x), X)
    add(np.result_type, "", lambda x: np.zeros(np.shape(x), dtype=np.result_type(x, 1.0)) + x, X)
    return cases


CASES = _cases()


def test_every_function_is_covered():
    assert set(FUNCTIONS) == {case.values[0].function for case in CASES}


@pytest.mark.parametrize("case", CASES)
def test_function_value_and_derivatives(case):
    expected, got = case.func(*case.inputs), evaluate(case.func, *case.inputs)
    assert got.shape == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    check(scalarize(case.func, np.shape(expected)), *case.inputs)


def test_shape_functions_return_numbers():
    def func(a):
        assert np.shape(a) == (2, 3) and np.ndim(a) == 2 and np.size(a) == 6
        assert np.size(a, 1) == 3
        out = np.zeros(np.shape(a), dtype=np.result_type(a, 1.0))
        out[0, 1] = a[1, 2]
        return out

    np.testing.assert_array_equal(evaluate(func, A23), [[0, A23[1, 2], 0], [0, 0, 0]])


# ----- 3. PyTorch-style methods ----------------------------------------------------------

def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _logsumexp(x, axis, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


_erf = np.vectorize(math.erf)
_special = pytest.importorskip("scipy.special")

METHODS = {  # id: (traced, NumPy reference, inputs)
    "pow-number": (lambda x: x.pow(3), lambda x: x ** 3, (X,)),
    "pow-tensor": (lambda x, y: x.pow(y), lambda x, y: x ** y, (POSITIVE, Y)),
    "sum": (lambda a: a.sum(), np.sum, (A23,)),
    "sum-dim": (lambda a: a.sum(0), lambda a: np.sum(a, 0), (A23,)),
    "sum-dim-keepdim": (lambda a: a.sum(dim=1, keepdim=True), lambda a: a.sum(1, keepdims=True), (A23,)),
    "sum-axis-keepdims": (lambda a: a.sum(axis=-1, keepdims=True), lambda a: a.sum(-1, keepdims=True),
                          (A23,)),
    "mean": (lambda a: a.mean(), np.mean, (A23,)),
    "mean-dim": (lambda a: a.mean(dim=1, keepdim=True), lambda a: a.mean(1, keepdims=True), (A23,)),
    "prod": (lambda a: a.prod(), np.prod, (A23,)),
    "prod-dim": (lambda a: a.prod(1), lambda a: np.prod(a, 1), (A23,)),
    "max-dim": (lambda a: a.max(dim=0).values, lambda a: np.max(a, 0), (A23,)),
    "min": (lambda a: a.min(), np.min, (A23,)),
    "amax-amin": (lambda a: a.amax(dim=1, keepdim=True) * a.amin(0, keepdim=True),
                  lambda a: np.max(a, 1, keepdims=True) * np.min(a, 0, keepdims=True), (A23,)),
    # NumPy inputs: x.var(1) is ndarray.var (ddof 0); PyTorch's keywords make it torch's (test_arguments.py)
    "var-unbiased": (lambda a: a.var(unbiased=True), lambda a: np.var(a, ddof=1), (A23,)),
    "var-dim": (lambda a: a.var(dim=1), lambda a: np.var(a, 1, ddof=1), (A23,)),  # unbiased, as torch
    "var-numpy-axis": (lambda a: a.var(axis=1), lambda a: np.var(a, axis=1), (A23,)),
    "var-numpy-positional": (lambda a: a.var(1), lambda a: np.var(a, 1), (A23,)),
    "std": (lambda a: a.std(), np.std, (A23,)),
    "cumsum": (lambda a: a.cumsum(1), lambda a: np.cumsum(a, 1), (A23,)),
    "exp": (lambda x: x.exp(), np.exp, (X,)),
    "expm1": (lambda x: x.expm1(), np.expm1, (X,)),
    "exp2": (lambda x: x.exp2(), np.exp2, (X,)),
    "log": (lambda x: x.log(), np.log, (POSITIVE,)),
    "log1p": (lambda x: x.log1p(), np.log1p, (ABOVE_MINUS_ONE,)),
    "log2": (lambda x: x.log2(), np.log2, (POSITIVE,)),
    "log10": (lambda x: x.log10(), np.log10, (POSITIVE,)),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, (POSITIVE,)),
    "rsqrt": (lambda x: x.rsqrt(), lambda x: 1 / np.sqrt(x), (POSITIVE,)),
    "cbrt": (lambda x: x.cbrt(), np.cbrt, (X,)),
    "sin": (lambda x: x.sin(), np.sin, (X,)),
    "cos": (lambda x: x.cos(), np.cos, (X,)),
    "tan": (lambda x: x.tan(), np.tan, (X,)),
    "asin": (lambda x: x.asin() + x.acos() * x + x.atanh(), lambda x: np.arcsin(x) + np.arccos(x) * x
             + np.arctanh(x), (UNIT,)),
    "atan": (lambda x: x.atan() + x.asinh(), lambda x: np.arctan(x) + np.arcsinh(x), (X,)),
    "acosh": (lambda x: x.acosh(), np.arccosh, (ABOVE_ONE,)),
    "numpy-names": (lambda x: x.arcsin() + x.arccos() * x.arctan() + x.arcsinh() * x.arctanh() + x.arctan2(x + 2),
                    lambda x: np.arcsin(x) + np.arccos(x) * np.arctan(x) + np.arcsinh(x) * np.arctanh(x)
                    + np.arctan2(x, x + 2), (UNIT,)),
    "arccosh": (lambda x: x.arccosh().conjugate(), np.arccosh, (ABOVE_ONE,)),
    "atan2": (lambda x, y: x.atan2(y), np.arctan2, (X, Y)),
    "hypot": (lambda x, y: x.hypot(y), np.hypot, (X, Y)),
    "sinh-cosh": (lambda x: x.sinh() * x.cosh(), lambda x: np.sinh(x) * np.cosh(x), (X,)),
    "tanh": (lambda x: x.tanh(), np.tanh, (X,)),
    "sigmoid": (lambda x: x.sigmoid(), _sigmoid, (X,)),
    "erf": (lambda x: x.erf(), _erf, (X,)),
    "deg2rad": (lambda x: x.deg2rad() + x.rad2deg(), lambda x: np.deg2rad(x) + np.rad2deg(x), (X,)),
    "abs": (lambda x: x.abs(), np.abs, (X,)),
    "abs-builtin": (lambda x: abs(x) * x.sign(), lambda x: abs(x) * np.sign(x), (X,)),
    "neg": (lambda x: x.neg() + (-x) * x.negative(), lambda x: -x + x * x, (X,)),
    "reciprocal": (lambda x: x.reciprocal(), np.reciprocal, (X,)),
    "where-positive": (lambda x, y: x.where(x > 0, y) * x.positive(), lambda x, y: np.where(x > 0, x, y) * x, (X, Y)),
    "square": (lambda x: x.square(), np.square, (X,)),
    "relu": (lambda x: x.relu(), lambda x: np.maximum(x, 0), (X,)),
    "floor-ceil-round": (lambda x: x.floor() + x.ceil() * x + x.round(),
                         lambda x: np.floor(x) + np.ceil(x) * x + np.rint(x), (X,)),
    "maximum-minimum": (lambda x, y: x.maximum(y) * x.minimum(y), lambda x, y: np.maximum(x, y)
                        * np.minimum(x, y), (X, Y)),
    "clamp": (lambda x: x.clamp(-0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), (X,)),
    "clamp-min": (lambda x: x.clamp(min=-0.5), lambda x: np.maximum(x, -0.5), (X,)),
    "clamp-max": (lambda x: x.clip(max=0.5), lambda x: np.minimum(x, 0.5), (X,)),
    "add-sub-alpha": (lambda x, y: x.add(y, alpha=2).mul(y).sub(x, alpha=0.5).div(y),
                      lambda x, y: ((x + 2 * y) * y - 0.5 * x) / y, (X, Y)),
    "conversions": (lambda x: x.float().double().to("cpu").cpu().contiguous().clone().conj()
                    .astype(np.float64).requires_grad_() * x.copy(), lambda x: x * x, (X,)),
    "narrow": (lambda a: a.narrow(1, 1, 2), lambda a: a[:, 1:3], (A23,)),
    "view": (lambda a: a.view(3, 2), lambda a: a.reshape(3, 2), (A23,)),
    "view-minus-one": (lambda a: a.view(-1), lambda a: a.reshape(-1), (A23,)),
    "reshape-tuple": (lambda a: a.reshape((3, 2)), lambda a: a.reshape(3, 2), (A23,)),
    "flatten": (lambda a: a.flatten(), lambda a: a.reshape(-1), (A23,)),
    "flatten-start": (lambda a: a.flatten(1), lambda a: a.reshape(1, 6), (A23.reshape(1, 2, 3),)),
    "flatten-range": (lambda a: a.flatten(0, 1), lambda a: a.reshape(2, 3), (A23.reshape(1, 2, 3),)),
    "ravel": (lambda a: a.ravel(), np.ravel, (A23,)),
    "T": (lambda a: a.T, lambda a: a.T, (A23,)),
    "mT": (lambda a: a.mT, lambda a: np.swapaxes(a, -1, -2), (A23.reshape(1, 2, 3),)),
    "t": (lambda a: a.t(), lambda a: a.T, (A23,)),
    "transpose-pair": (lambda a: a.transpose(0, 2), lambda a: np.swapaxes(a, 0, 2), (A23.reshape(1, 2, 3),)),
    "transpose-numpy": (lambda a: a.transpose((2, 0, 1)), lambda a: a.transpose(2, 0, 1),
                        (A23.reshape(1, 2, 3),)),
    "swapaxes": (lambda a: a.swapaxes(0, 1), lambda a: a.swapaxes(0, 1), (A23,)),
    "permute": (lambda a: a.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), (A23.reshape(1, 2, 3),)),
    "squeeze": (lambda a: a.squeeze(), np.squeeze, (A23.reshape(1, 2, 1, 3),)),
    "squeeze-dim": (lambda a: a.squeeze(0).squeeze(1), lambda a: a[0], (A23.reshape(1, 2, 3),)),
    "unsqueeze": (lambda v: v.unsqueeze(0) * v.unsqueeze(-1), lambda v: np.outer(v, v), (V3,)),
    "expand": (lambda v: v.unsqueeze(0).expand(2, -1) * v.expand_as(B23), lambda v: np.stack([v * v] * 2),
               (V3,)),
    "repeat": (lambda a: a.repeat(2, 1, 2), lambda a: np.tile(a, (2, 1, 2)), (A23,)),
    "flip-diagonal-trace": (lambda m: m.flip(0).diagonal() * m.trace(),
                            lambda m: np.diagonal(np.flip(m, 0)) * np.trace(m), (M2,)),
    "matmul": (lambda a, v: a.matmul(v), np.matmul, (A23, V3)),
    "matmul-operator": (lambda a, v: v @ a, lambda a, v: v @ a, (A23, V2)),
    "mm": (lambda a: a.mm(B32), lambda a: a @ B32, (A23,)),
    "mv": (lambda a, v: a.mv(v), np.matmul, (A23, V3)),
    "dot": (lambda u, v: u.dot(v), np.dot, (V3, V3[::-1])),
    "norm": (lambda a: a.norm(), np.linalg.norm, (A23,)),
    "norm-p1": (lambda a: a.norm(p=1), lambda a: np.sum(np.abs(a)), (A23,)),
    "norm-p3-dim": (lambda a: a.norm(3, dim=1), lambda a: np.linalg.norm(a, 3, axis=1), (A23,)),
    "norm-dim-keepdim": (lambda a: a.norm(dim=0, keepdim=True),
                         lambda a: np.linalg.norm(a, axis=0, keepdims=True), (A23,)),
    "logsumexp": (lambda a: a.logsumexp(dim=1), lambda a: _logsumexp(a, 1), (A23,)),
    "logsumexp-keepdim": (lambda a: a.logsumexp(0, keepdim=True), lambda a: _logsumexp(a, 0, True),
                          (A23,)),
    "softmax": (lambda a: a.softmax(dim=1), lambda a: _softmax(a, 1), (A23,)),
    "softmax-default": (lambda a: a.softmax(), lambda a: _softmax(a, -1), (A23,)),
    "log-softmax": (lambda a: a.log_softmax(0), lambda a: np.log(_softmax(a, 0)), (A23,)),
    "mH-H": (lambda a: a.mH * a.H, lambda a: a.T * a.T, (A23,)),
    # special functions (their accuracy: tests/test_special.py)
    "gamma-functions": (lambda x: x.lgamma() + x.digamma() * x + x.polygamma(1) + x.polygamma(3) / 10,
                        lambda x: _special.gammaln(x) + _special.digamma(x) * x + _special.polygamma(1, x)
                        + _special.polygamma(3, x) / 10, (POSITIVE,)),
    "mvlgamma": (lambda x: x.mvlgamma(3), lambda x: _special.multigammaln(x, 3), (ABOVE_ONE + 1,)),
    "i0": (lambda x: x.i0(), lambda x: _special.i0(x), (X,)),
    "erfc-erfinv": (lambda x: x.erfc() + x.erfinv(), lambda x: _special.erfc(x) + _special.erfinv(x), (UNIT,)),
}


def test_every_method_is_covered():
    used = set().union(*(traced.__code__.co_names for traced, _, _ in METHODS.values()))
    metadata = {"data", "device", "dim", "dtype", "is_cuda", "ndim", "numel", "requires_grad", "shape", "size",
                "layout", "is_floating_point", "is_complex"}  # test_tensor.py
    refused = {"item", "tolist", "numpy", "long", "int", "half", "bfloat16"}  # test_errors.py
    public = {name for name in vars(Tensor) if (not name.startswith("_")
              and not name.endswith("_")) or name == "requires_grad_"}  # in-place methods: test_views.py
    generated = {name for name in vars(Tensor) if (vars(Tensor)[name].__doc__ or "").startswith("Elementwise ``")}
    assert public - used - metadata - refused - generated - set(ALIASES) == {"detach"}  # test_detach_blocks_the_gradient


@pytest.mark.parametrize("name", list(METHODS))
def test_method_value_and_derivatives(name):
    traced, reference, inputs = METHODS[name]
    expected, got = reference(*inputs), evaluate(traced, *inputs)
    assert got.shape == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    check(scalarize(dual(traced, reference), np.shape(expected)), *inputs)


def test_detach_blocks_the_gradient():
    compiled = symhess.compile(lambda x: np.sum(x.detach() * x ** 2), X)
    assert compiled.value(X) == pytest.approx(np.sum(X ** 3), rel=1e-12)
    np.testing.assert_allclose(compiled.gradient(X), 2 * X * X, rtol=1e-12)
    np.testing.assert_allclose(compiled.hessian(X), np.diag(2 * X), rtol=1e-12)


def test_size_and_shape_methods():
    def func(a):
        assert a.size(1) == 3 and a.size() == (2, 3) and a.size == 6 and a.numel() == 6
        assert a.dim() == 2 and a.ndim == 2 and len(a) == 2 and a.shape == (2, 3)
        return a.sum(a.dim() - 1)

    np.testing.assert_allclose(evaluate(func, A23), A23.sum(1), rtol=1e-12)


# ----- 4. PyTorch's derivatives at kinks (exact) ---------------------------------------------

def test_relu_at_zero():
    compiled = symhess.compile(lambda x: x.relu().sum(), np.zeros(3))
    x = np.array([0.0, 1.5, -2.0])
    np.testing.assert_array_equal(compiled.gradient(x), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(compiled.hessian(x), np.zeros((3, 3)))


@pytest.mark.parametrize("func", [lambda x: np.sum(np.abs(x)), lambda x: x.abs().sum()],
                         ids=["np.abs", "Tensor.abs"])
def test_abs_and_sign_at_zero(func):
    compiled = symhess.compile(func, np.zeros(3))
    x = np.array([0.0, 2.0, -2.0])
    np.testing.assert_array_equal(compiled.gradient(x), [0.0, 1.0, -1.0])
    np.testing.assert_array_equal(compiled.hessian(x), np.zeros((3, 3)))
    assert evaluate(lambda x: np.sign(x), x).tolist() == [0.0, 1.0, -1.0]


@pytest.mark.parametrize("func", [lambda x: x.clamp(-1.0, 1.0).sum(), lambda x: np.sum(np.clip(x, -1.0, 1.0))],
                         ids=["Tensor.clamp", "np.clip"])
def test_clamp_at_the_bounds(func):
    compiled = symhess.compile(func, np.zeros(4))
    x = np.array([-1.0, 1.0, 0.0, 2.0])
    assert compiled.value(x) == 1.0
    np.testing.assert_array_equal(compiled.gradient(x), [1.0, 1.0, 1.0, 0.0])


def test_one_sided_clamp_at_the_bound():
    compiled = symhess.compile(lambda x: x.clamp(min=1.0).sum() + x.clamp(max=-1.0).sum(), np.zeros(3))
    np.testing.assert_array_equal(compiled.gradient(np.array([1.0, -1.0, 0.0])), [1.0, 1.0, 0.0])


@pytest.mark.parametrize("ufunc", [np.maximum, np.minimum, np.fmax, np.fmin], ids=_name)
def test_maximum_of_a_tie_splits_the_gradient(ufunc):
    compiled = symhess.compile(lambda x, y: np.sum(ufunc(x, y)), np.zeros(2), np.zeros(2))
    gx, gy = compiled.gradient(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    assert gx.tolist() == [0.5, 1.0 if ufunc in (np.maximum, np.fmax) else 0.0]
    assert gy.tolist() == [0.5, 0.0 if ufunc in (np.maximum, np.fmax) else 1.0]
    same = symhess.compile(lambda x: np.sum(ufunc(x, x)), np.zeros(2))
    np.testing.assert_array_equal(same.gradient(np.array([1.0, -2.0])), [1.0, 1.0])


@pytest.mark.parametrize(("func", "sign"), [
    (lambda x: np.max(x), 1.0), (lambda x: x.max(), 1.0),
    (lambda x: np.amin(x), -1.0), (lambda x: x.min(dim=0).values, -1.0),
], ids=["np.max", "Tensor.max", "np.amin", "Tensor.min"])
def test_amax_ties_share_the_gradient(func, sign):
    compiled = symhess.compile(func, np.zeros(3))
    np.testing.assert_array_equal(compiled.gradient(sign * np.array([1.0, 3.0, 3.0])), [0.0, 0.5, 0.5])
    np.testing.assert_array_equal(compiled.gradient(np.full(3, 2.0)), [1 / 3] * 3)


def test_amax_along_an_axis_with_ties():
    compiled = symhess.compile(lambda a: np.sum(np.max(a, axis=1) * np.array([1.0, 2.0])), np.zeros((2, 3)))
    a = np.array([[1.0, 1.0, 0.0], [0.0, 4.0, 4.0]])
    np.testing.assert_array_equal(compiled.gradient(a), [[0.5, 0.5, 0.0], [0.0, 1.0, 1.0]])


def test_floor_has_zero_derivative():
    compiled = symhess.compile(lambda x: np.sum(np.floor(x) * x), np.zeros(2))
    x = np.array([1.7, -0.3])
    assert compiled.value(x) == pytest.approx(1.7 + 0.3)
    np.testing.assert_array_equal(compiled.gradient(x), [1.0, -1.0])


# ----- 6. broadcasting, indexing, closures (5., bad input, is test_errors.py) -----------

SHAPES = {  # id: (function, inputs)
    "column-plus-row": (lambda c, r: np.sin(c + r) * (c - r), (V2.reshape(2, 1), V3)),
    "matrix-times-row": (lambda a: a * V3 - a / (V3 + 2), (A23,)),
    "scalar-element-times-vector": (lambda x: x[0] * x + x[-1] ** 2, (X,)),
    "0d-input": (lambda s, v: s * v + np.exp(s), (np.array(0.7), V3)),
    "keepdims-broadcast": (lambda a: a - a.mean(axis=1, keepdims=True), (A23,)),
    "negative-index": (lambda x: x[-1] * x[-2] + x[-4], (X,)),
    "step": (lambda x: x[::2] * x[1::2], (X,)),
    "reverse": (lambda x: x[::-1] * x, (X,)),
    "negative-slice": (lambda x: x[-3:-1] ** 2, (X,)),
    "negative-step-range": (lambda x: x[3:0:-2] * 3.0, (X,)),
    "matrix-slices": (lambda a: a[:, -1] * a[-1, ::-2], (A23,)),
    "ellipsis-newaxis": (lambda a: a[..., 1][None, :] * a[:, None, 0], (A23,)),
    "fancy-index": (lambda a: a[[0, 1, 1], [2, 0, 2]] * a[np.array([1, 0])].sum(axis=1)[[0, 1, 0]], (A23,)),
    "constant-mask": (lambda x: x[np.array([True, False, True, True])] ** 2, (X,)),
    "setitem-on-traced": (lambda x: _setitem(x), (X,)),
    "list-of-traced": (lambda x: np.array([x[0] * x[1], x[2], 1.5]) * np.array([x[3], x[3], x[0]]), (X,)),
    "iterate": (lambda a: np.stack([row * k for k, row in enumerate(a, 1)]), (A23,)),
    "closure-constants": (lambda x: _closure(x), (X,)),
    "object-array-loops": (lambda x: np.sin(np.asarray(x)) * np.arctan2(np.asarray(x), 2.0)
                           + np.sqrt(np.asarray(x) ** 2 + 1), (X,)),
    "condition-folds-to-a-number": (lambda x: np.where(x * 0 > 1, x, 2 * x) + np.where(x * 0 < 1, x, 0.0),
                                    (X,)),
}

_CONSTANTS = (np.array([2, -1, 3, 1]), np.array([0.5, 1.5, -2.0, 0.25]), 3, 2.5, np.float64(1.5), [1.0, 2.0, 3.0, 4.0])


def _setitem(x):
    y = x.copy()
    y[0] = x[1] ** 2
    z = np.zeros_like(x)
    z[1:] = x[:-1] * 2
    z[-1] += y[0]
    return y * z + y


def _closure(x):
    ints, floats, count, scale, numpy_scalar, values = _CONSTANTS
    return ints * x ** 2 + floats / (x + count) + scale * np.sin(x) * numpy_scalar + x * values - count


@pytest.mark.parametrize("name", list(SHAPES))
def test_broadcasting_indexing_and_constants(name):
    func, inputs = SHAPES[name]
    expected, got = func(*inputs), evaluate(func, *inputs)
    assert got.shape == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    check(scalarize(func, np.shape(expected)), *inputs)


def test_interp_at_knots_ends_and_nan():
    """np.interp's derivative at a knot is the right segment's slope (JAX's convention: searchsorted
    to the right), the last knot takes the last segment's, beyond the ends it is 0; NaN stays NaN."""
    xp, fp = np.array([0.0, 1.0, 3.0]), np.array([2.0, -1.0, 3.0])  # slopes -3 and 2
    at = np.array([0.0, 1.0, 3.0, -0.5, 3.5])
    f = symhess.compile(lambda x: np.sum(np.interp(x, xp, fp)), at)
    np.testing.assert_allclose(f.value(at), np.interp(at, xp, fp).sum(), rtol=1e-15)
    np.testing.assert_array_equal(f.gradient(at), [-3.0, 2.0, 2.0, 0.0, 0.0])
    assert np.isnan(f.value(np.array([0.0, np.nan, 3.0, 1.0, 2.0])))
    with pytest.raises(symhess.TraceError, match="strictly increase"):
        symhess.compile(lambda x: np.sum(np.interp(x, [0.0, 1.0, 1.0], fp)), at)
    with pytest.raises(symhess.TraceError, match="period"):
        symhess.compile(lambda x: np.sum(np.interp(x, xp, fp, period=3.0)), at)
    with pytest.raises(symhess.TraceError, match="traced sample points"):
        symhess.compile(lambda x: np.sum(np.interp(0.5, x[:3], fp)), at)
