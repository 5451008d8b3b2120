"""The placeholder itself: metadata, protocols, conversions and what a trace records."""

from __future__ import annotations

import numpy as np
import pytest
import symengine as se
from tracing_helpers import evaluate

from symhess.tracing import Tensor, input_names, placeholders, trace_function
from symhess.tracing.elementwise import constant
from symhess.tracing.placeholder import as_objects, wrap


@pytest.fixture
def x():
    return Tensor(placeholders("x", (2, 3)))


def test_metadata(x):
    assert x.shape == (2, 3) and x.ndim == 2 and x.dim() == 2 and x.numel() == 6
    assert x.size == 6 and x.size() == (2, 3) and x.size(-1) == 3
    assert len(x) == 2 and x.dtype == np.float64 and x.device == "cpu"
    assert x.requires_grad and not x.is_cuda
    assert repr(x) == "Tensor(shape=(2, 3), symbolic)" and repr(x[1, 2]) == "Tensor(x[1, 2])"


def test_zero_dim_has_no_len(x):
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(x[0, 0])


def test_iteration_yields_rows(x):
    rows = list(x)
    assert len(rows) == 2 and all(isinstance(r, Tensor) and r.shape == (3,) for r in rows)
    assert str(rows[1].data[2]) == "x[1, 2]"


def test_placeholders_are_unhashable_and_comparisons_are_traced(x):
    with pytest.raises(TypeError):
        hash(x)
    assert isinstance(x == x, Tensor) and (x < 1).shape == (2, 3)
    assert +x is not x and list((+x).data.flat) == list(x.data.flat)  # NumPy's +x copies (test_views.py)


def test_numpy_sees_an_object_array(x):
    array = np.asarray(x)
    assert array.dtype == object and array.shape == (2, 3)
    assert all(isinstance(item, Tensor) and item.shape == () for item in array.reshape(-1))


def test_torch_shape_errors(x):
    with pytest.raises(RuntimeError, match="<= 2 dimensions"):
        Tensor(placeholders("y", (1, 2, 3))).t()
    with pytest.raises(RuntimeError, match="self must be a matrix"):
        x[0].mm(x)
    with pytest.raises(RuntimeError, match="wrong dimensions"):
        x.mv(x)
    with pytest.raises(ValueError, match="at least one of 'min' or 'max'"):
        x.clamp()
    with pytest.raises(ValueError, match="not aligned"):
        x @ x


@pytest.mark.parametrize(("value", "expected"), [
    (2.0, se.Integer(2)), (True, se.Integer(1)), (np.int64(-3), se.Integer(-3)),
    (0.5, se.RealDouble(0.5)), (np.float32(0.25), se.RealDouble(0.25)), (1e300, se.RealDouble(1e300)),
], ids=["integral-float", "bool", "numpy-int", "float", "float32", "huge"])
def test_constants_become_symengine_numbers(value, expected):
    got = constant(value)
    assert got == expected and type(got) is type(expected)


def test_wrap_and_as_objects():
    assert wrap(2.5).shape == () and str(wrap(2.5).data[()]) == "2.5"
    mixed = as_objects([1.0, se.Symbol("s"), np.array(3.0)])
    assert [str(v) for v in mixed] == ["1", "s", "3"]
    assert as_objects(np.array([[1, 2]], dtype=np.int32)).shape == (1, 2)


def test_input_names_follow_the_signature():
    assert input_names(lambda a, b: 0, 2) == ("a", "b")
    assert input_names(lambda x: 0, 1) == ("x",)
    assert input_names(lambda *xs: 0, 2) == ("x0", "x1")
    assert input_names(lambda q: 0, 2) == ("x0", "x1")   # more inputs than parameters
    assert str(placeholders("w", (2, 1))[1, 0]) == "w[1, 0]" and str(placeholders("s", ())[()]) == "s"


def test_trace_records_tuple_outputs_and_constants():
    trace = trace_function(lambda a, b: (a + b, a * 0 + 1.5, 7), [(2,), ()])
    assert trace.names == ("a", "b") and trace.shapes == ((2,), ())
    assert trace.output_is_tuple and len(trace.outputs) == 3
    a, b = se.symbols("a[0] a[1]"), se.Symbol("b")
    assert list(trace.outputs[0]) == [a[0] + b, a[1] + b]
    assert [float(e) for e in trace.outputs[1]] == [1.5, 1.5] and trace.outputs[2][()] == 7
    assert trace.output_types[2] is int


def test_outputs_of_views_are_contiguous_copies():
    """A transposed or diagonal (read-only) view is returned as a plain array of expressions."""
    trace = trace_function(lambda a: (np.full_like(a, 0.5).T, np.diagonal(a)), [(2, 2)])
    transposed, diagonal = trace.outputs
    assert all(isinstance(e, se.Basic) for e in transposed.reshape(-1))
    assert [str(e) for e in diagonal] == ["a[0, 0]", "a[1, 1]"]


def test_sums_are_one_nary_add():
    trace = trace_function(lambda v: np.sum(v) + 0 * v[0], [(6,)])
    assert len(trace.output[()].args) == 6


def test_setitem_stores_expressions():
    def func(a):
        b = np.zeros_like(a)
        b[0] = a[1] * 2
        b[1:] = a[:-1]
        b[-1] += 1
        return b

    trace = trace_function(func, [(3,)])
    a = se.symbols("a[0] a[1]")
    assert list(trace.output) == [2 * a[1], a[0], a[1] + 1]
    np.testing.assert_allclose(evaluate(func, np.array([1.0, 2.0, 3.0])), [4.0, 1.0, 3.0])


def test_long_truncates_and_stops_the_gradient():
    import symhess

    f = symhess.compile(lambda x: (x.long().float() * x).sum(), np.array([1.7, -2.5]))
    np.testing.assert_array_equal(f.gradient(np.array([1.7, -2.5])), [1.0, -2.0])
    np.testing.assert_array_equal(f.hessian(np.array([1.7, -2.5])), np.zeros((2, 2)))


def test_unsupported_methods_are_trace_errors_and_still_attribute_errors():
    from symhess.tracing import TraceError, trace_function

    def uses_argsort(x):
        return x.argsort().sum()

    with pytest.raises(TraceError, match="no method or attribute 'argsort'") as raised:
        trace_function(uses_argsort, [(3,)])
    assert isinstance(raised.value, AttributeError)
    assert "uses_argsort" in str(raised.value) or "argsort()" in str(raised.value)
    assert not hasattr(Tensor(placeholders("x", (2,))), "argsort")


def test_torch_metadata_of_real_floating_placeholders(x):
    """What PyTorch's own Python code asks of a tensor (torch.masked reads ``layout`` and
    ``is_floating_point()``): answered as for a strided real float tensor."""
    assert x.is_floating_point() and not x.is_complex()
    assert [str(e) for e in x.mH.data.flat] == [str(e) for e in x.T.data.flat] == [str(e) for e in x.H.data.flat]
    with pytest.raises(RuntimeError, match=r"tensor\.H is only supported on matrices"):
        _ = x[0].H
    with pytest.raises(RuntimeError, match=r"tensor\.mH is only supported on matrices or batches"):
        _ = x[0].mH
    torch = pytest.importorskip("torch")
    assert x.layout is torch.strided


def test_cumsum_honours_floating_dtypes_and_refuses_others(x):
    from symhess import TraceError

    assert [str(e) for e in x.cumsum(1, dtype=np.float64).data.flat] == [str(e) for e in x.cumsum(1).data.flat]
    with pytest.raises(TraceError, match=r"cumsum\(..., dtype=int64\).*not be floating point"):
        x.cumsum(1, dtype=np.int64)


def test_modulo_operators_take_the_divisors_sign():
    """``%`` is NumPy's and PyTorch's remainder (Python's): the sign of the divisor; np.fmod the dividend's."""
    a, b = np.array([2.5, -2.5, 7.0, -0.3]), np.array([0.7, 0.7, -3.0, 2.0])
    for func in (lambda a, b: a % b, lambda a, b: 5.5 % b, lambda a, b: a % -0.75, lambda a, b: np.fmod(a, b),
                 lambda a, b: np.remainder(a, b)):
        np.testing.assert_allclose(evaluate(func, a, b), func(a, b), rtol=1e-14)


def test_conversions_that_round_are_refused_and_integers_truncate():
    torch = pytest.importorskip("torch")
    import symhess

    x = torch.tensor([0.3, -1.7], dtype=torch.float64)
    for convert in (lambda x: x.to(torch.float16), lambda x: x.to(dtype=torch.bfloat16), lambda x: x.half(),
                    lambda x: x.to(torch.bool)):
        with pytest.raises(symhess.TraceError, match="round"):
            symhess.hessian(lambda x, convert=convert: convert(x).sum() * x.sum(), x)
    h = symhess.hessian(lambda x: (x.to(torch.int64) * x * x).sum(), x)  # trunc(x) = [0, -1], no gradient
    np.testing.assert_array_equal(h.numpy(), np.diag([0.0, -2.0]))
