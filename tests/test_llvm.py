"""The LLVM text of every three-address operation computes what its plain-Python meaning does."""

import math

import numpy as np
import pytest

from symhess.llvm import LIBM, LLVM_INTRINSICS, SPECIAL, python_namespace
from symhess.native import _compile_kernel

UNARY = [*sorted(set(LLVM_INTRINSICS) - {"pow"} | set(LIBM) - {"atan2", "copysign"}), "sign", "softplus",
         *sorted(set(SPECIAL) - set(LIBM) - {"polygamma", "bessel_ie", "gammainc", "gammaincc"})]
BINARY = ["pow", "atan2", "copysign", "lt", "le", "gt", "ge", "eq", "ne", "minof", "maxof", "logsumexp", "gammainc",
          "gammaincc"]
OTHERS = ["polygamma(0.0, a)", "polygamma(1.0, a)", "polygamma(4.0, a)", "polygamma(1.5, a)",
          "bessel_ie(0.0, a)", "bessel_ie(3.0, a)",
          "select(a, b, d)", "maxof(a)", "maxof(a, b, d)", "minof(a, b, d)", "logsumexp(a, b, d)", "-a", "a / b"]
POINTS = [(0.3, -1.7, 2.5), (-0.6, 0.6, -0.0), (0.0, 0.0, 1.0), (math.inf, 1.0, -math.inf),
          (math.nan, 0.5, 1.0), (0.5, math.nan, -2.0), (2.0, 3.0, math.nan)]


def run_llvm(expression: str, point) -> float:
    code = f"""
def k(x, out):
    a = x[0]
    b = x[1]
    d = x[2]
    t = {expression}
    out[0] = t
    out[1] += t
    return t
"""
    _, function = _compile_kernel("k", ("x", "out"), code, None)
    x, out = np.array(point, dtype=float), np.zeros(2)
    returned = function(x.ctypes.data, out.ctypes.data)
    np.testing.assert_array_equal([out[0], out[1]], [returned, returned])
    return returned


def run_python(expression: str, point) -> float:
    namespace = python_namespace()
    namespace.update(zip("abd", point))
    return eval(expression, namespace)


@pytest.mark.parametrize("expression", [f"{f}(a)" for f in UNARY] + [f"{f}(a, b)" for f in BINARY] + OTHERS)
def test_each_operation_agrees_with_its_python_meaning(expression):
    checked = 0
    for point in POINTS:
        try:
            expected = run_python(expression, point)
        except (ValueError, OverflowError, ZeroDivisionError):  # Python raises where C returns nan or inf
            continue
        got = run_llvm(expression, point)
        if math.isnan(expected):
            assert math.isnan(got), (expression, point)
        else:
            assert got == pytest.approx(expected, rel=1e-14, abs=1e-300), (expression, point)
            assert math.copysign(1, got) == math.copysign(1, expected) or got != 0, (expression, point)
        checked += 1
    assert checked >= 3


def test_literals_are_exact():
    for value in (0.1, 1 / 3, math.pi, 5e-324, 1.7976931348623157e308, -2.5e-310):
        assert run_llvm(repr(value), (0.0, 0.0, 0.0)) == value


NESTED = """
def k(x, c, out):
    acc = 0.0
    for m in range(3):
        a = x[1 + 4*m]
        for k in range(4):
            b = x[0 + 4*m + 1*k]
            s = a * b
            for j in range(k, 4):
                t = x[int(c[1*m]) + 1*j]
                u = s * t
                out[int(c[3 + 1*k]) + 1*j] += u
                acc += u
    return acc
"""


def test_nested_loops_with_tabled_indices_run_as_in_python():
    """Loops in loops (``range(k, 4)`` from the enclosing loop's variable), indices that add a
    table's element to strides: the outer products of repeated terms' Hessians."""
    x = np.random.default_rng(2).normal(size=12)
    c = np.array([0.0, 8.0, 4.0, 0.0, 3.0, 5.0, 6.0])  # rows start at 0, 3, 5, 6 (an upper triangle)
    _, function = _compile_kernel("k", ("x", "c", "out"), NESTED, None)
    out = np.zeros(10)
    returned = function(x.ctypes.data, c.ctypes.data, out.ctypes.data)
    namespace = python_namespace()
    exec(NESTED, namespace)
    expected = np.zeros(10)
    assert returned == pytest.approx(namespace["k"](x, c, expected), rel=1e-14)
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    assert np.count_nonzero(expected) == 10


def test_a_modules_constants_are_read_exactly_without_the_ast_parser(monkeypatch):
    """The constants table comes back bit for bit (nan, infinities, -0.0, subnormals), and without
    ast: CPython 3.11.7's AST builder counts depth in one place for all threads, so a background
    tier-up reading a module beside a parse in the user's thread raised "AST constructor recursion
    depth mismatch" in one of them."""
    import ast

    from symhess.llvm import module_kernels

    values = [0.1, -0.0, float("nan"), float("inf"), -float("inf"), 5e-324, 1.7976931348623157e308, 3.0]
    source = (f"CONSTANTS = np.array({values!r}, dtype=np.float64)  # tables\n\n"
              'VALUE_CODE = """\ndef value(x, p, c):\n    return x[0]\n"""\n')
    monkeypatch.setattr(ast, "literal_eval", lambda *a: (_ for _ in ()).throw(AssertionError("ast used")))
    codes, constants = module_kernels(source)
    assert codes == {"value": (("x", "p", "c"), "    return x[0]\n")}
    np.testing.assert_array_equal(constants.view(np.int64), np.array(values).view(np.int64))
    empty = module_kernels("CONSTANTS = np.array([], dtype=np.float64)\n")[1]
    assert empty.shape == (0,) and empty.dtype == np.float64
