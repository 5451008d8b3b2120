"""When may a drop-in call skip re-tracing? When nothing ``func`` can read has changed.

:func:`fingerprint` summarises everything a Python function reads besides its
arguments (closure cells, defaults, the globals its code names, recursively through
the functions it calls), by value for numbers and arrays.  Anything it cannot summarise
(arbitrary objects, dicts, bound methods) returns ``None``: such functions are re-traced
on every call, which is always correct.
"""

from __future__ import annotations

import functools
import hashlib
import numbers
import types

import numpy as np

_UNKNOWN = object()
_CONSTANT_TYPES = (types.ModuleType, types.BuiltinFunctionType, np.ufunc, type)


def fingerprint(func):
    """A hashable summary of what ``func`` reads besides its arguments, or None."""
    if _is_library_function(func):
        return ("library", id(func))
    key = _function_key(func, set())
    return None if key is _UNKNOWN else key


def _function_key(func, visiting: set):
    if not isinstance(func, types.FunctionType):
        return _UNKNOWN
    if id(func) in visiting:
        return ("recursive", id(func.__code__))
    visiting.add(id(func))
    parts = [id(func.__code__)]
    for value in (func.__defaults__ or ()):
        parts.append(_value_key(value, visiting))
    for value in (func.__kwdefaults__ or {}).values():
        parts.append(_value_key(value, visiting))
    for cell in func.__closure__ or ():
        try:
            parts.append(_value_key(cell.cell_contents, visiting))
        except ValueError:  # an empty cell (a name assigned later)
            parts.append("empty")
    for name in _global_names(func.__code__):
        if name in func.__globals__:
            parts.append((name, _value_key(func.__globals__[name], visiting)))
    visiting.discard(id(func))
    if any(p is _UNKNOWN for p in parts):
        return _UNKNOWN
    return tuple(parts)


@functools.lru_cache(maxsize=4096)
def _global_names(code) -> tuple:
    """Names the code (and its nested functions) may read from globals, sorted."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= set(_global_names(const))
    return tuple(sorted(names))


def _value_key(value, visiting: set):
    if value is None or isinstance(value, (bool, str, bytes, numbers.Number)):
        return (type(value).__name__, value)
    if isinstance(value, _CONSTANT_TYPES) or (callable(value) and _is_library_callable(value)):
        return ("id", id(value))
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return _UNKNOWN
        return ("ndarray", value.shape, value.dtype.str, hashlib.blake2b(value.tobytes(), digest_size=16).digest())
    if type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach"):
        array = value.detach().cpu().numpy()
        return ("torch", str(value.dtype), array.shape, hashlib.blake2b(array.tobytes(), digest_size=16).digest())
    if isinstance(value, (tuple, list)):
        keys = tuple(_value_key(v, visiting) for v in value)
        return _UNKNOWN if any(k is _UNKNOWN for k in keys) else (type(value).__name__, keys)
    if isinstance(value, types.FunctionType):
        return ("id", id(value)) if _is_library_function(value) else _function_key(value, visiting)
    return _UNKNOWN


LIBRARIES = {"numpy", "torch", "scipy", "math", "builtins", "symhess", "sympy", "symengine"}


def _is_library_function(func) -> bool:
    """Functions of NumPy, SciPy, PyTorch...: assumed to depend only on their arguments."""
    module = getattr(func, "__module__", None) or ""
    return module.split(".")[0] in LIBRARIES


def _is_library_callable(value) -> bool:
    """Functions from NumPy, PyTorch, SciPy, math...: treated as constants."""
    return _is_library_function(value) and not isinstance(value, types.FunctionType)
