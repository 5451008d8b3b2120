"""Lean evaluators for repeated drop-in calls with an input signature seen before.

The first call of ``symhess.hessian(func, x)`` validates everything, traces and
compiles.  Once :mod:`symhess.functional` trusts the trace for a function fingerprint
and input signature (types, shapes, dtypes, devices), the validation cannot give a
different answer, so later calls only convert the inputs, call the Numba kernel and
convert the result: a *plan*, built here once per signature.  Inputs a plan does not
cover (Python numbers, devices other than the CPU, unusual dtypes) keep the full path.
"""

from __future__ import annotations

import numpy as np

from .convert import is_torch_tensor, kernel_vector

_FLOATS = ("float32", "float64")


def hessian_plan(compiled, inputs):
    """``(inputs, data) -> H[i][j]`` blocks in the inputs' types, or None if not covered; ``data``:
    the flat float64 values of the data the function reads (see ``Compiled.with_data``)."""
    stores = _stores(inputs)  # None unless each input is a NumPy array or a CPU tensor of float32/64
    if stores is None:
        return None
    kernel = compiled.dense_kernel()
    shapes, offsets = [np.shape(x) for x in inputs], compiled._offsets
    if len(inputs) == 1:
        shape, store = shapes[0] + shapes[0], stores[0]
        return lambda items, data: ((store(kernel(kernel_vector(items[0]), data).reshape(shape)),),)

    def plan(items, data):
        dense = kernel(np.concatenate([kernel_vector(x) for x in items]), data)
        return tuple(tuple(stores[j](dense[offsets[i]:offsets[i + 1], offsets[j]:offsets[j + 1]]
                                     .reshape(shapes[i] + shapes[j])) for j in range(len(items)))
                     for i in range(len(items)))
    return plan


def product_plan(compiled, inputs, output_store):
    """``(inputs, v, data) -> (func_output, H v)`` or None; the caller checks that v has the
    inputs' types, shapes, dtypes."""
    stores = _stores(inputs)
    if stores is None or output_store is None:
        return None
    kernel = compiled.product_kernel()
    shapes, offsets = [np.shape(x) for x in inputs], compiled._offsets
    output_shape = compiled._output_shape

    def plan(items, v, data):
        x = kernel_vector(items[0]) if len(items) == 1 else np.concatenate([kernel_vector(t) for t in items])
        direction = kernel_vector(v[0]) if len(v) == 1 else np.concatenate([kernel_vector(t) for t in v])
        value, out = kernel(x, data, direction)
        product = tuple(stores[i](out[offsets[i]:offsets[i + 1]].reshape(shapes[i])) for i in range(len(items)))
        return output_store(np.full(output_shape, value)), product
    return plan


def store_as(template, dtype_name: str):
    """A function turning a float64 result into ``template``'s kind (NumPy or CPU torch) in ``dtype_name``."""
    dtype = np.dtype(dtype_name)
    if type(template) is np.ndarray:
        return lambda array: np.asarray(array, dtype=dtype, order="C")
    if is_torch_tensor(template) and template.device.type == "cpu":
        import torch

        return lambda array: torch.from_numpy(np.asarray(array, dtype=dtype, order="C"))
    return None


def _stores(inputs):
    """One result converter per input (results take input ``j``'s type and dtype), or None."""
    stores = []
    for x in inputs:
        name = str(x.dtype).removeprefix("torch.") if hasattr(x, "dtype") else ""
        store = store_as(x, name) if name in _FLOATS else None
        if store is None:
            return None
        stores.append(store)
    return stores
