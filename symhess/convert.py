"""Conversions between user tensors (NumPy, Python numbers, torch) and float64 arrays.

PyTorch is never imported here: a torch tensor is recognised by its type's module.
"""

from __future__ import annotations

import numpy as np


def is_torch_type(kind: type) -> bool:
    """Whether ``kind`` is torch's ``Tensor`` or a subclass (``Parameter``), without importing torch."""
    return kind.__module__.split(".")[0] == "torch" and hasattr(kind, "detach")


def is_torch_tensor(value) -> bool:
    return is_torch_type(type(value))


def is_tensor(value) -> bool:
    """What the drop-in API accepts as a tensor (see API.md section 1)."""
    return (isinstance(value, (np.ndarray, np.generic, float, int)) and not isinstance(value, bool)) \
        or is_torch_tensor(value)


def to_float64(value) -> np.ndarray:
    """``value`` (a tensor, or a nested sequence of numbers) as a float64 array; a TypeError naming
    its type for anything else (a string, None, an object), as the contract asks."""
    if is_torch_tensor(value):
        return value.detach().cpu().double().numpy()
    if isinstance(value, (str, bytes, dict, set, type(None))):
        raise TypeError(_not_a_tensor(value))
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        if isinstance(error, ValueError) and np.asarray(value).dtype.kind not in "OUSV":
            raise  # numbers of ragged lengths: NumPy's message says it
        raise TypeError(f"{_not_a_tensor(value)} ({error})") from None


def _not_a_tensor(value) -> str:
    return (f"expected a tensor (a NumPy array or scalar, a Python number or a torch tensor), "
            f"got {type(value).__name__}")


def kernel_vector(value) -> np.ndarray:
    """``value`` as a flat float64 vector that is C-contiguous, aligned and writeable: the one
    array type the kernels are compiled for (Numba types a read-only or strided array as another)."""
    array = value if type(value) is np.ndarray and value.dtype == np.float64 else to_float64(value)
    flat = array.reshape(-1)
    return flat if flat.flags.carray else np.array(flat)


def result_dtype(value) -> np.dtype:
    """The NumPy floating dtype results take for an input like ``value``."""
    if is_torch_tensor(value):
        name = str(value.dtype).removeprefix("torch.")
        return np.dtype(name) if name in ("float16", "float32", "float64") else np.dtype(np.float64)
    dtype = value.dtype if isinstance(value, (np.ndarray, np.generic)) else np.dtype(np.float64)
    return dtype if np.dtype(dtype).kind == "f" else np.dtype(np.float64)


def like(array: np.ndarray, template, dtype=None):
    """``array`` as the type of ``template`` (NumPy array or torch tensor), in ``dtype``."""
    if is_torch_tensor(template):
        import torch

        array = np.asarray(array)
        tensor = torch.from_numpy(array if array.flags.c_contiguous and array.flags.writeable
                                  else np.array(array, order="C"))
        return tensor.to(dtype=dtype or template.dtype, device=template.device)
    return np.asarray(array, dtype=dtype if dtype is not None else result_dtype(template))


def compute_dtype(inputs):
    """The dtype ``func`` computes in (and its value takes): PyTorch's promotion of the torch
    inputs' dtypes if there are any, else NumPy's of the floating dtypes results take."""
    torch_inputs = [x for x in inputs if is_torch_tensor(x)]
    if torch_inputs:
        import torch

        dtype = torch_inputs[0].dtype
        for x in torch_inputs[1:]:
            dtype = torch.promote_types(dtype, x.dtype)
        return dtype
    return np.result_type(*[result_dtype(x) for x in inputs] or [np.dtype(np.float64)])


def trace_style(inputs):
    """(dtype, device) placeholders report while tracing, as the inputs' library would."""
    device = next((x.device for x in inputs if is_torch_tensor(x)), "cpu")
    return compute_dtype(inputs), device
