"""The drop-in API: PyTorch's doc examples, shapes, nesting, errors and strict mode."""

import re

import numpy as np
import pytest
import scipy.optimize as so

import symhess


def pow_reducer(x):
    return x.pow(3).sum()


def pow_adder_reducer(x, y):
    return (2 * x.pow(2) + 3 * y.pow(2)).sum()


def test_hessian_doc_example_single_input(rng):
    x = rng.random((2, 2))
    H = symhess.hessian(pow_reducer, x)
    assert H.shape == (2, 2, 2, 2)
    assert H.dtype == np.float64
    np.testing.assert_allclose(H.reshape(4, 4), np.diag(6 * x.reshape(-1)))


def test_hessian_doc_example_two_inputs(rng):
    H = symhess.hessian(pow_adder_reducer, (rng.random(2), rng.random(2)))
    assert isinstance(H, tuple) and all(isinstance(row, tuple) for row in H)
    np.testing.assert_array_equal(H[0][0], 4 * np.eye(2))
    np.testing.assert_array_equal(H[0][1], np.zeros((2, 2)))
    np.testing.assert_array_equal(H[1][0], np.zeros((2, 2)))
    np.testing.assert_array_equal(H[1][1], 6 * np.eye(2))


@pytest.mark.parametrize("n", [2, 5, 50])
def test_rosenbrock_matches_scipy(n, rng):
    x0 = rng.uniform(-2, 2, n)
    p = rng.standard_normal(n)
    H = symhess.hessian(so.rosen, x0)
    np.testing.assert_allclose(H, so.rosen_hess(x0), rtol=1e-10, atol=1e-10)
    value, product = symhess.hvp(so.rosen, x0, p)
    np.testing.assert_allclose(product, so.rosen_hess_prod(x0, p), rtol=1e-10)
    assert value == pytest.approx(so.rosen(x0), rel=1e-12)
    _, product = symhess.vhp(so.rosen, x0, p)
    np.testing.assert_allclose(product, so.rosen_hess_prod(x0, p), rtol=1e-10)


def test_hvp_and_vhp_structure_follows_inputs(rng):
    inputs = (rng.random(2), rng.random(2))
    v = (np.zeros(2), np.ones(2))
    for fn in (symhess.hvp, symhess.vhp):
        value, product = fn(pow_adder_reducer, inputs, v)
        assert np.shape(value) == ()
        assert isinstance(product, tuple) and len(product) == 2
        np.testing.assert_array_equal(product[0], [0.0, 0.0])
        np.testing.assert_array_equal(product[1], [6.0, 6.0])


def test_func_output_is_not_squeezed():
    value, _ = symhess.hvp(lambda x: x.pow(2).sum().reshape(1, 1), np.ones(2), np.ones(2))
    assert np.shape(value) == (1, 1)
    H = symhess.hessian(lambda x: (x * x).sum(dim=0, keepdim=True), np.ones(2))
    np.testing.assert_array_equal(H, 2 * np.eye(2))


def test_scalar_input_and_v_none():
    value, product = symhess.hvp(lambda x: x**3, np.array(2.0))
    assert value == 8.0 and product == 12.0
    assert symhess.hessian(lambda x: x**3, 2.0) == 12.0


def test_float32_inputs_give_float32_blocks(rng):
    x, y = rng.random(2).astype(np.float32), rng.random(3)
    H = symhess.hessian(lambda a, b: (a.sum() * b).sum(), (x, y))
    assert H[0][0].dtype == np.float32 and H[1][0].dtype == np.float32
    assert H[0][1].dtype == np.float64 and H[1][1].dtype == np.float64


def test_jacobian_shapes_and_nesting(rng):
    x, y = rng.random(3), rng.random((2, 2))
    J = symhess.jacobian(lambda a: a.exp(), x)
    np.testing.assert_allclose(J, np.diag(np.exp(x)))
    J = symhess.jacobian(lambda a, b: (a * 2, b.sum() * a), (x, y))
    assert J[0][0].shape == (3, 3) and J[0][1].shape == (3, 2, 2)
    assert J[1][1].shape == (3, 2, 2)
    np.testing.assert_allclose(J[1][1], np.broadcast_to(x[:, None, None], (3, 2, 2)))


def test_repeated_calls_reuse_the_compiled_pipeline(rng):
    from symhess import pipeline

    def f(x):
        return (x**4).sum()

    symhess.hessian(f, rng.random(3))
    count = len(pipeline._MEMORY)
    for _ in range(3):
        symhess.hessian(f, rng.random(3))
    assert len(pipeline._MEMORY) == count


def leaves(nested):
    return [leaf for item in nested for leaf in leaves(item)] if isinstance(nested, tuple) else [nested]


def test_repeated_calls_give_the_first_calls_results(rng):
    """Calls after the trace is trusted take the lean path (symhess.plans): same types, shapes, dtypes."""
    def f(a, b):
        return ((a.sum() * b) ** 2).sum().reshape(1, 1)

    x, y = rng.random(2).astype(np.float32), rng.random((2, 2))
    first = (symhess.hessian(f, (x, y)), symhess.hvp(f, (x, y), (x, y)))
    for _ in range(3):
        again = (symhess.hessian(f, (x, y)), symhess.hvp(f, (x, y), (x, y)))
    for ours, theirs in zip(leaves(again), leaves(first), strict=True):
        assert type(ours) is type(theirs) and ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)
    assert np.shape(again[1][0]) == (1, 1) and again[1][1][0].dtype == np.float32


def test_captured_constants_stay_current():
    weights = np.array([1.0, 2.0])

    def f(x):
        return (weights * x**2).sum()

    np.testing.assert_array_equal(symhess.hessian(f, np.ones(2)), np.diag([2.0, 4.0]))
    weights = np.array([3.0, 5.0])
    np.testing.assert_array_equal(symhess.hessian(f, np.ones(2)), np.diag([6.0, 10.0]))


# ----- validation errors: PyTorch's types and texts --------------------------------

def test_non_tensor_input_is_a_type_error():
    with pytest.raises(TypeError, match=re.escape("The inputs given to hessian must be either a Tensor or a "
                                        "tuple of Tensors but the given inputs has type <class 'str'>.")):
        symhess.hessian(pow_reducer, "x")
    with pytest.raises(TypeError, match=re.escape("but the value at index 1 has type <class 'list'>")):
        symhess.hessian(pow_adder_reducer, (np.ones(2), [1.0]))


def test_non_tensor_output_is_a_type_error():
    for output in (None, "3.0", True):
        with pytest.raises(TypeError, match=re.escape("The outputs of the user-provided function given to hessian "
                                            f"must be either a Tensor or a tuple of Tensors but the given outputs "
                                            f"of the user-provided function has type {type(output)}.")):
            symhess.hessian(lambda x: output, np.ones(2))  # noqa: B023 - called now


@pytest.mark.parametrize("constant", [3.0, 2, np.float64(1.5), np.array(0.5)], ids=["float", "int", "np.float64", "0-d"])
def test_a_python_or_numpy_number_output_is_a_tensor_with_zero_derivatives(constant):
    """API.md counts Python numbers as tensors: a constant's derivatives are zeros, as PyTorch gives for a
    function returning a constant tensor; strict mode raises PyTorch's 'does not require gradients'."""
    x = np.ones(3)
    np.testing.assert_array_equal(symhess.hessian(lambda a: constant, x), np.zeros((3, 3)))
    assert [h.shape for row in symhess.hessian(lambda a, b: constant, (x, np.ones(2))) for h in row] == \
        [(3, 3), (3, 2), (2, 3), (2, 2)]
    value, product = symhess.hvp(lambda a: constant, x, np.ones(3))
    assert value == constant and np.array_equal(product, np.zeros(3))
    np.testing.assert_array_equal(symhess.jacobian(lambda a: constant, x), np.zeros(3))
    np.testing.assert_array_equal(symhess.hessian(lambda a: constant, 2.0), 0.0)
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function does not require gradients"):
        symhess.hessian(lambda a: constant, x, strict=True)


def test_tuple_and_multi_element_outputs_are_runtime_errors():
    with pytest.raises(RuntimeError, match=re.escape("The function given to hessian should return a single Tensor")):
        symhess.hessian(lambda x: (x.sum(), x.sum()), np.ones(2))
    with pytest.raises(RuntimeError, match=re.escape("The Tensor returned by the function given to hvp should "
                                           "contain a single element")):
        symhess.hvp(lambda x: x * 2, np.ones(2), np.ones(2))


def test_v_validation_messages():
    with pytest.raises(RuntimeError, match=re.escape("The vector v can only be None if the input to the "
                                           "user-provided function is a single Tensor with a single element.")):
        symhess.hvp(pow_reducer, np.ones(2))
    with pytest.raises(RuntimeError, match=r"v has invalid size: should be torch.Size\(\[2\]\) but got "
                                           r"torch.Size\(\[3\]\)."):
        symhess.vhp(pow_reducer, np.ones(2), np.ones(3))
    with pytest.raises(RuntimeError, match=re.escape("v is a tuple of invalid length: should be 2 but got 1.")):
        symhess.hvp(pow_adder_reducer, (np.ones(2), np.ones(2)), (np.ones(2),))
    with pytest.raises(RuntimeError, match=r"Entry 1 in v has invalid size"):
        symhess.hvp(pow_adder_reducer, (np.ones(2), np.ones(2)), (np.ones(2), np.ones(1)))
    with pytest.raises(RuntimeError, match=re.escape("The given v should contain a single Tensor.")):
        symhess.hvp(pow_reducer, np.ones(2), (np.ones(2), np.ones(2)))


def test_strategy_and_vectorize_validation():
    with pytest.raises(AssertionError, match=re.escape('Expected strategy to be either "forward-mode" or "reverse-mode".')):
        symhess.hessian(pow_reducer, np.ones(2), outer_jacobian_strategy="sideways")
    with pytest.raises(NotImplementedError, match=re.escape("only implemented for `vectorize=True`")):
        symhess.hessian(pow_reducer, np.ones(2), outer_jacobian_strategy="forward-mode")
    with pytest.raises(RuntimeError, match=re.escape("`strict=True` and `vectorized=True` are not supported together")):
        symhess.hessian(pow_reducer, np.ones(2), strict=True, vectorize=True)
    H = symhess.hessian(pow_reducer, np.ones(2), vectorize=True, outer_jacobian_strategy="forward-mode")
    np.testing.assert_array_equal(H, 6 * np.eye(2))


# ----- strict ---------------------------------------------------------------------

def test_strict_linear_function_raises():
    with pytest.raises(RuntimeError, match=re.escape("jacobian of the user-provided function with respect to "
                                           "input 0 is independent of the input")):
        symhess.hessian(lambda x: (2 * x).sum(), np.ones(2), strict=True)
    np.testing.assert_array_equal(symhess.hessian(lambda x: (2 * x).sum(), np.ones(2)), np.zeros((2, 2)))


def test_strict_detached_output_raises():
    with pytest.raises(RuntimeError, match=re.escape("Output 0 of the user-provided function does not require gradients")):
        symhess.hessian(lambda x: x.detach().pow(2).sum(), np.ones(2), strict=True)


def test_strict_independent_input_raises_and_non_strict_gives_zeros():
    def f(x, y):
        return (x**3).sum()

    with pytest.raises(RuntimeError, match=re.escape("independent of input 1")):
        symhess.hvp(f, (np.ones(2), np.ones(2)), (np.ones(2), np.ones(2)), strict=True)
    H = symhess.hessian(f, (np.ones(2), np.ones(2)))
    np.testing.assert_array_equal(H[1][1], np.zeros((2, 2)))
    np.testing.assert_array_equal(H[0][1], np.zeros((2, 2)))


# ----- vjp and jvp (NumPy; side by side with PyTorch in test_torch_products.py) ---------------

def two_outputs(x, y):
    return np.sin(x) * y.sum(), (x * y).prod()


def test_vjp_and_jvp_are_products_with_the_jacobian(rng):
    inputs, v_out, v_in = (rng.random(3), rng.random(3)), (rng.random(3), rng.random()), (rng.random(3), rng.random(3))
    J = symhess.jacobian(two_outputs, inputs)
    value, vjp = symhess.vjp(two_outputs, inputs, v_out)
    np.testing.assert_allclose(value[0], two_outputs(*inputs)[0], rtol=1e-14)
    for j in range(2):
        np.testing.assert_allclose(vjp[j], v_out[0] @ J[0][j] + v_out[1] * J[1][j], rtol=1e-12)
    value, jvp = symhess.jvp(two_outputs, inputs, v_in)
    assert isinstance(value, tuple) and isinstance(jvp, tuple) and np.shape(jvp[1]) == ()
    for i in range(2):
        np.testing.assert_allclose(jvp[i], J[i][0] @ v_in[0] + J[i][1] @ v_in[1], rtol=1e-12)


def test_vjp_and_jvp_structure_and_dtypes():
    x = np.array([1.0, 2.0], dtype=np.float32)
    value, product = symhess.vjp(lambda a: a**2, x, np.ones(2))
    assert value.dtype == product.dtype == np.float32 and product.shape == (2,)
    np.testing.assert_allclose(product, [2.0, 4.0])
    value, product = symhess.jvp(lambda a: (a**2).sum().reshape(1, 1), (x,), (np.ones(2),))
    assert value.shape == product.shape == (1, 1) and product.dtype == np.float32 and product[0, 0] == 6.0
    assert symhess.vjp(lambda a: a**3, 2.0) == (8.0, 12.0)
    assert symhess.jvp(lambda a: a**3, np.array([2.0])) == (np.array([8.0]), np.array([12.0]))


@pytest.mark.parametrize(("api", "v", "message"), [
    ("vjp", None, "The vector v can only be None if the user-provided function returns a single Tensor with a single "
                  "element."),
    ("jvp", None, "The vector v can only be None if the input to the user-provided function is a single Tensor with a "
                  "single element."),
    ("vjp", np.ones(3), "v has invalid size: should be torch.Size([2]) but got torch.Size([3])."),
    ("jvp", (np.ones(2), np.ones(2)), "The given v should contain a single Tensor."),
])
def test_vjp_and_jvp_validate_v_as_pytorch(api, v, message):
    with pytest.raises(RuntimeError, match=re.escape(message)):
        getattr(symhess, api)(lambda a: a * 2, np.ones(2), v)


@pytest.mark.parametrize("api", ["vjp", "jvp"])
def test_vjp_and_jvp_strict(api):
    """strict: PyTorch's RuntimeError for an unused input; lax: zeros for it."""
    inputs, v = (np.ones(2), np.ones(2)), np.ones(2)
    v = (v, v) if api == "jvp" else v
    with pytest.raises(RuntimeError, match="independent of input 1"):
        getattr(symhess, api)(lambda a, b: a * 2, inputs, v, strict=True)
    _, product = getattr(symhess, api)(lambda a, b: a * 2, inputs, v)
    np.testing.assert_array_equal(product[1] if api == "vjp" else product, [0.0, 0.0] if api == "vjp" else [2.0, 2.0])


def test_vector_functions_compile_once_for_new_data(rng):
    """The arrays func reads are runtime data: a loop over new batches reuses one expression list."""
    from symhess import expression_lists

    w = rng.random(3)
    for step in range(3):
        X = rng.random((4, 3))
        before = len(expression_lists._LISTS)
        J = symhess.jacobian(lambda w: np.tanh(X @ w), w)  # noqa: B023 - called now
        _, vjp = symhess.vjp(lambda w: np.tanh(X @ w), w, np.ones(4))  # noqa: B023
        if step:
            assert len(expression_lists._LISTS) == before
        expected = (1 - np.tanh(X @ w) ** 2)[:, None] * X
        np.testing.assert_allclose(J, expected, rtol=1e-12)
        np.testing.assert_allclose(vjp, expected.sum(axis=0), rtol=1e-12)


def test_vector_functions_follow_what_they_read(rng):
    """Traces are reused only under the same fingerprint: a changed constant or a function whose traces
    differ (a random number) is traced again."""
    x = rng.random(3)
    for c in (1.0, 2.0, 2.0, 3.0):
        np.testing.assert_allclose(symhess.jacobian(lambda a: c * a**2, x), np.diag(2 * c * x))  # noqa: B023
    used = []

    def scale():
        used.append(rng.random())
        return used[-1]

    for _ in range(4):
        _, product = symhess.jvp(lambda a: a * scale(), x, np.ones(3))
        assert product[0] == pytest.approx(used[-1])  # this call's draw, not a reused trace's
    assert len(used) == 4


def test_the_call_that_makes_a_plan_warms_it_up(monkeypatch):
    """A Newton loop's second call runs as fast as its tenth: the first call evaluates the new
    plan WARM_UP_CALLS more times (Python specialises bytecode after a few calls), and traces
    nothing more for it."""
    from symhess import functional

    evaluated, traced = [], []
    real_plan, real_trace = functional.hessian_plan, functional.trace_function

    def counted(*args):
        plan = real_plan(*args)
        return lambda *a: evaluated.append(1) or plan(*a)

    monkeypatch.setattr(functional, "hessian_plan", counted)
    monkeypatch.setattr(functional, "trace_function", lambda *a, **k: traced.append(1) or real_trace(*a, **k))
    X = np.cos(np.arange(24.0)).reshape(8, 3)

    def f(w):
        return (np.log(1 + np.exp(X @ w)) - X[:, 0] * (X @ w)).sum()

    w = np.full(3, 0.1)
    first = symhess.hessian(f, w)
    assert len(evaluated) == 1 + functional.WARM_UP_CALLS and len(traced) == 2
    np.testing.assert_array_equal(symhess.hessian(f, w), first)
    assert len(traced) == 2 and len(evaluated) == 2 + functional.WARM_UP_CALLS
