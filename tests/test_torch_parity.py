"""Parity with ``torch.autograd.functional``, side by side.

Every behaviour that PyTorch's own tests of ``hessian``, ``hvp``, ``vhp`` and ``jacobian``
check (``test/autograd/test_functional.py``) is checked here by calling the same function
through PyTorch and through symhess and comparing the outcomes: the result's type, nesting,
shapes, dtypes, devices, autograd history and values, or the exception's type and text.

``create_graph=True`` cases are at the end, skipped until that feature lands.
"""

import warnings

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is optional: pip install torch==2.13.0")
taf = torch.autograd.functional

from torch_helpers import assert_same  # noqa: E402

import symhess  # noqa: E402

SCALAR_APIS = ("hessian", "hvp", "vhp")
PRODUCT_APIS = ("hvp", "vhp")
ALL_APIS = (*SCALAR_APIS, "jacobian")
STRATEGY = {"hessian": "outer_jacobian_strategy", "jacobian": "strategy"}
_GENERATOR = torch.Generator().manual_seed(0)


def rand(*shape, dtype=torch.float32, requires_grad=False):
    return torch.rand(shape, generator=_GENERATOR, dtype=dtype).requires_grad_(requires_grad)


def ones_like(inputs):
    return tuple(torch.ones_like(x) for x in inputs) if isinstance(inputs, tuple) else torch.ones_like(inputs)


def call(module, api, *args, **kwargs):
    """The result, or the exception raised."""
    try:
        with warnings.catch_warnings():  # PyTorch's forward mode scripts a helper on first use
            warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
            return getattr(module, api)(*args, **kwargs)
    except Exception as error:
        return error


def flat(result):
    return [t for item in result for t in flat(item)] if isinstance(result, (tuple, list)) else [result]


def tolerance(*args):
    """PyTorch computes in each tensor's own precision, symhess in float64."""
    single = any(isinstance(t, torch.Tensor) and t.dtype == torch.float32 for t in flat(args))
    return 1e-5 if single else 1e-9


def assert_parity(api, *args, **kwargs):
    """symhess gives what PyTorch gives: the same result, or the same exception and message."""
    ours = call(symhess, api, *args, **kwargs)
    theirs = call(taf, api, *args, **kwargs)
    if isinstance(theirs, Exception):
        assert (type(ours), str(ours)) == (type(theirs), str(theirs))
    elif isinstance(ours, Exception):
        raise ours
    else:
        assert_same(ours, theirs, tolerance(args))
    return ours


def assert_forward_mode(api, func, inputs):
    """PyTorch's forward mode returns lists, with the outputs' dtypes and autograd history; its
    tests only compare the values with reverse mode.  symhess returns reverse mode's result."""
    forward = {"vectorize": True, STRATEGY[api]: "forward-mode"}
    ours = getattr(symhess, api)(func, inputs, **forward)
    assert_same(ours, getattr(taf, api)(func, inputs), tolerance(inputs))
    theirs = call(taf, api, func, inputs, **forward)
    if isinstance(theirs, Exception):
        raise theirs
    assert len(flat(ours)) == len(flat(theirs))
    for a, b in zip(flat(ours), flat(theirs)):
        torch.testing.assert_close(a.double(), b.detach().double(), rtol=1e-5, atol=1e-5)


def product_args(api, inputs, v="ones"):
    """``(inputs,)`` for hessian/jacobian, ``(inputs, v)`` for hvp/vhp."""
    if api not in PRODUCT_APIS:
        return (inputs,)
    return (inputs, ones_like(inputs) if isinstance(v, str) else v)


# ----- functions of PyTorch's tests --------------------------------------------------

def exp_narrow(a):
    return 3 * a.narrow(0, 0, 3).exp().sum()


def narrow(a):
    return 3 * a.narrow(0, 0, 3)


def narrow_and_str(a):
    return 3 * a.narrow(0, 0, 3), "bar"


def narrow_twice(a):
    return 3 * a.narrow(0, 0, 3), 3 * a.narrow(0, 0, 3)


def narrow_product(a, b):
    return (3 * b.narrow(0, 0, 3) * a.narrow(0, 0, 3)).sum()


def b_and_narrow(a, b):
    return b, 3 * a.narrow(0, 0, 3)


def pow_reducer(x):
    return x.pow(3).sum()


def add_pow_reducer(x, y):
    return (x + y).pow(3).sum()


def exp_reducer(x):
    return x.exp().sum()


def sum_reducer(x):
    return x.sum()


def add_narrow_exp(a, b):
    return (a + 3 * b.narrow(0, 0, 3)).exp().sum()


def detached(a):
    return a.detach().sum()


def new_leaf(a):
    """A non-leaf that requires grad but is not connected to the input."""
    return a.long().float().requires_grad_().clone().sum()


def linear(a):
    """Its jacobian does not depend on the input."""
    return (3 * a).sum()


# ----- inputs and outputs: PyTorch's TypeErrors and RuntimeErrors ----------------------

@pytest.mark.parametrize("api", ALL_APIS)
@pytest.mark.parametrize("bad", ["str-in-tuple", "list", "str"])
def test_non_tensor_inputs_are_type_errors(api, bad):
    inp = rand(4)
    inputs = {"str-in-tuple": (inp, "2"), "list": [inp], "str": "x"}[bad]
    func = narrow if api == "jacobian" else exp_narrow
    assert_parity(api, func, inputs, *product_args(api, inp)[1:])


@pytest.mark.xfail(strict=True, reason="symhess accepts Python numbers as tensors (its NumPy API), also next to "
                                       "torch tensors; PyTorch raises TypeError (functional._as_tuple)")
@pytest.mark.parametrize("api", ALL_APIS)
def test_number_among_inputs_is_a_type_error(api):
    inp = rand(4)
    func = narrow if api == "jacobian" else exp_narrow
    assert_parity(api, func, (inp, 2), *product_args(api, inp)[1:])


@pytest.mark.parametrize("api", ALL_APIS)
def test_integer_inputs_are_refused(api):
    func = (lambda a: a.exp()) if api == "jacobian" else exp_reducer
    assert_parity(api, func, *product_args(api, torch.tensor([1, 2])))


NON_TENSOR_OUTPUTS = {
    "str-in-tuple": narrow_and_str,
    "none": lambda a: None,
    "bool": lambda a: True,
    "list": lambda a: [a.sum()],
}


@pytest.mark.parametrize("api", ALL_APIS)
@pytest.mark.parametrize("output", list(NON_TENSOR_OUTPUTS))
def test_non_tensor_outputs_are_type_errors(api, output):
    assert_parity(api, NON_TENSOR_OUTPUTS[output], *product_args(api, rand(4)))


@pytest.mark.parametrize("api", ALL_APIS)
def test_a_number_output_is_a_constant_tensor(api):
    """API.md counts Python numbers as tensors (as for inputs, also next to torch tensors, where PyTorch
    raises TypeError): ``lambda a: 3.0`` gives what PyTorch gives for ``lambda a: torch.tensor(3.0)``."""
    args = product_args(api, rand(4))
    assert isinstance(call(taf, api, lambda a: 3.0, *args), TypeError)
    ours, theirs = call(symhess, api, lambda a: 3.0, *args), call(taf, api, lambda a: torch.tensor(3.0), *args)
    if api in PRODUCT_APIS:  # func_output is returned as func returned it: a number here, PyTorch's tensor there
        assert float(ours[0]) == float(theirs[0]) == 3.0
        ours, theirs = ours[1], theirs[1]
    assert_same(ours, theirs)


@pytest.mark.parametrize("api", SCALAR_APIS)
@pytest.mark.parametrize("func", [narrow_twice, narrow], ids=["tuple", "multi-element"])
def test_scalar_functions_need_one_single_element_tensor(api, func):
    assert_parity(api, func, *product_args(api, rand(4)))


# ----- v ----------------------------------------------------------------------------

V_ERRORS = {  # inputs, v
    "none-multi-element": (lambda: rand(4), lambda: None),
    "none-tuple": (lambda: (rand(), rand()), lambda: None),
    "wrong-size": (lambda: rand(4), lambda: rand(5)),
    "0-d-for-one-element": (lambda: rand(1), lambda: rand()),
    "str-in-tuple": (lambda: rand(4), lambda: (rand(4), "2")),
    "list": (lambda: rand(4), lambda: [rand(4)]),
    "two-for-one": (lambda: rand(4), lambda: (rand(4), rand(4))),
    "tuple-length": (lambda: (rand(4), rand(5)), lambda: (rand(4),)),
    "entry-size": (lambda: (rand(4), rand(5)), lambda: (rand(4), rand(4))),
}


@pytest.mark.parametrize("api", PRODUCT_APIS)
@pytest.mark.parametrize("case", list(V_ERRORS))
def test_v_errors(api, case):
    make_inputs, make_v = V_ERRORS[case]
    inputs = make_inputs()
    func = narrow_product if isinstance(inputs, tuple) else exp_narrow
    assert_parity(api, func, inputs, make_v())


@pytest.mark.xfail(strict=True, reason="symhess accepts Python numbers as tensors: (v, 2) is a v of two tensors, "
                                       "'The given v should contain a single Tensor.' (functional._as_tuple)")
@pytest.mark.parametrize("api", PRODUCT_APIS)
def test_number_in_v_is_a_type_error(api):
    assert_parity(api, exp_narrow, rand(4), (rand(4), 2))


@pytest.mark.parametrize("api", PRODUCT_APIS)
@pytest.mark.parametrize("inputs", [lambda: rand(), lambda: rand(1), lambda: (rand(),)], ids=["0-d", "(1,)", "(0-d,)"])
def test_v_none_for_a_single_element_input(api, inputs):
    assert_parity(api, lambda x: x.exp().sum() * 2, inputs())


# ----- strategy, vectorize, strict ------------------------------------------------------

FLAGS = [(strategy, vectorize, strict) for strategy in ("reverse-mode", "forward-mode")
         for vectorize in (False, True) for strict in (False, True)]


def flag_cases():
    return [pytest.param(*flags, marks=(),
                         id="-".join([flags[0], "vectorize" * flags[1] or "loop", "strict" * flags[2] or "lax"]))
            for flags in FLAGS]


@pytest.mark.parametrize("api", ["hessian", "jacobian"])
@pytest.mark.parametrize(("strategy", "vectorize", "strict"), flag_cases())
def test_strategy_vectorize_strict_combinations(api, strategy, vectorize, strict):
    func, x = (pow_reducer, rand(4)) if api == "hessian" else (lambda a: a**3 * 2, rand(3))
    if strategy == "forward-mode" and vectorize and not strict:
        assert_forward_mode(api, func, x)
    else:
        assert_parity(api, func, x, vectorize=vectorize, strict=strict, **{STRATEGY[api]: strategy})


@pytest.mark.parametrize("api", ["hessian", "jacobian"])
def test_unknown_strategy_is_an_assertion_error(api):
    assert_parity(api, pow_reducer, rand(4), **{STRATEGY[api]: "sideways"})


@pytest.mark.parametrize("api", ["hessian", "jacobian"])
def test_forward_mode_without_vectorize_is_not_implemented(api):
    """The type and the gist (PyTorch's text has the typo above)."""
    kwargs = {STRATEGY[api]: "forward-mode"}
    theirs, ours = call(taf, api, pow_reducer, rand(4), **kwargs), call(symhess, api, pow_reducer, rand(4), **kwargs)
    assert type(ours) is type(theirs) is NotImplementedError
    assert "implemented for `vectorize=True`" in str(ours) and "implemented for `vectorize=True`" in str(theirs)


ORDER = {  # PyTorch calls func (and checks its output) before some flag checks, and checks strategy first
    "hessian-strict-vectorize-linear": ("hessian", linear, (rand(4),), {"strict": True, "vectorize": True}),
    "hessian-strict-vectorize-detached": ("hessian", detached, (rand(4),), {"strict": True, "vectorize": True}),
    "jacobian-strict-vectorize-detached": ("jacobian", lambda a: a.detach(), (rand(4),),
                                           {"strict": True, "vectorize": True}),
    "hvp-strict-multi-element-detached": ("hvp", lambda a: a.detach() * 2, (rand(4), rand(4)), {"strict": True}),
    "hessian-strict-tuple-detached": ("hessian", lambda a: (a.detach().sum(), a.sum()), (rand(4),), {"strict": True}),
    "jacobian-strategy-before-inputs": ("jacobian", narrow, ((rand(4), "2"),), {"strategy": "sideways"}),
}


@pytest.mark.parametrize("case", list(ORDER))
def test_validation_order(case):
    api, func, args, kwargs = ORDER[case]
    assert_parity(api, func, *args, **kwargs)


# ----- strict -----------------------------------------------------------------------

@pytest.mark.parametrize("api", SCALAR_APIS)
@pytest.mark.parametrize("func", [detached, new_leaf, linear, lambda a: a.long().float().sum() * a.sum()],
                         ids=["detached", "long-float-requires-grad", "linear", "long-float-times-sum"])
@pytest.mark.parametrize("strict", [True, False])
def test_strict_single_input(api, func, strict):
    result = assert_parity(api, func, *product_args(api, rand(4)), strict=strict)
    if not strict:  # strict=False: zeros, the mathematical value
        assert flat(result)[-1].abs().sum() == 0


TWO_INPUTS = {
    "second-unused": lambda x, y: (x**3).sum(),
    "first-linear-second-unused": lambda x, y: (2 * x).sum(),
    "second-linear": lambda x, y: (x**3).sum() + y.sum(),
    "cross-term-only": lambda x, y: (x * y).sum(),
    "block-partly-zero": lambda x, y: (x**3).sum() + (x[0] * y).sum(),
    "floor": lambda x, y: (x**2 + x.floor() * y).sum(),
    "all-connected": lambda x, y: ((x * y) ** 2).sum(),
}


@pytest.mark.parametrize("api", SCALAR_APIS)
@pytest.mark.parametrize("case", list(TWO_INPUTS))
@pytest.mark.parametrize("strict", [True, False])
def test_strict_two_inputs(api, case, strict):
    assert_parity(api, TWO_INPUTS[case], *product_args(api, (rand(3), rand(3))), strict=strict)


@pytest.mark.parametrize("api", SCALAR_APIS)
def test_strict_looks_at_blocks_not_elements(api):
    """x[1] enters linearly, but jac[0] as a tensor depends on x: PyTorch accepts it."""
    assert_parity(api, lambda x: x[0] ** 3 + x[1], *product_args(api, rand(2)), strict=True)


JACOBIAN_STRICT = {
    "detached": (lambda a: a.detach(), (rand(4),)),
    "output-1-independent-of-input-1": (lambda x, y: (x * y, x**2), ((rand(2), rand(2)),)),
    "output-1-detached": (lambda x, y: (x * y, x.detach()), ((rand(2), rand(2)),)),
    "connected": (lambda x, y: (x * y, y.exp()), ((rand(2), rand(2)),)),
}


@pytest.mark.parametrize("case", list(JACOBIAN_STRICT))
@pytest.mark.parametrize("strict", [True, False])
def test_jacobian_strict(case, strict):
    func, args = JACOBIAN_STRICT[case]
    assert_parity("jacobian", func, *args, strict=strict)


def test_jacobian_strict_new_leaf():
    """A ``requires_grad_()`` leaf cut from the input requires grad but does not reach it: PyTorch says
    'independent of input 0', not 'does not require gradients'."""
    assert_parity("jacobian", lambda a: a.long().float().requires_grad_().clone(), rand(4), strict=True)


JACOBIAN_STRICT_GRAPH = {
    "new-leaf": (lambda a: a.long().float().requires_grad_(), (rand(4),)),
    "detached-leaf-scaled": (lambda a: a.detach().requires_grad_() * 2, (rand(4),)),
    "output-1-a-new-leaf": (lambda x, y: (x * y, x.detach().requires_grad_()), ((rand(2), rand(2)),)),
    "floor-reaches-its-input": (lambda a: torch.floor(a), (rand(4),)),  # a zero derivative, connected
    "an-element-constant": (lambda x: torch.stack([x[0], torch.tensor(1.0)]), (rand(3),)),
}


@pytest.mark.parametrize("case", list(JACOBIAN_STRICT_GRAPH))
def test_jacobian_strict_follows_the_autograd_graph(case):
    func, args = JACOBIAN_STRICT_GRAPH[case]
    assert_parity("jacobian", func, *args, strict=True)


@pytest.mark.parametrize("api", ALL_APIS)
def test_a_constant_output_has_zero_derivatives(api):
    """A function returning a constant tensor: zeros, as PyTorch (strict: its RuntimeError)."""
    assert_parity(api, lambda a: torch.tensor(2.0), *product_args(api, rand(3)))
    assert_parity(api, lambda a: torch.tensor(2.0), *product_args(api, rand(3)), strict=True)


def test_jacobian_new_leaf_lax():
    assert_parity("jacobian", lambda a: a.long().float().requires_grad_().clone(), rand(4))


# ----- results: nesting, shapes, no autograd history -----------------------------------

HESSIAN_CASES = {
    "pow-reducer": (pow_reducer, lambda: rand(2, 2)),
    "add-pow-reducer": (add_pow_reducer, lambda: (rand(2, 2), rand(2, 2))),
    "narrow": (exp_narrow, lambda: rand(4)),
    "narrow-product": (narrow_product, lambda: (rand(4), rand(5))),
    "sum": (sum_reducer, lambda: rand(4, 4)),
    "sum-0-d": (sum_reducer, lambda: rand()),
    "view-1-1-1": (lambda x: x.sum().view(1, 1, 1), lambda: rand(4, 4)),
    "0-d-pair": (lambda x, y: (x * y) ** 2, lambda: (rand(), rand())),
    "one-tuple": (pow_reducer, lambda: (rand(3),)),
}


@pytest.mark.parametrize("case", list(HESSIAN_CASES))
@pytest.mark.parametrize("vectorize", [False, True])
def test_hessian_results(case, vectorize):
    func, inputs = HESSIAN_CASES[case]
    assert_parity("hessian", func, inputs(), vectorize=vectorize)


PRODUCT_CASES = {  # func, inputs, v
    "narrow-4x4": (exp_narrow, lambda: rand(4, 4), "ones"),
    "add-narrow-exp": (add_narrow_exp, lambda: (rand(3), rand(4)), "ones"),
    "narrow-product": (narrow_product, lambda: (rand(4), rand(5)), "ones"),
    "sum": (sum_reducer, lambda: rand(4, 4), "ones"),
    "exp-4x4": (exp_reducer, lambda: rand(4, 4), "ones"),
    "exp-0-d": (exp_reducer, lambda: rand(), rand()),
    "exp-0-d-v-none": (exp_reducer, lambda: rand(), None),
    "func-output-not-squeezed": (lambda x: x.exp().sum().view(1, 1, 1), lambda: rand(4, 4), rand(4, 4)),
    "0-d-pair": (lambda x, y: (x * y) ** 2, lambda: (rand(), rand()), "ones"),
    "one-tuple": (pow_reducer, lambda: (rand(3),), "ones"),
    "one-tuple-v-tensor": (pow_reducer, lambda: (rand(3),), rand(3)),
    "tensor-v-one-tuple": (pow_reducer, lambda: rand(3), (rand(3),)),
}


@pytest.mark.parametrize("api", PRODUCT_APIS)
@pytest.mark.parametrize("case", list(PRODUCT_CASES))
def test_product_results(api, case):
    func, inputs, v = PRODUCT_CASES[case]
    assert_parity(api, func, *product_args(api, inputs(), v))


JACOBIAN_CASES = {
    "exp-reducer": (lambda x: x.exp().sum(dim=1), lambda: rand(4, 4)),
    "identity": (lambda x: x.clone(), lambda: rand(4)),
    "add-exp-reducer": (lambda x, y: (x + y.exp()).sum(dim=1), lambda: (rand(4, 4), rand(4, 4))),
    "narrow": (narrow, lambda: rand(4)),
    "tuple-in-tuple-out": (b_and_narrow, lambda: (rand(4), rand(5))),
    "sum": (sum_reducer, lambda: rand(4, 4)),
    "expander-0-d": (lambda x: x.unsqueeze(0).repeat(4), lambda: rand()),
    "one-tuple-out": (lambda x: (x**3,), lambda: rand(2)),
    "one-tuple-in-and-out": (lambda x: (x**3,), lambda: (rand(2),)),
}


@pytest.mark.parametrize("case", list(JACOBIAN_CASES))
@pytest.mark.parametrize("vectorize", [False, True])
def test_jacobian_results(case, vectorize):
    func, inputs = JACOBIAN_CASES[case]
    assert_parity("jacobian", func, inputs(), vectorize=vectorize)


@pytest.mark.parametrize("api", ALL_APIS)
def test_no_history_under_no_grad_or_from_inputs_that_require_grad(api):
    func = (lambda x: x.exp().sum(dim=1)) if api == "jacobian" else exp_reducer
    with torch.no_grad():
        assert_parity(api, func, *product_args(api, rand(4, 4)))
    assert_parity(api, func, *product_args(api, rand(4, 4, requires_grad=True)))


def test_hessian_matches_hvp_and_vhp():
    x, v = rand(4), rand(4)
    hessian = symhess.hessian(exp_narrow, x)
    torch.testing.assert_close(symhess.hvp(exp_narrow, x, v)[1], hessian @ v)
    torch.testing.assert_close(symhess.vhp(exp_narrow, x, v)[1], v @ hessian)


# ----- dtypes -------------------------------------------------------------------------

def mixed_precision(a, b):
    return (a.sum() * b.double()).sum() ** 2 + (a**3).sum()


@pytest.mark.parametrize("vectorize", [False, True])
def test_hessian_block_takes_the_dtype_of_its_column_input(vectorize):
    inputs = (rand(2), rand(3, dtype=torch.float64))
    H = assert_parity("hessian", mixed_precision, inputs, vectorize=vectorize)
    assert H[0][1].dtype == torch.float64 and H[1][0].dtype == torch.float32


@pytest.mark.parametrize("api", PRODUCT_APIS)
@pytest.mark.parametrize("v_dtypes", [(torch.float32, torch.float64), (torch.float64, torch.float32)])
def test_product_takes_the_dtype_of_its_input(api, v_dtypes):
    inputs = (rand(2), rand(3, dtype=torch.float64))
    assert_parity(api, mixed_precision, inputs, (rand(2, dtype=v_dtypes[0]), rand(3, dtype=v_dtypes[1])))


@pytest.mark.parametrize("api", ALL_APIS)
def test_float64(api):
    func = (lambda x: x.pow(3)) if api == "jacobian" else pow_reducer
    assert_parity(api, func, *product_args(api, rand(2, 2, dtype=torch.float64)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("vectorize", [False, True])
def test_jacobian_of_outputs_with_other_dtypes(dtype, vectorize):
    def f(x, y):
        return (x * y).float(), (x * y).double()

    assert_parity("jacobian", f, (rand(3, dtype=dtype), rand(3, dtype=dtype)), vectorize=vectorize)


FUNC_OUTPUT_DTYPE = {
    "float64-input-unused": (lambda a, b: (a**3).sum(), lambda: (rand(2), rand(2, dtype=torch.float64))),
    "cast-to-double": (lambda a: (a.double() ** 3).sum(), lambda: rand(2)),
    "cast-to-float": (lambda a: (a.float() ** 3).sum(), lambda: rand(2, dtype=torch.float64)),
}


@pytest.mark.xfail(strict=True, reason="func_output takes the promoted dtype of the inputs; PyTorch's is the dtype "
                                       "func computed in (placeholders carry one dtype for the whole trace)")
@pytest.mark.parametrize("api", PRODUCT_APIS)
@pytest.mark.parametrize("case", list(FUNC_OUTPUT_DTYPE))
def test_func_output_dtype_is_the_functions(api, case):
    func, inputs = FUNC_OUTPUT_DTYPE[case]
    assert_parity(api, func, *product_args(api, inputs()))


# ----- vectorize=True / forward mode give the same as the loop ----------------------------

JACOBIAN_VECTORIZE = {
    "simple": (lambda x: 3 * x**2, lambda: rand(2, 3, 5)),
    "multi-input": (lambda x, y: (x.cos() * x) @ y.sin(), lambda: (rand(2, 3), rand(3, 5))),
    "multi-input-multi-output": (lambda x, y: ((x * x) @ y, x @ (x.sum(1) * y), y.sum()),
                                 lambda: (rand(5, 3), rand(3, 5))),
    "unrelated-outputs": (lambda x, y: (x, y, x, y), lambda: (rand(2), rand(3))),
    "0-d-output": (lambda x, y: (x.sum(), y.sum(), x * y), lambda: (rand(3), rand(3))),
    "0-d-input": (lambda x: torch.stack([x, x, x]), lambda: rand()),
    "0-d-input-and-output": (lambda x, y: (y.sum(), x * y), lambda: (rand(), rand(1))),
}


@pytest.mark.parametrize("case", list(JACOBIAN_VECTORIZE))
def test_jacobian_vectorize_and_forward_mode(case):
    func, make_inputs = JACOBIAN_VECTORIZE[case]
    inputs = make_inputs()
    assert_parity("jacobian", func, inputs)
    assert_parity("jacobian", func, inputs, vectorize=True)
    assert_forward_mode("jacobian", func, inputs)


HESSIAN_VECTORIZE = {
    "simple": (lambda x: (3 * x**2).sum(), lambda: rand(2, 3, 5)),
    "multi-input": (lambda x, y, z: ((x.relu() * x) @ y.sin() @ z).sum(), lambda: (rand(2, 3), rand(3, 5), rand(5, 5))),
    "output-unrelated-to-one-input": (lambda x, y: (x**2).sum(), lambda: (rand(2), rand(3))),
    "output-unrelated-to-all-inputs": (lambda x, y: torch.ones([]), lambda: (rand(2), rand(3))),
    "mixed-precision": (mixed_precision, lambda: (rand(2), rand(3, dtype=torch.float64))),
}


@pytest.mark.parametrize("case", list(HESSIAN_VECTORIZE))
def test_hessian_vectorize_and_forward_mode(case):
    func, make_inputs = HESSIAN_VECTORIZE[case]
    inputs = make_inputs()
    assert_parity("hessian", func, inputs)
    assert_parity("hessian", func, inputs, vectorize=True)
    assert_forward_mode("hessian", func, inputs)


@pytest.mark.parametrize("api", ["hessian", "jacobian"])
def test_vectorize_raises_no_warnings(api):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        getattr(symhess, api)(lambda a: (a**2).sum(), rand(3), vectorize=True)
    assert caught == []


# ----- create_graph=True (PyTorch's *_create_graph tests) ----------------------------------

def assert_history(result):
    assert all(t.grad_fn is not None for t in flat(result))


def assert_twice_differentiable(function, inputs):
    """torch can differentiate the results once and twice (numerically checked)."""
    assert torch.autograd.gradcheck(function, inputs)
    assert torch.autograd.gradgradcheck(function, inputs)


@pytest.mark.parametrize("vectorize", [False, True])
def test_hessian_create_graph(vectorize):
    x = rand(2, 2, dtype=torch.float64, requires_grad=True)
    H = symhess.hessian(pow_reducer, x, create_graph=True, vectorize=vectorize)
    assert_same(H.detach(), taf.hessian(pow_reducer, x))
    assert_history(H)

    def hessian(inp):
        return symhess.hessian(pow_reducer, inp, create_graph=True, vectorize=vectorize)

    assert_twice_differentiable(hessian, (x,))
    inputs = (rand(2, 2, dtype=torch.float64, requires_grad=True), rand(2, 2, dtype=torch.float64, requires_grad=True))
    H = symhess.hessian(add_pow_reducer, inputs, create_graph=True, vectorize=vectorize)
    assert_history(H)

    def blocks(*inp):
        return tuple(flat(symhess.hessian(add_pow_reducer, inp, create_graph=True, vectorize=vectorize)))

    assert_twice_differentiable(blocks, inputs)

    def composed(x, y):
        x = x.cos()
        H = symhess.hessian(add_pow_reducer, (x, y), create_graph=True, vectorize=vectorize)
        return sum(h.cos().sum() for h in flat(H)) + x.cos().sum() + y.cos().sum()

    assert_twice_differentiable(composed, inputs)


@pytest.mark.parametrize("api", PRODUCT_APIS)
def test_product_create_graph(api):
    fn = getattr(symhess, api)
    x, v = rand(4, 4, dtype=torch.float64, requires_grad=True), torch.ones(4, 4, dtype=torch.float64, requires_grad=True)
    result = fn(exp_narrow, x, v, create_graph=True)
    assert_same(tuple(t.detach() for t in result), getattr(taf, api)(exp_narrow, x, v))
    assert_history(result)
    assert_twice_differentiable(lambda inp, w: fn(exp_narrow, inp, w, create_graph=True), (x, v))
    inputs = (rand(3, dtype=torch.float64, requires_grad=True), rand(4, dtype=torch.float64, requires_grad=True))
    vs = (torch.ones(3, dtype=torch.float64, requires_grad=True), torch.ones(4, dtype=torch.float64, requires_grad=True))
    assert_history(fn(add_narrow_exp, inputs, vs, create_graph=True))

    def product(*args):
        return fn(add_narrow_exp, args[:2], args[2:], create_graph=True)[1]

    assert_twice_differentiable(product, inputs + vs)

    def composed(*args):
        x, y = args[:2]
        x = x.cos()
        value, grad = fn(add_narrow_exp, (x, y), args[2:], create_graph=True)
        return value.cos() + grad[0].cos().sum() + grad[1].cos() + x.cos().sum() + y.cos()

    assert_twice_differentiable(composed, inputs + vs)


@pytest.mark.parametrize("vectorize", [False, True])
def test_jacobian_create_graph(vectorize):
    def exp_rows(x):
        return x.exp().sum(dim=1)

    def add_exp_rows(x, y):
        return (x + y).exp().sum(dim=1)

    x = rand(4, 4, dtype=torch.float64, requires_grad=True)
    J = symhess.jacobian(exp_rows, x, create_graph=True, vectorize=vectorize)
    assert_same(J.detach(), taf.jacobian(exp_rows, x))
    assert_history(J)

    def jacobian(inp):
        return symhess.jacobian(exp_rows, inp, create_graph=True, vectorize=vectorize)

    assert_twice_differentiable(jacobian, (x,))
    inputs = (rand(4, 4, dtype=torch.float64, requires_grad=True), rand(4, 4, dtype=torch.float64, requires_grad=True))
    assert_history(symhess.jacobian(add_exp_rows, inputs, create_graph=True, vectorize=vectorize))

    def blocks(*inp):
        return symhess.jacobian(add_exp_rows, inp, create_graph=True, vectorize=vectorize)

    assert_twice_differentiable(blocks, inputs)

    def composed(x, y):
        x = x.cos()
        J = symhess.jacobian(add_exp_rows, (x, y), create_graph=True, vectorize=vectorize)
        return sum(j.exp().sum() for j in J) + x.exp().sum() + y.exp().sum()

    assert_twice_differentiable(composed, inputs)


@pytest.mark.parametrize("api", ALL_APIS)
def test_create_graph_under_no_grad_keeps_history(api):
    func = (lambda x: x.exp().sum(dim=1)) if api == "jacobian" else exp_reducer
    args = product_args(api, rand(4, 4))  # inputs that do not require grad, as in PyTorch's test
    with torch.no_grad():
        result = getattr(symhess, api)(func, *args, create_graph=True)
    assert_history(result)
    assert all(t.abs().sum() > 0 for t in flat(result))


def test_jacobian_strict_create_graph_constant_jacobian():
    x = rand(4, requires_grad=True)
    assert_parity("jacobian", lambda a: a.clone(), x, create_graph=True, strict=True)
    J = symhess.jacobian(lambda a: a.clone(), x, create_graph=True)
    torch.testing.assert_close(J, torch.eye(4))


def test_hessian_forward_mode_create_graph_is_not_implemented():
    assert_parity("hessian", pow_reducer, rand(4), create_graph=True, vectorize=True,
                  outer_jacobian_strategy="forward-mode")
