"""Binding a call's arguments as PyTorch or NumPy would, or refusing the call clearly.

A keyword that a translation silently dropped would change the numbers without a
word; binding every call against the library's own signature turns each argument
symhess does not model into a TraceError that names the function and the argument.
"""

from __future__ import annotations

import contextvars
import inspect

import numpy as np

from .errors import trace_error

STYLE = contextvars.ContextVar("symhess_trace_style", default=(np.dtype(np.float64), "cpu"))
"""(dtype, device) that placeholders report while tracing: NumPy's, or torch's for torch inputs."""


class _Unset:
    def __repr__(self):
        return "<not given>"


UNSET = _Unset()
"""Default of a parameter whose absence differs from any value (``ddof`` vs ``correction``)."""


def signature(function) -> inspect.Signature:
    """The signature to bind against, written as a Python function (``def var(dim=None, ...)``)."""
    return inspect.signature(function)


def bind(name: str, sig: inspect.Signature, args, kwargs) -> dict:
    """Arguments by parameter name, defaults filled in; a TraceError for what does not bind."""
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as error:
        raise trace_error(f"{name} called with arguments symhess does not accept: {error}",
                          f"call {name} with the arguments it takes: {name}{sig}") from None
    bound.apply_defaults()
    return dict(bound.arguments)


def refuse(name: str, argument: str, fix: str):
    """The TraceError for one argument (by name) that symhess does not model."""
    return trace_error(f"{name}(..., {argument}=...) is not supported by symhess", fix)


def torch_style() -> bool:
    """Whether the placeholders stand for torch tensors (else NumPy arrays): decides
    what an ambiguous method call (``x.var(0)``) means, as running ``func`` would."""
    return not isinstance(STYLE.get()[0], np.dtype)


def dims(name: str, argument: str, value):
    """An axis argument as ``None``, an int or a tuple of ints."""
    if value is None or (isinstance(value, (int, np.integer)) and not isinstance(value, bool)):
        return value
    if isinstance(value, (tuple, list)) and all(isinstance(d, (int, np.integer))
                                                and not isinstance(d, bool) for d in value):
        return tuple(int(d) for d in value)
    raise trace_error(f"{name}({argument}={value!r}): expected an int, a tuple of ints or None",
                      f"pass {argument} as Python integers")
