"""Stage 1, trace: call ``func`` once on placeholder tensors, keep the expressions."""

from __future__ import annotations

import functools
import inspect
import itertools
import re
from dataclasses import dataclass

import numpy as np
import symengine as se

from .arguments import STYLE
from .captured import LIFTS, reads
from .errors import TraceError, trace_error
from .placeholder import as_objects
from .tensor import Tensor

_OBJECT_LOOP = re.compile(r"has no callable \w+ method|not supported for the input types")
_TORCH_DESCRIPTOR = re.compile(r"descriptor '(\w+)' for 'torch\._C\.TensorBase' objects doesn't apply to a 'Tensor'")

__all__ = ["Datum", "Tensor", "Trace", "TraceError", "input_names", "placeholders", "trace_function"]


@dataclass(frozen=True)
class Trace:
    """What one call of ``func`` on placeholders produced."""

    names: tuple[str, ...]              # one per input, from func's parameters
    shapes: tuple[tuple[int, ...], ...]  # example input shapes
    symbols: tuple[np.ndarray, ...]     # object arrays of se.Symbol, shaped like inputs
    traced_outputs: tuple               # per output: object array of se.Basic, or its TraceError
    output_is_tuple: bool               # func returned a tuple/list of tensors
    output_types: tuple[type, ...] = ()  # type of each raw output (for drop-in validation)
    data: tuple = ()                    # runtime data lifted out of what func reads (see captured.py)
    lift: str = "none"                  # what could be lifted: "all", "floats" or "none"

    @property
    def data_symbols(self) -> tuple[np.ndarray, ...]:
        return tuple(datum.symbols for datum in self.data)

    @property
    def data_values(self) -> tuple[np.ndarray, ...]:
        return tuple(datum.value for datum in self.data)

    @property
    def outputs(self) -> tuple[np.ndarray, ...]:
        """Object arrays of se.Basic, one per output.

        An output that is no tensor (``"bar"``, ``None``) raises its TraceError only here, so
        that the drop-in API can first raise PyTorch's TypeError from ``output_types``.
        """
        for output in self.traced_outputs:
            if isinstance(output, TraceError):
                raise output
        return self.traced_outputs

    @property
    def output(self) -> np.ndarray:
        return self.outputs[0]


@dataclass(frozen=True)
class Datum:
    """An array ``func`` reads that became a runtime value: its placeholders and its value."""

    name: str
    symbols: np.ndarray  # object array of se.Symbol, shaped like the value
    value: np.ndarray    # float64


def input_names(func, count: int) -> tuple[str, ...]:
    """Readable names for the inputs: ``func``'s positional parameter names."""
    try:
        params = [p for p in inspect.signature(func).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:count]]
    if len(names) < count or len(set(names)) < len(names):
        names = [f"x{k}" for k in range(count)] if count > 1 else ["x"]
    return tuple(names)


def placeholders(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """One symbol per element, named ``x[0, 1]`` (``x`` for a scalar): a new array of symbols
    made once per name and shape up to :data:`KEPT_SYMBOLS` (a compile traces twice, and
    500 x 40 data are 20,000 symbols, 35 ms to make)."""
    shape = tuple(shape)
    if int(np.prod(shape, dtype=np.int64)) > KEPT_SYMBOLS:
        return _made_placeholders(name, shape)
    return _placeholders(name, shape).copy()


KEPT_SYMBOLS = 50_000
"""Arrays of placeholders up to this size are kept (16 of them, a few MB at most)."""


@functools.lru_cache(maxsize=16)
def _placeholders(name: str, shape: tuple[int, ...]) -> np.ndarray:
    symbols = _made_placeholders(name, shape)
    symbols.flags.writeable = False
    return symbols


def _made_placeholders(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Symbols ``name[i, j]`` in C order (names built from the indices' texts, made once: a 500 x 40
    array of data in 20 ms, against 35 ms index tuple by index tuple)."""
    labels = [f"{name}[{', '.join(index)}]" for index in itertools.product(*([str(k) for k in range(n)] for n in shape))]
    symbols = np.empty(len(labels), dtype=object)
    symbols[:] = [se.Symbol(label) for label in labels] if shape else [se.Symbol(name)]
    return symbols.reshape(shape)


def trace_function(func, shapes, names=None, style=None, lift: str = "none") -> Trace:
    """Call ``func`` on placeholders of the given shapes and capture its output(s).

    ``style`` is the (dtype, device) the placeholders report (``x.dtype``), so that code
    like ``torch.tensor(c, dtype=x.dtype)`` inside ``func`` sees torch's types.
    ``lift``: the arrays ``func`` reads that become placeholders too, runtime data of the
    compiled code (see :mod:`symhess.tracing.captured`); where ``func`` cannot run on such
    placeholders (an integer array used as an index, a value that decides a branch) the
    next, narrower choice of :data:`~symhess.tracing.captured.LIFTS` is traced instead.
    """
    shapes = tuple(tuple(int(n) for n in s) for s in shapes)
    names = names or input_names(func, len(shapes))
    symbols = tuple(placeholders(n, s) for n, s in zip(names, shapes))
    token = STYLE.set(style) if style is not None else None
    try:
        for choice in LIFTS[LIFTS.index(lift):-1]:
            traced = _lifted_call(func, symbols, names, choice)
            if traced is not None:
                result, data = traced
                return _trace(names, shapes, symbols, result, data, choice)
        return _trace(names, shapes, symbols, _call(func, symbols), (), "none")
    finally:
        if token is not None:
            STYLE.reset(token)


def _lifted_call(func, symbols, names, lift: str):
    """``(result, data)`` of ``func`` with its data as placeholders, or None if there are none or
    ``func`` cannot run on them."""
    made = {}

    def substitute(name, array):  # symbols named by position, so that a renamed variable keys the same code
        made[name] = placeholders(f"data.{len(made)}", array.shape)
        return Tensor(made[name].copy())

    found = reads(func, lift, substitute, taken=names)
    if not found.data:
        return None
    try:
        result = _call(found.function, symbols)
    except Exception:  # any failure: trace with fewer placeholders
        return None
    return result, tuple(Datum(name, made[name], value) for name, value in zip(found.names, found.data))


def _call(func, symbols):
    try:
        return func(*(Tensor(s.copy()) for s in symbols))
    except Exception as error:  # NumPy re-raises our errors as ValueError: unwrap them
        cause = error.__cause__
        if isinstance(cause, TraceError) and not isinstance(error, TraceError):
            raise cause from None
        if isinstance(error, TypeError) and _OBJECT_LOOP.search(str(error)):
            raise trace_error(
                f"NumPy could not apply a function to an array mixing numbers and traced values "
                f"({error})", "build arrays of traced values with np.stack / np.concatenate, or "
                "make every entry traced (e.g. x[0] * 0 + 1.0), instead of np.array([...]) of a "
                "list that mixes plain numbers and traced values", error.__traceback__) from None
        descriptor = _TORCH_DESCRIPTOR.search(str(error)) if isinstance(error, TypeError) else None
        if descriptor:
            name = descriptor.group(1)
            raise trace_error(
                f"torch.Tensor.{name}(x, ...) called on a placeholder: PyTorch's methods written in C "
                "accept only real torch tensors as self, and no hook lets symhess in",
                f"call it as a method, x.{name}(...), or write the operator itself (e.g. 2 + x for "
                "__radd__)") from None
        raise


def _trace(names, shapes, symbols, result, data, lift) -> Trace:
    is_tuple = isinstance(result, tuple)
    raw = result if is_tuple else (result,)
    outputs = []
    for k, r in enumerate(raw):
        try:
            outputs.append(_output_array(r, k))
        except TraceError as error:
            outputs.append(error)
    return Trace(names, shapes, symbols, tuple(outputs), is_tuple, tuple(type(r) for r in raw), data, lift)


def _output_array(value, position: int) -> np.ndarray:
    if value is None or isinstance(value, (str, bytes, dict)):
        raise trace_error(f"func returned {type(value).__name__} (output {position})",
                          "return a tensor (a traced value, NumPy array or number)")
    array = np.array(as_objects(value), dtype=object, order="C")  # views may be read-only
    flat = array.reshape(-1)
    for k, item in enumerate(flat):
        flat[k] = se.sympify(item)
    return array
