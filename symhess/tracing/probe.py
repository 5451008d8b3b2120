"""PyTorch functions that are affine in their traced arguments, traced by running PyTorch itself.

Moving, copying, padding, gathering, scattering, pooling by averages, convolving with
constant weights, ... are affine maps of the traced values: ``out = J @ x + c``. Which
functions are affine, and in which arguments, is written in :func:`table` (it is known
from their definitions, never guessed from numbers). Their coefficients are then exact:
PyTorch computes ``c = f(0)`` and each column of ``J`` as ``f(e_k) - c`` on float64
numbers, so every argument (strides, padding modes, ``dim``, index tensors, ``alpha``)
means exactly what PyTorch makes of it. Movements give coefficients 0 and 1, so the
traced result is the inputs' own expressions.

``joint``: affine in all the listed arguments together (``cat``, ``index_add``);
otherwise affine in each one alone (``addmm``, ``conv1d``): then only one of them may
hold traced values, unless the function has a symbolic translation elsewhere.
"""

from __future__ import annotations

import functools

import numpy as np
import symengine as se

from .elementwise import constant
from .errors import trace_error
from .placeholder import Placeholder, wrap

MAX_COEFFICIENTS = 20_000_000
"""Largest ``inputs x outputs`` probed (the dense Jacobian is built column by column)."""


class Spec:
    """Where a function may hold traced values, and whether it is affine in them jointly."""

    __slots__ = ("arguments", "check", "joint")

    def __init__(self, arguments="all", joint=True, check=None):
        self.arguments = arguments  # "all", or a tuple of (position, keyword name)
        self.joint = joint
        self.check = check          # (args, kwargs) -> reason it is not affine, or None


def _input(*names):
    return tuple((k, name) for k, name in enumerate(names) if name)


INPUT = Spec(_input("input"))


def _reduce_check(keyword, position, affine):
    def check(args, kwargs):
        value = kwargs.get(keyword, args[position] if len(args) > position else None)
        if value is not None and value not in affine:
            return f"{keyword}={value!r} is not a linear reduction"
        return None

    return check


@functools.cache
def table() -> dict:
    """torch function or ``torch.Tensor`` method -> :class:`Spec`."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    input_only = [
        "alias_copy", "as_strided", "as_strided_copy", "broadcast_to", "conj", "conj_physical",
        "resolve_conj", "resolve_neg", "real", "constant_pad_nd", "diag_embed", "diagflat",
        "diagonal_copy", "expand_copy", "gather", "index_select", "masked_select", "movedim",
        "moveaxis", "narrow_copy", "permute_copy", "ravel", "repeat_interleave", "roll", "select",
        "slice_copy", "squeeze_copy", "t_copy", "take", "take_along_dim", "tile", "transpose_copy",
        "unbind", "unbind_copy", "unflatten", "unfold_copy", "unsqueeze_copy", "view_copy", "hsplit",
        "vsplit", "dsplit", "tensor_split", "split", "chunk", "fliplr", "flipud", "rot90", "tril",
        "triu", "swapaxes", "swapdims", "select_copy", "detach_copy", "alias", "adjoint",
        "positive", "fill", "zeros_like", "ones_like", "full_like", "clone", "diagonal",
        "unsafe_split", "unsafe_chunk", "split_with_sizes", "narrow", "combinations", "gradient",
    ]
    joint = [
        "hstack", "vstack", "dstack", "column_stack", "row_stack", "block_diag", "broadcast_tensors",
        "cartesian_prod", "meshgrid", "index_add", "index_copy", "index_fill", "scatter_add",
        "masked_scatter", "select_scatter", "slice_scatter", "diagonal_scatter",
        "as_strided_scatter", "put", "rsub", "masked_fill", "atleast_1d", "atleast_2d", "atleast_3d",
    ]
    separate = ["addmm", "addmv", "addr", "addbmm", "baddbmm", "bmm", "cross", "inner", "vdot",
                "tensordot", "kron", "chain_matmul", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                "conv_transpose2d", "conv_transpose3d", "bilinear", "addcmul"]
    specs = {}

    def put(name, spec):
        for namespace in (torch, torch.Tensor, torch.functional):
            function = getattr(namespace, name, None)
            if function is not None and callable(function):
                specs.setdefault(function, spec)

    for name in input_only:
        put(name, INPUT)
    for name in joint:
        put(name, Spec())
    for name in separate:
        put(name, Spec(joint=False))
    put("scatter", Spec(check=_reduce_check("reduce", 4, ("add",))))
    put("scatter_reduce", Spec(check=_reduce_check("reduce", 4, ("sum", "mean"))))  # (input, dim, index, src, reduce)
    put("index_reduce", Spec(check=lambda a, k: "index_reduce is not linear"))
    put("lerp", Spec(_input("input", "end"), check=lambda a, k: _constant_weight(a, k)))
    put("addcdiv", Spec(_input("input", "tensor1"), joint=False))
    put("trapz", Spec(_input("y")))
    put("trapezoid", Spec(_input("y")))
    put("cumulative_trapezoid", Spec(_input("y")))
    put("diff", Spec(_input("input", "", "", "prepend", "append")))
    for name in ("sum_to_size", "reshape_as", "view_as", "unfold", "new_zeros", "new_ones", "new_full"):
        put(name, INPUT)
    specs[torch.Tensor.unfold] = INPUT
    for function in (F.pad, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, F.adaptive_avg_pool1d,
                     F.adaptive_avg_pool2d, F.adaptive_avg_pool3d, F.interpolate, F.upsample,
                     F.upsample_nearest, F.upsample_bilinear, F.pixel_shuffle, F.pixel_unshuffle,
                     F.unfold, F.fold, F.channel_shuffle, torch.nn.functional.native_channel_shuffle):
        specs[function] = INPUT
    for function in (F.conv1d, F.conv2d, F.conv3d, F.conv_transpose1d, F.conv_transpose2d,
                     F.conv_transpose3d, F.bilinear, torch.linalg.cross, torch.linalg.vecdot):
        specs[function] = Spec(joint=False)
    specs[torch.linalg.multi_dot] = Spec(joint=False)
    specs.setdefault(torch._C._VariableFunctions.meshgrid, Spec())  # torch.meshgrid([a, b]) reaches it
    specs[torch.linalg.diagonal] = INPUT
    specs[torch.ops.aten.native_dropout_backward] = Spec(_input("grad_output"))
    specs[torch.ops.aten.slice.Tensor] = INPUT
    return specs


def _constant_weight(args, kwargs):
    weight = kwargs.get("weight", args[2] if len(args) > 2 else None)
    return "lerp with a traced weight is not affine" if isinstance(weight, Placeholder) else None


def _leaves(value, found, path):
    """Record where placeholders sit in an argument (inside lists and tuples)."""
    if isinstance(value, Placeholder):
        found.append(path)
    elif isinstance(value, (list, tuple)):
        for k, item in enumerate(value):
            _leaves(item, found, (*path, k))


def _replace(value, path, slots, values):
    if isinstance(value, Placeholder):
        return values[slots[path]]
    if isinstance(value, (list, tuple)):
        items = [_replace(item, (*path, k), slots, values) for k, item in enumerate(value)]
        return items if isinstance(value, list) else type(value)(items) if type(value) is tuple else tuple(items)
    return _as_double(value)


def _as_double(value):
    """Floating constants as float64, so that probes of float64 placeholders combine with them."""
    import torch

    if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dtype != torch.float64:
        return value.double()
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return torch.from_numpy(value.astype(np.float64))
    return value


def affine_call(func, name: str, spec: Spec, args, kwargs):
    """``func(*args, **kwargs)`` with placeholders, from PyTorch's own numbers."""
    import torch

    paths = []
    for k, a in enumerate(args):
        _leaves(a, paths, (k,))
    for key, a in kwargs.items():
        _leaves(a, paths, (key,))
    if spec.arguments != "all":
        allowed = {p for p, _ in spec.arguments} | {n for _, n in spec.arguments}
        bad = [p[0] for p in paths if p[0] not in allowed]
        if bad:
            names = ", ".join(n for _, n in spec.arguments)
            raise trace_error(f"{name} with a traced value in argument {bad[0]!r}: symhess traces it "
                              f"only in {names} (where it is affine)", "pass that argument as a constant")
    if not spec.joint and len(paths) > 1:
        raise trace_error(f"{name} with traced values in more than one argument (it is not linear in "
                          "them together)", "keep all but one of its tensor arguments constant, or "
                          "write the product with matmul / einsum / operators")
    if spec.check is not None:
        reason = spec.check(args, kwargs)
        if reason:
            raise trace_error(f"{name}: {reason}", "write it with supported operations")

    leaves = []
    for path in paths:
        value = args[path[0]] if isinstance(path[0], int) else kwargs[path[0]]
        for k in path[1:]:
            value = value[k]
        leaves.append(value)
    slots = {path: k for k, path in enumerate(paths)}
    sizes = [leaf.data.size for leaf in leaves]
    offsets = np.cumsum([0, *sizes])
    n = int(offsets[-1])

    def run(flat: np.ndarray):
        values = [torch.from_numpy(flat[offsets[k]:offsets[k + 1]].reshape(leaf.data.shape).copy())
                  for k, leaf in enumerate(leaves)]
        call_args = [_replace(a, (k,), slots, values) for k, a in enumerate(args)]
        call_kwargs = {key: _replace(a, (key,), slots, values) for key, a in kwargs.items()}
        with torch.no_grad():
            return func(*call_args, **call_kwargs)

    try:
        base = run(np.zeros(n))
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        raise type(error)(str(error)) from None
    outputs, rebuild = _flatten(base)
    if any(not isinstance(o, torch.Tensor) or not o.is_floating_point() for o in outputs):
        return base if not paths else _refuse_output(name)
    constants = [o.detach().numpy().astype(np.float64).reshape(-1) for o in outputs]
    total = sum(c.size for c in constants)
    if n * total > MAX_COEFFICIENTS:
        raise trace_error(f"{name} of {n} traced values into {total} outputs (too large to probe)",
                          "apply it to smaller tensors")
    columns = np.zeros((n, total))
    basis = np.zeros(n)
    for k in range(n):
        basis[k] = 1.0
        probe, _ = _flatten(run(basis))
        columns[k] = np.concatenate([p.detach().numpy().astype(np.float64).reshape(-1) for p in probe])
        basis[k] = 0.0
    columns -= np.concatenate(constants)[None, :] if constants else 0.0
    variables = np.concatenate([leaf.data.reshape(-1) for leaf in leaves]) if leaves else np.zeros(0, object)
    flat_constant = np.concatenate(constants) if constants else np.zeros(0)
    results = np.empty(total, dtype=object)
    for j in range(total):
        rows = np.flatnonzero(columns[:, j])
        terms = [variables[k] if columns[k, j] == 1.0 else _number(columns[k, j]) * variables[k] for k in rows]
        if flat_constant[j] != 0.0 or not terms:
            terms.append(_number(flat_constant[j]))
        results[j] = terms[0] if len(terms) == 1 else se.Add(*terms)
    pieces, start = [], 0
    for output in outputs:
        size = output.numel()
        pieces.append(wrap(results[start:start + size].reshape(tuple(output.shape))))
        start += size
    return rebuild(pieces)


def _number(value: float):
    return constant(value)


def _refuse_output(name):
    raise trace_error(f"{name} of traced values gives a non-floating result", "keep it out of the traced code")


def _flatten(result):
    """A function's result as a list of tensors, and how to rebuild its structure from placeholders."""
    if isinstance(result, (list, tuple)):
        kind = type(result)

        def rebuild(pieces):
            return list(pieces) if kind is list else tuple(pieces)

        return list(result), rebuild
    return [result], lambda pieces: pieces[0]
