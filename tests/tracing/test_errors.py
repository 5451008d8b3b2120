"""Code that cannot be traced fails with a TraceError naming the operation, the line and a fix."""

from __future__ import annotations

import math
import os
import re

import numpy as np
import pytest

import symhess

C4 = np.arange(4.0)


def branch_on_value(x):
    if x[0] > 0:
        return x
    return -x


def loop_on_value(x):
    while x[0] < 1:
        x = x * 2
    return x


def assert_on_value(x):
    assert x[0] > 0
    return x


def short_circuit(x):
    return x[0] > 0 and x[1] > 0


def write_element(x):
    out = np.zeros(2)
    out[0] = x[0]
    return out


def write_slice(x):
    out = np.zeros(4)
    out[1:] = x[:3] * 2
    return out


BOOL = ("used as a Python bool", "np.where")
FLOAT = ("float\\(\\) of a traced value", "use np.\\* instead of math.\\*")
STORE = ("written into a preallocated NumPy array", "np.array\\(\\[...\\]\\)")
INDEX = ("indexing with a traced value", "np.where")
UNSUPPORTED = ("numpy function {} is not supported", "supported NumPy functions")

CASES = {  # id: (func, input shape, problem regex, fix regex)
    "if": (branch_on_value, (4,), *BOOL),
    "while": (loop_on_value, (4,), *BOOL),
    "assert": (assert_on_value, (4,), *BOOL),
    "and": (short_circuit, (4,), *BOOL),
    "float": (lambda x: float(x[0]), (4,), *FLOAT),
    "math.sin": (lambda x: math.sin(x[0]), (4,), "math\\.\\* functions", "use np.\\* instead of math.\\*"),
    "math.exp-of-sum": (lambda x: math.exp(x.sum()), (4,), *FLOAT),
    "write-element": (write_element, (4,), *STORE),
    "write-slice": (write_slice, (4,), *STORE),
    "np.fft.fft": (lambda x: np.fft.fft(x), (4,), UNSUPPORTED[0].format("fft"), UNSUPPORTED[1]),
    "np.argsort": (lambda x: np.argsort(x), (4,), UNSUPPORTED[0].format("argsort"), UNSUPPORTED[1]),
    "np.unwrap": (lambda x: np.unwrap(x), (4,), UNSUPPORTED[0].format("unwrap"), UNSUPPORTED[1]),
    "interp-period": (lambda x: np.interp(x, [0.0, 1.0], [1.0, 3.0], period=2.0), (4,), "np.interp\\(..., period=...\\)",
                      "wrap x into one period"),
    "convolve-2d": (lambda x: np.convolve(x, np.ones((2, 2))), (4,), "np.convolve of a 2-D array", "1-D arrays"),
    "np.linalg.eigh": (lambda x: np.linalg.eigh(x), (2, 2), UNSUPPORTED[0].format("linalg.eigh"),
                       UNSUPPORTED[1]),
    "np.spacing": (lambda x: np.spacing(x), (4,), "numpy.spacing is not supported",
               "use one of the supported functions"),
    "ufunc-reduceat": (lambda x: np.add.reduceat(x, [0, 2]), (4,), "numpy.add.reduceat",
                       "use the plain call"),
    "traced-mask": (lambda x: x[x > 0], (4,), *INDEX),
    "traced-mask-on-constant": (lambda x: C4[x > 0], (4,), *INDEX),
    "traced-index-on-constant": (lambda x: C4[x[0]], (4,), *INDEX),
    "traced-index-on-traced": (lambda x: x[x[0]], (4,), *INDEX),
    "range": (lambda x: range(x[0]), (4,), "used as an index or a size", "Python integers"),
    "int": (lambda x: int(x[0]), (4,), "int\\(\\) of a traced value", "keep the value symbolic"),
    "complex": (lambda x: complex(x[0]), (4,), "complex\\(\\) of a traced value", "real functions"),
    "item": (lambda x: x[0].item(), (4,), "x.item\\(\\)", "keep the computation on tensors"),
    "half": (lambda x: x.half().sum(), (4,), "rounds traced values to float16", "keep traced values float32"),
    "tolist": (lambda x: x.tolist(), (4,), "x.tolist\\(\\)", "keep the computation on tensors"),
    "numpy": (lambda x: x.numpy(), (4,), "x.numpy\\(\\)", "operate on the tensor directly"),
    "astype-int": (lambda x: x.astype(int), (4,), "casting a traced value to int64", "floating point"),
    "asarray-float-dtype": (lambda x: np.asarray(x, dtype=float), (4,),
                            "converting a traced value to a NumPy float64 array", "leave the dtype out"),
    "ufunc-out": (lambda x: np.sin(x, out=np.zeros(4)), (4,), "numpy.sin\\(..., out=...\\)",
                  "y = np.sin\\(...\\)"),
    "sum-out": (lambda x: np.sum(x, out=np.zeros(())), (4,), "np.sum\\(..., out=...\\)",
                "assign the result"),
    "var-out": (lambda x: np.var(x, out=np.zeros(())), (4,), "np.var\\(..., out=...\\)",
                "assign the result"),
    "sum-where": (lambda x: np.sum(x, where=C4 > 0), (4,), "np.sum\\(..., where=...\\)",
                  "apply the mask"),
    "max-initial": (lambda x: np.max(x, initial=0.0), (4,), "np.max\\(..., initial=...\\)",
                    "initial value before"),
    "where-one-argument": (lambda x: np.where(x > 0), (4,), "np.where\\(cond\\) with one argument",
                           "np.where\\(cond, a, b\\)"),
    "einsum-ellipsis": (lambda x: np.einsum("...i->...", x), (4,), "np.einsum with '...'",
                        "indices explicitly"),
    "det-5x5": (lambda x: np.linalg.det(x), (5, 5), "5x5 matrix", "size at most 4"),
    "inv-not-square": (lambda x: np.linalg.inv(x), (2, 3), "inv of an array of shape \\(2, 3\\)",
                       "square matrices"),
    "norm-ord0": (lambda x: np.linalg.norm(x, 0), (4,), "norm with ord=0", "positive p"),
    "matrix-norm-ord2": (lambda x: np.linalg.norm(x, 2), (2, 2), "matrix with ord=2", "ord=None"),
    "matrix-norm-nuc": (lambda x: np.linalg.norm(x, "nuc"), (2, 2), "matrix with ord='nuc'", "ord=None"),
    "complex-constant": (lambda x: x * np.array([1j, 2, 3, 4]), (4,), "dtype complex128",
                         "real \\(float or integer\\) constants"),
    "string-constant": (lambda x: x + "a", (4,), "value of type str", "use numbers"),
    "array-as-element": (lambda x: np.array([x, x[0]], dtype=object) * 1.0, (4,),
                         "traced array of shape \\(4,\\) used where one number", "single element"),
    "return-none": (lambda x: None, (4,), "func returned NoneType", "return a tensor"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_trace_error_names_problem_line_and_fix(name):
    func, shape, problem, fix = CASES[name]
    with pytest.raises(symhess.TraceError) as info:
        symhess.trace(func, np.ones(shape))
    message = str(info.value)
    assert message.startswith("symhess cannot trace this: ")
    assert re.search(problem, message), message
    assert re.search(f"fix: .*{fix}", message, flags=re.S), message
    assert f"at {os.path.abspath(__file__)}:" in message, message


@pytest.mark.parametrize("name", ["if", "write-element", "traced-mask-on-constant", "np.argsort"])
def test_compile_raises_the_same_error(name):
    func, shape, problem, _ = CASES[name]
    with pytest.raises(symhess.TraceError, match=problem):
        symhess.compile(func, np.ones(shape))


def test_the_line_is_the_offending_one():
    with pytest.raises(symhess.TraceError) as info:
        symhess.trace(write_element, np.ones(4))
    assert "out[0] = x[0]" in str(info.value)


def test_division_by_exact_zero_is_a_trace_error():
    def f(x):
        return x.sum() / (x[0] - x[0])

    with pytest.raises(symhess.TraceError, match="division by a value that is exactly zero") as raised:
        symhess.trace(f, np.ones(2))
    assert "x.sum() / (x[0] - x[0])" in str(raised.value)
