"""Functions symhess cannot trace: "What can be traced" shows each one's real error.

Each is compiled with ``symhess.compile(func, np.zeros(2))`` while the docs are built;
its docstring is the heading.  Functions listed in ``NEEDS_TORCH`` run only where
PyTorch is installed.
"""

import math

import numpy as np

NEEDS_TORCH = {"torch_function"}


def branch_on_value(x):
    """`if` on a traced value"""
    if x[0] > 0:
        return x[0] ** 2
    return -x[0]


def builtin_max(x):
    """Python's `max` and `min` compare traced values"""
    return max(x[0], x[1]) ** 2


def float_of_value(x):
    """`float(x)`"""
    return float(x[0]) ** 2


def math_module(x):
    """`math.*` functions"""
    return math.sin(x[0]) + x[1]


def item(x):
    """`x.item()`, `x.tolist()`, `x.numpy()`"""
    return x[0].item() ** 2


def index_with_value(x):
    """A traced value as an index"""
    return x[int(x[0])] ** 2


def write_into_array(x):
    """Writing into a preallocated NumPy array"""
    out = np.zeros(2)
    out[0] = x[0] ** 2
    out[1] = x[1] ** 2
    return out.sum()


def out_argument(x):
    """`out=` arguments"""
    y = np.empty(2)
    np.exp(x, out=y)
    return y.sum()


def integer_cast(x):
    """Casting to integers"""
    return x.astype(int).sum()


def numpy_function(x):
    """A NumPy function symhess does not translate"""
    return np.unique(x).sum() ** 2


def tensor_method(x):
    """A tensor method symhess does not translate"""
    return x.argsort().sum()


def torch_function(x):
    """A torch function symhess does not translate"""
    import torch

    return torch.special.bessel_j0(x).sum() ** 2


def random_numbers(x):
    """Random numbers (or anything else that changes between calls)"""
    return (x * np.random.rand(2)).sum()


def vector_output(x):
    """`symhess.compile` of a vector-valued function"""
    return x**2
