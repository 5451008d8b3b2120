"""Dask arrays of points: ``f.hessian(X)`` with ``X`` a ``dask.array`` returns a lazy ``dask.array``.

The batch axes come first and may be chunked as Dask likes; each point's own axes are one chunk
(rechunked if need be).  Every block is one batched call of the compiled function, in a task,
on one thread (Dask runs the blocks in parallel).  The compiled function travels as a copy
carrying its machine code (:mod:`symhess.travel`), so workers evaluate without compiling, and
it is one key of the graph, as is each NumPy input without batch axes: a worker receives each
once, not once per block.  A result of several arrays (``hvp``, the blocks of several inputs)
is one task per block whose output the arrays slice.

Needs ``dask[array]`` (``pip install "symhess[dask]"``); without Dask nothing here is imported.
"""

from __future__ import annotations

import functools
import hashlib
import weakref
from dataclasses import dataclass

import numpy as np

from .convert import to_float64
from .travel import dumps, loads, one_thread

METHODS = ("value", "gradient", "hessian", "hvp", "hessian_values")


@dataclass(frozen=True)
class Leaf:
    """One array of a result: its shape after the batch axes and its dtype."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def result_structure(compiled, method: str):
    """The result of ``method`` as nested tuples of :class:`Leaf` (or one Leaf), as the NumPy path returns it."""
    specs, wrt, single = compiled._specs, compiled.wrt, compiled._single
    value = Leaf(tuple(compiled._output_shape), np.dtype(compiled._value_dtype))
    vectors = tuple(Leaf(specs[i].shape, np.dtype(specs[i].dtype)) for i in wrt)
    vector = vectors[0] if single else vectors
    if method == "value":
        return value
    if method == "gradient":
        return vector
    if method == "hvp":
        return (value, vector)
    if method == "hessian_values":
        return Leaf((len(compiled._built.layout.rows),), np.dtype(np.float64))
    blocks = tuple(tuple(Leaf(specs[i].shape + specs[j].shape, np.dtype(specs[j].dtype)) for j in wrt) for i in wrt)
    return blocks[0][0] if single else blocks


def _leaves(structure) -> list[Leaf]:
    if isinstance(structure, Leaf):
        return [structure]
    return [leaf for part in structure for leaf in _leaves(part)]


def _rebuild(structure, leaves):
    """``structure`` with its leaves replaced, in order, by the items of the iterator ``leaves``."""
    if isinstance(structure, Leaf):
        return next(leaves)
    return tuple(_rebuild(part, leaves) for part in structure)


@dataclass(frozen=True)
class Plan:
    """What one block task does: which arguments are blocks (batched) and which are whole
    (constants), how ``v`` is made of them, and whether the result is packed into one array."""

    method: str
    batched: tuple[bool, ...]      # per argument (the inputs, then v's parts), in order
    inputs: int                    # how many of the arguments are inputs (the rest are v's parts)
    v_single: bool                 # v is one array (else a tuple of v's parts)
    batch_ndim: int
    structure: object              # Leaf or nested tuples of Leaf
    packed: bool


def _block(plan: Plan, compiled, *arguments):
    """One block: the compiled method on NumPy blocks, on this thread; a packed result is every
    leaf flattened after the batch axes and concatenated, in float64."""
    arguments = list(arguments)
    inputs, parts = arguments[:plan.inputs], arguments[plan.inputs:]
    with one_thread():
        if plan.method == "hvp":
            result = compiled.hvp(*inputs, v=parts[0] if plan.v_single else tuple(parts))
        else:
            result = getattr(compiled, plan.method)(*inputs)
    if not plan.packed:
        return np.asarray(result)
    leaves = [np.asarray(leaf) for leaf in _flat(result)]
    batch = leaves[0].shape[:plan.batch_ndim]
    if [leaf.shape for leaf in leaves] != [batch + leaf.shape for leaf in _leaves(plan.structure)]:
        raise AssertionError(f"symhess: {plan.method} returned shapes {[leaf.shape for leaf in leaves]}, not the "
                             f"declared {[leaf.shape for leaf in _leaves(plan.structure)]} after {batch}")
    return np.concatenate([np.asarray(leaf, dtype=np.float64).reshape((*batch, -1)) for leaf in leaves], axis=-1)


def _flat(result):
    if isinstance(result, tuple):
        return [leaf for part in result for leaf in _flat(part)]
    return [result]


def _slice(block, start: int, stop: int, shape: tuple, dtype):
    """One leaf of a packed block: its columns, shaped and in its dtype."""
    batch = block.shape[:block.ndim - 1]
    return block[..., start:stop].reshape(batch + shape).astype(dtype, copy=False)


_TRAVELLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def traveller(compiled):
    """``compiled`` as a key of a Dask graph: a copy running the machine code it carries (the one
    workers receive), made once per compiled function."""
    found = _TRAVELLERS.get(compiled)
    if found is None:
        data = dumps(compiled)
        import dask

        copy = loads(data, "a compiled function sent to Dask")
        key = f"symhess-compiled-{hashlib.sha256(data).hexdigest()[:32]}"
        found = _TRAVELLERS[compiled] = dask.delayed(copy, name=key, pure=True, traverse=False)
    return found


def _whole(value):
    """A NumPy constant (or a Dask array without batch axes) as one key of the graph."""
    import dask
    import dask.array as da
    from dask.base import tokenize

    if isinstance(value, da.Array):
        return value.rechunk(-1).to_delayed().reshape(-1)[0]
    array = to_float64(value)
    return dask.delayed(array, name=f"symhess-data-{tokenize(array)}", pure=True, traverse=False)


def evaluate(compiled, method: str, args, v=None):
    """``compiled.<method>(*args[, v=v])`` over Dask arrays of points: a lazy Dask array (or the
    nested tuples of them the NumPy path returns)."""
    import dask
    import dask.array as da

    specs = compiled._specs
    if len(args) != len(specs):
        names = ", ".join(s.name for s in specs)
        raise TypeError(f"expected {len(specs)} input(s) ({names}), got {len(args)}")
    shapes = [s.shape for s in specs]
    arguments = list(args)
    v_single = compiled._single
    if method == "hvp":
        parts = [v] if v_single else v
        if not isinstance(parts, (tuple, list)) or len(parts) != len(compiled.wrt):
            raise ValueError(f"v must have the structure of the differentiated inputs: {len(compiled.wrt)} tensor(s)")
        arguments += list(parts)
        shapes += [specs[i].shape for i in compiled.wrt]
    batches, arrays = [], []
    for k, (value, shape) in enumerate(zip(arguments, shapes)):
        ndim = np.ndim(value) if not isinstance(value, da.Array) else value.ndim
        full = value.shape if isinstance(value, da.Array) else np.shape(value)
        if ndim < len(shape) or tuple(full[ndim - len(shape):]) != tuple(shape):
            what = f"input {specs[k].name!r}" if k < len(args) else "v"
            raise ValueError(f"{what} has shape {tuple(full)}; compiled for {tuple(shape)} (plus optional "
                             "leading batch dimensions, which a Dask array may chunk)")
        batches.append(tuple(full[:ndim - len(shape)]))
        arrays.append(value)
    batch = next((b for b in batches if b), ())
    for b in batches:
        if b and b != batch:
            raise ValueError(f"the batched inputs have batch shapes {batch} and {b}: give every batched input "
                             "(and v) the same leading batch shape (e.g. with dask.array.broadcast_to)")
    structure = result_structure(compiled, method)
    leaves = _leaves(structure)
    packed = not isinstance(structure, Leaf)
    batched = tuple(bool(b) for b in batches)
    plan = Plan(method, batched, len(args), v_single, len(batch), structure, packed)
    function = functools.partial(_block, plan)
    source = traveller(compiled)
    if not batch:  # a single point given as a Dask array: one task
        task = dask.delayed(function, pure=True)(source, *[_whole(a) for a in arrays])
        width = sum(leaf.size for leaf in leaves)
        if not packed:
            return da.from_delayed(task, leaves[0].shape, dtype=leaves[0].dtype,
                                   meta=np.empty((0,) * len(leaves[0].shape), leaves[0].dtype))
        whole = da.from_delayed(task, (width,), dtype=np.float64, meta=np.empty((0,)))
        return _unpack(whole, structure, 0)
    out_batch = tuple(f"b{j}" for j in range(len(batch)))
    pairs = []
    for k, (value, shape, is_batched) in enumerate(zip(arrays, shapes, batched)):
        if is_batched:
            array = value if isinstance(value, da.Array) else da.asarray(to_float64(value))
            point = dict.fromkeys(range(len(batch), array.ndim), -1)
            pairs += [array.rechunk(point) if point else array,
                      out_batch + tuple(f"a{k}_{j}" for j in range(len(shape)))]
        else:
            pairs += [_whole(value), None]
    pairs = [source, None, *pairs]
    if not packed:
        leaf = leaves[0]
        return da.blockwise(function, out_batch + tuple(f"o{j}" for j in range(len(leaf.shape))), *pairs,
                            new_axes={f"o{j}": size for j, size in enumerate(leaf.shape)}, dtype=leaf.dtype,
                            meta=np.empty((0,) * (len(batch) + len(leaf.shape)), leaf.dtype), concatenate=True,
                            token=f"symhess-{method}")
    width = sum(leaf.size for leaf in leaves)
    whole = da.blockwise(function, (*out_batch, "w"), *pairs, new_axes={"w": width}, dtype=np.float64,
                         meta=np.empty((0,) * (len(batch) + 1)), concatenate=True, token=f"symhess-{method}-packed")
    return _unpack(whole, structure, len(batch))


def _unpack(whole, structure, batch_ndim: int):
    """The leaves of a packed Dask array, each a lazy slice of it (one task per block of ``whole``)."""
    import dask.array as da

    arrays, start = [], 0
    batch = tuple(f"b{j}" for j in range(batch_ndim))
    for leaf in _leaves(structure):
        stop = start + leaf.size
        arrays.append(da.blockwise(_slice, batch + tuple(f"o{j}" for j in range(len(leaf.shape))),
                                   whole, (*batch, "w"), start, None, stop, None, leaf.shape, None, leaf.dtype, None,
                                   new_axes={f"o{j}": size for j, size in enumerate(leaf.shape)}, dtype=leaf.dtype,
                                   meta=np.empty((0,) * (batch_ndim + len(leaf.shape)), leaf.dtype), concatenate=True,
                                   token="symhess-part"))
        start = stop
    return _rebuild(structure, iter(arrays))
