"""One registration per operation: what the elementwise table and the primitives' attributes reach by name.

An entry of ``ELEMENTWISE`` is NumPy's ufunc, scipy.special's ufunc, ``torch.<name>``, ``torch.special.<name>`` and
the tensor method of its name, without another table: so each of those must compute what the library computes.
A primitive's ``code`` must be a three-address function that every backend knows.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from tracing_helpers import evaluate

import symhess
from symhess import export_c, llvm
from symhess.tracing import Tensor
from symhess.tracing.elementwise import ARITY, ELEMENTWISE, METHODS, NOT_METHODS
from symhess.tracing.numpy_api import UFUNCS, scipy_ufuncs
from symhess.tracing.placeholder import elementwise
from symhess.tracing.primitives import ALL

X = np.array([0.15, 0.4, 0.65, 0.9])   # in every entry's domain (log, arcsin, erfinv, ndtri, ...)
Y = np.array([0.7, 1.3, 0.35, 2.2])
DOMAINS = {"arccosh": (1 + X,)}
CONSTANT_FIRST = {"polygamma": "its order is a constant (tests/test_special.py)",
                  "gammainc": "a is a constant (test_coverage.py)", "gammaincc": "a is a constant"}


def _operands(name):
    return DOMAINS.get(name, (X, Y, Y + 1)[:ARITY[name]])


def _libraries(name):
    """(where, library function) for each library function of the entry's name."""
    found = []
    if getattr(np, name, None) in UFUNCS:
        found.append(("numpy", getattr(np, name)))
    special = pytest.importorskip("scipy.special")
    if getattr(special, name, None) in scipy_ufuncs():
        found.append(("scipy.special", getattr(special, name)))
    torch = pytest.importorskip("torch")
    for where, namespace in (("torch", torch), ("torch.special", torch.special), ("torch.Tensor", torch.Tensor)):
        if callable(getattr(namespace, name, None)):
            found.append((where, getattr(namespace, name)))
    return found


@pytest.mark.parametrize("name", [n for n in METHODS if n not in CONSTANT_FIRST])
def test_every_library_function_of_an_entrys_name_computes_it(name):
    torch = pytest.importorskip("torch")
    operands = _operands(name)
    libraries = _libraries(name)
    assert libraries or name in {"softplus"}, f"{name}: no library function of this name (a method only?)"
    for where, function in libraries:
        torch_inputs = where.startswith("torch")
        inputs = [torch.tensor(x) for x in operands] if torch_inputs else operands
        expected = function(*inputs)
        expected = expected.double().numpy() if torch_inputs else np.asarray(expected, dtype=np.float64)
        traced = (lambda first, *others: getattr(first, name)(*others)) if where == "torch.Tensor" else function
        got = evaluate(traced, *inputs)  # a torch.Tensor method is called on the placeholder: x.<name>(...)
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15, err_msg=f"{where}.{name}")


@pytest.mark.parametrize("name", [n for n in METHODS if n not in CONSTANT_FIRST])
def test_every_entry_is_a_tensor_method_with_the_tensor_first(name):
    operands = _operands(name)
    expected = evaluate(lambda *t: elementwise(name, *t), *operands)
    got = evaluate(lambda first, *others: getattr(first, name)(*others), *operands)
    np.testing.assert_array_equal(got, expected)
    assert callable(getattr(Tensor, f"{name}_", None)) or name == "detach", f"no in-place {name}_"


def test_entries_that_are_no_method_are_reached_otherwise():
    assert not any(hasattr(Tensor, name) for name in NOT_METHODS - {"where"})  # x.where(condition, other) by hand
    assert set(ELEMENTWISE) == set(METHODS) | NOT_METHODS


def test_torch_where_and_equal_keep_their_meaning():
    torch = pytest.importorskip("torch")
    x = torch.tensor(X)
    np.testing.assert_array_equal(evaluate(lambda t: t.where(t > 0.5, -t), x), torch.where(x > 0.5, x, -x).numpy())
    with pytest.raises(symhess.TraceError, match=r"torch\.equal"):
        symhess.hessian(lambda t: torch.equal(t, t) * t.sum(), x)


@pytest.mark.parametrize("primitive", [p for p in ALL if p.code], ids=lambda p: p.__name__)
def test_every_primitive_code_is_known_to_every_backend(primitive):
    code = primitive.code
    assert code in llvm.LLVM_INTRINSICS or code in llvm.LIBM or hasattr(llvm.Emitter, f"_call_{code}"), code
    assert code in export_c.C_FUNCTIONS or code in export_c.HELPERS, code
    assert code in llvm.python_namespace(), code
    if primitive.c_library:
        assert code in llvm.LIBM and export_c.C_FUNCTIONS[code] == code


def test_a_primitive_prints_as_its_code():
    from symhess.codegen import FUNCTIONS

    for primitive in ALL:
        if primitive.code:
            assert FUNCTIONS[primitive.__name__] == primitive.code
    assert math.isclose(llvm.python_namespace()["log1p"](1e-10), 1e-10 - 5e-21, rel_tol=1e-15)
