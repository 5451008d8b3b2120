"""PyTorch's ``__torch_function__`` protocol for placeholders: one translation table.

``torch.sin(x)``, ``torch.nn.functional.softplus(x)`` or ``torch_tensor + x`` with a
placeholder ``x`` reach :func:`torch_call`.  Functions whose name and meaning match a
placeholder method (``sin``, ``sum(dim, keepdim)``, ``matmul``, ...) are forwarded to it;
the others are in :func:`table`.  PyTorch is imported only when a torch function is
actually called on a placeholder, i.e. when it is already loaded.
"""

from __future__ import annotations

import functools

import numpy as np

from . import arrays, variance, views
from .errors import trace_error

METHOD_NAMES = {
    "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "arcsin", "arccos", "arctan",
    "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "exp", "exp2", "expm1", "log",
    "log2", "log10", "log1p", "sqrt", "rsqrt", "square", "abs", "absolute", "neg", "negative",
    "reciprocal", "sign", "sigmoid", "relu", "erf", "floor", "ceil", "round", "hypot",
    "pow", "clamp", "clip", "maximum", "minimum", "sum", "mean", "prod", "amax", "amin",
    "logsumexp", "softmax", "log_softmax", "norm", "cumsum", "reshape", "view",
    "flatten", "t", "transpose", "permute", "squeeze", "unsqueeze", "narrow", "expand",
    "expand_as", "repeat", "flip", "diagonal", "trace", "matmul", "mm", "mv", "dot", "detach", "clone",
    "float", "double", "long", "int", "contiguous", "requires_grad_", "to", "cpu", "add",
    "sub", "mul", "div", "true_divide", "multiply", "subtract", "divide",
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
    "__rtruediv__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__neg__", "__abs__",
    "__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__", "__getitem__",
}
"""torch functions and ``torch.Tensor`` methods forwarded to the placeholder method of that name."""

ALIASES = {"true_divide": "div", "multiply": "mul", "subtract": "sub", "divide": "div",
           "absolute": "abs", "arcsin": "asin", "arccos": "acos", "arctan": "atan", "clip": "clamp"}


def _placeholder(value):
    from .tensor import Tensor, as_objects, wrap

    return value if isinstance(value, Tensor) else wrap(as_objects(value))


def _cat(tensors, dim=0, out=None):
    from .tensor import as_objects, wrap

    return wrap(np.concatenate([as_objects(t) for t in tensors], axis=dim))


def _stack(tensors, dim=0, out=None):
    from .tensor import as_objects, wrap

    return wrap(np.stack([as_objects(t) for t in tensors], axis=dim))


def _where(condition, input=None, other=None):  # noqa: A002 - PyTorch's names
    from .tensor import elementwise

    if input is None or other is None:
        raise trace_error("torch.where(condition) returns indices of traced values",
                          "use torch.where(condition, input, other)")
    return elementwise("where", condition, input, other)


def _extreme(name):
    def call(input, dim=None, keepdim=False, *, other=None):  # noqa: A002
        if dim is not None and not isinstance(dim, int):  # torch.max(a, b) is maximum
            return getattr(_placeholder(input), "maximum" if name == "max" else "minimum")(dim)
        return getattr(_placeholder(input), name)(dim=dim, keepdim=keepdim)

    return call


def _variance(name):
    """``torch.var``/``torch.std``: PyTorch's overloads, whatever library the inputs come from."""
    def call(input, *args, **kwargs):  # noqa: A002
        return variance.torch_var(f"torch.{name}", _placeholder(input), args, kwargs)

    return call


def _softplus(input, beta=1.0, threshold=20.0):  # noqa: A002
    """PyTorch's: ``x`` itself where ``beta * x > threshold``, and the derivative follows that branch."""
    from .tensor import elementwise

    x = _placeholder(input)
    scaled = x * beta
    smooth = elementwise("softplus", scaled)
    return elementwise("where", scaled > threshold, x, smooth if beta == 1 else smooth / beta)


def _logsigmoid(input):  # noqa: A002
    """``-softplus(-x)`` with no threshold (PyTorch's logsigmoid has none)."""
    from .tensor import elementwise

    return -elementwise("softplus", -_placeholder(input))


def _reduce(loss, reduction, weight=None):
    """``weight`` of mse_loss/l1_loss: the weighted mean divides by the weights' sum (as PyTorch)."""
    if weight is not None:
        loss = loss * weight
        if reduction == "mean":
            return loss.sum() / _placeholder(weight).sum()
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):  # noqa: A002
    difference = _placeholder(input) - target
    return _reduce(difference * difference, reduction, weight)


def _l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):  # noqa: A002
    # PyTorch 2.13's l1_loss does not pass weight= on to __torch_function__: it never arrives here
    return _reduce(abs(_placeholder(input) - target), reduction, weight)


def _bce_with_logits(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                     reduction="mean", pos_weight=None):
    from .tensor import elementwise

    if pos_weight is not None:
        raise trace_error("binary_cross_entropy_with_logits(pos_weight=...)", "leave pos_weight out")
    x = _placeholder(input)
    loss = elementwise("softplus", x) - x * target
    return _reduce(loss if weight is None else loss * weight, reduction)


def _linear(input, weight, bias=None):  # noqa: A002
    out = arrays.matmul(input, _placeholder(weight).T)
    return out if bias is None else out + bias


def _activation(name, formula):
    """``F.<name>(x, ..., inplace=False)``: with ``inplace=True`` the result is written into x."""
    def call(input, *args, inplace=False, **kwargs):  # noqa: A002
        x = _placeholder(input)
        result = formula(x, *args, **kwargs)
        return views.update(x, result, f"F.{name}(..., inplace=True)") if inplace else result

    call.__name__ = name
    return call


def _silu(x):
    return x * x.sigmoid()


def _leaky_relu(x, negative_slope=0.01):
    from .tensor import elementwise

    return elementwise("where", x > 0, x, x * negative_slope)


def _elu(x, alpha=1.0):
    from .tensor import elementwise

    return elementwise("where", x > 0, x, (x.expm1()) * alpha)


def _einsum(equation, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    return arrays.einsum(equation, *operands)


@functools.cache
def table() -> dict:
    """torch function -> implementation on placeholders (beyond same-named methods)."""
    import torch
    import torch.nn.functional as F  # noqa: N812 - PyTorch convention

    return {
        torch.cat: _cat, torch.concat: _cat, torch.stack: _stack, torch.where: _where,
        torch.var: _variance("var"), torch.std: _variance("std"),
        torch.Tensor.var: _variance("var"), torch.Tensor.std: _variance("std"),
        torch.max: _extreme("max"), torch.min: _extreme("min"),
        torch.Tensor.max: _extreme("max"), torch.Tensor.min: _extreme("min"),
        torch.outer: lambda a, b: np.outer(_placeholder(a), b),
        torch.einsum: _einsum, torch.det: arrays.det, torch.inverse: arrays.inv,
        torch.linalg.det: arrays.det, torch.linalg.inv: arrays.inv,
        torch.diag: lambda a, diagonal=0: np.diag(_placeholder(a), diagonal).clone(),  # np.diag views
        torch.linalg.norm: lambda a, ord=None, dim=None, keepdim=False:  # noqa: A006
            arrays.norm(a, ord, dim, keepdim),
        F.softplus: _softplus, F.logsigmoid: _logsigmoid,
        F.mse_loss: _mse_loss, F.l1_loss: _l1_loss,
        F.binary_cross_entropy_with_logits: _bce_with_logits, F.linear: _linear,
        F.silu: _activation("silu", _silu), F.leaky_relu: _activation("leaky_relu", _leaky_relu),
        F.elu: _activation("elu", _elu), F.relu: _activation("relu", lambda x: x.relu()),
        F.sigmoid: lambda x: _placeholder(x).sigmoid(),
        F.tanh: lambda x: _placeholder(x).tanh(),
        F.softmax: lambda x, dim=None, _stacklevel=3, dtype=None: _placeholder(x).softmax(dim, dtype),
        F.log_softmax: lambda x, dim=None, _stacklevel=3, dtype=None: _placeholder(x).log_softmax(dim, dtype),
    }


def torch_call(func, args, kwargs):
    """Translate one torch function call that involves a placeholder, with PyTorch's semantics."""
    from .tensor import STYLE

    dtype, device = STYLE.get()
    if isinstance(dtype, np.dtype):  # NumPy inputs: torch.flatten(x) still views, x[0] is 0-d
        import torch

        token = STYLE.set((getattr(torch, dtype.name, torch.float64), device))
        try:
            return _torch_call(func, args, kwargs or {})
        finally:
            STYLE.reset(token)
    return _torch_call(func, args, kwargs or {})


def _torch_call(func, args, kwargs):
    impl = table().get(func)
    if impl is not None:
        return impl(*args, **kwargs)
    name = getattr(func, "__name__", "")
    name = ALIASES.get(name, name)
    if name in METHOD_NAMES and args:
        from .tensor import Tensor

        method = getattr(Tensor, name)
        return method(_placeholder(args[0]), *args[1:], **kwargs)
    qualified = f"{getattr(func, '__module__', None) or 'torch'}.{getattr(func, '__qualname__', name)}"
    raise trace_error(f"{qualified} is not supported by symhess",
                      "write it with supported torch/NumPy functions (see 'What can be traced'), "
                      "or open an issue")
