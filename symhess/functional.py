"""Drop-in ``hessian``, ``hvp``, ``vhp``, ``jacobian``, ``vjp`` and ``jvp`` of
``torch.autograd.functional``.

Same signatures, shapes, nesting, validation errors (PyTorch's exception types
and texts) and ``strict`` semantics, on NumPy arrays, Python numbers or torch
tensors.  Each call re-traces ``func`` (so captured constants stay current) and
reuses the compiled code when the traced expression is unchanged: the compiled
pipeline for scalar functions, an expression list (:mod:`symhess.expression_lists`)
for ``jacobian``, ``vjp`` and ``jvp``.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

import numpy as np

from . import graph, jacobians
from . import strict as strict_checks
from .compiled import compile_trace
from .convert import compute_dtype, is_tensor, is_torch_tensor, is_torch_type, like, result_dtype, to_float64, trace_style
from .expression_lists import offsets
from .lru import LRU, LRUSet
from .pipeline import Options, trace_key
from .plans import hessian_plan, product_plan, store_as
from .tracing import Tensor, trace_function
from .tracing.captured import reads_again

# tier 0 at once (a first call 2.3 s, not 9.6 s), LLVM's optimised code later (no Numba module: no stall)
_OPTIONS = Options(simplify="fast", eager_jit=True, tier_up="native")
STRATEGIES = ("forward-mode", "reverse-mode")


def _as_tuple(value, arg_name: str, fn_name: str):
    """PyTorch's ``_as_tuple``: a tuple of tensors, and whether one was given."""
    is_tuple = isinstance(value, tuple)
    items = value if is_tuple else (value,)
    for index, item in enumerate(items):
        if not (is_tensor(item) or isinstance(item, Tensor)):
            where = f"value at index {index}" if is_tuple else f"given {arg_name}"
            raise TypeError(f"The {arg_name} given to {fn_name} must be either a Tensor or a tuple "
                            f"of Tensors but the {where} has type {type(item)}.")
    return is_tuple, items


def _torch_size(shape) -> str:
    return f"torch.Size([{', '.join(str(n) for n in shape)}])"


def _validate_v(v, shapes, is_other_tuple):
    """PyTorch's ``_validate_v``: ``v`` (a tuple of tensors) shaped as ``shapes`` (the inputs', or
    for vjp the outputs'), whose tuple-ness is ``is_other_tuple``."""
    if len(v) != len(shapes):
        if is_other_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(shapes)} but got {len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for index, (el_v, shape) in enumerate(zip(v, shapes)):
        if tuple(np.shape(el_v)) != tuple(shape):
            prepend = f"Entry {index} in " if is_other_tuple else ""
            raise RuntimeError(f"{prepend}v has invalid size: should be {_torch_size(shape)} but got "
                               f"{_torch_size(np.shape(el_v))}.")


def _direction(v, shapes, is_other_tuple, fn_name: str, none_message: str) -> tuple:
    """``v`` as a tuple shaped as ``shapes``, validated as PyTorch does; ``None`` is a one only
    for a single one-element tensor, else ``none_message``'s RuntimeError."""
    if v is not None:
        _, v = _as_tuple(v, "v", fn_name)
        _validate_v(v, shapes, is_other_tuple)
        return v
    if len(shapes) != 1 or int(np.prod(shapes[0], dtype=np.int64)) != 1:
        raise RuntimeError(f"The vector v can only be None if the {none_message} a single Tensor with a "
                           "single element.")
    return (np.ones(shapes[0]),)


_TRACES: OrderedDict = OrderedDict()
_UNTRUSTED = LRUSet(1024)  # code objects whose traces differ
_TRACE_CACHE_SIZE = 64
_LIFTS: dict = LRU(1024)  # code -> what could be lifted as data when it was last traced ("all" until then)


def _reads(func, lift: bool = True):
    """What ``func`` reads (see :mod:`symhess.tracing.captured`), its data lifted as far as it was
    when traced; None for functions whose traces differ from call to call."""
    code = getattr(func, "__code__", None)
    if code in _UNTRUSTED:
        return None
    return reads_again(func, _LIFTS.get(code, "all") if lift else "none")  # callers concatenate the data


def _traced(func, inputs, fn_name: str, strict: bool = False, lift: bool = True):
    """``(trace, compiled)``, re-tracing only while ``func`` may have changed; ``compiled`` is bound
    to the data ``func`` reads now.

    Arrays of data ``func`` reads become runtime values (``lift``): new values of the same shapes
    reuse the compiled code.  A function's first call under a fingerprint (see
    :mod:`symhess.tracing.captured`) traces it twice; when the two traces agree, later calls
    with an unchanged fingerprint reuse them.  Functions whose traces differ (random numbers,
    hidden state) are always re-traced.
    """
    signature = tuple(_signature(x) for x in inputs)
    found = _reads(func, lift)
    key = (fn_name, found.key, signature) if found is not None and found.key is not None else None
    entry = _TRACES.get(key) if key is not None else None
    if entry is not None and entry[2]:
        _TRACES.move_to_end(key)
        return entry[0], entry[1].with_data(found.data)
    choice = _LIFTS.get(getattr(func, "__code__", None), "all") if lift else "none"
    trace = _scalar_trace(func, inputs, fn_name, strict, choice)
    compiled = _compiled(trace, inputs)
    if trace.lift != choice and lift and hasattr(func, "__code__"):  # it traced with less lifted
        _LIFTS[func.__code__] = trace.lift
        found = _reads(func)
        key = (fn_name, found.key, signature) if found is not None and found.key is not None else None
    if key is None:
        return trace, compiled.with_data(trace.data_values)
    entry = _TRACES.get(key)
    if entry is None:
        # the second trace now, not at the next call: every later call with new data is then a plan's
        again = _scalar_trace(func, inputs, fn_name, strict, trace.lift)
        if _key_of(again, inputs) != _key_of(trace, inputs):
            _UNTRUSTED.add(getattr(func, "__code__", None))
            return trace, compiled.with_data(trace.data_values)
        _TRACES[key] = [trace, compiled, True, func, None]
        if len(_TRACES) > _TRACE_CACHE_SIZE:
            _TRACES.popitem(last=False)
        _plan(func, inputs, fn_name)  # made now: the next call is as lean as every later one
    elif entry[1] is not compiled:  # a trusted fingerprint traced to another expression
        _UNTRUSTED.add(getattr(func, "__code__", None))
        del _TRACES[key]
    return trace, compiled.with_data(trace.data_values)


WARM_UP_CALLS = 8
"""Calls of a new plan made at once: Python 3.11 specialises a function's bytecode after about
eight calls, so without them a loop's second call costs 2-3x its tenth (a few microseconds
each, against the milliseconds of the first call that made the plan)."""


def _warm_up(call) -> None:
    for _ in range(WARM_UP_CALLS):
        call()


def _plan(func, inputs, fn_name: str):
    """The lean evaluator of a trusted repeated call (see :mod:`symhess.plans`) and the flat data
    ``func`` reads now, or None."""
    items = inputs if type(inputs) is tuple else (inputs,)
    found = _reads(func)
    if found is None or found.key is None:
        return None
    entry = _TRACES.get((fn_name, found.key, tuple(_signature(x) for x in items)))
    if entry is None or not entry[2]:
        return None
    if entry[4] is None:
        compiled = entry[1]
        entry[4] = (hessian_plan(compiled, items) if fn_name == "hessian"
                    else product_plan(compiled, items, _output_store(items))) or False
    if not entry[4]:
        return None
    return entry[4], (np.concatenate([d.reshape(-1) for d in found.data]) if found.data else _NO_DATA)


_NO_DATA = np.zeros(0)
_INPUT_IS = "input to the user-provided function is"  # when v may be None: hvp, vhp, jvp
_OUTPUT_IS = "user-provided function returns"  # vjp


def _output_store(inputs):
    """How ``func_output`` is returned: as PyTorch gives it for torch inputs, else NumPy."""
    kinds = {is_torch_tensor(x) for x in inputs}
    return store_as(inputs[0], str(compute_dtype(inputs)).removeprefix("torch.")) if len(kinds) == 1 else None


def _signature(x):
    """Shape, dtype and kind of one input, cheaply (no conversion)."""
    if isinstance(x, np.ndarray) or is_torch_tensor(x):
        return (type(x), tuple(x.shape), x.dtype, getattr(x, "device", None))
    return (type(x), np.shape(x))


def _scalar_trace(func, inputs, fn_name: str, strict: bool = False, lift: str = "none"):
    """Trace ``func`` and apply PyTorch's checks on its output, in PyTorch's order."""
    trace = trace_function(func, [np.shape(to_float64(x)) for x in inputs], style=trace_style(inputs), lift=lift)
    outputs_kind = trace.output_types
    _check_output_types(outputs_kind, trace.output_is_tuple, fn_name)
    if strict:
        strict_checks.check_outputs(trace)
    if trace.output_is_tuple:
        raise RuntimeError(f"The function given to {fn_name} should return a single Tensor")
    if trace.output.size != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn_name} should "
                           "contain a single element")
    return trace


def _check_output_types(types, is_tuple, fn_name):
    for index, kind in enumerate(types):
        if not _tensor_type(kind):
            where = f"value at index {index}" if is_tuple else \
                "given outputs of the user-provided function"
            raise TypeError(f"The outputs of the user-provided function given to {fn_name} must be "
                            f"either a Tensor or a tuple of Tensors but the {where} has type {kind}.")


def _tensor_type(kind) -> bool:
    """A tensor for the contract (API.md): NumPy, torch, and Python numbers (a constant's derivatives are zeros)."""
    return (issubclass(kind, (Tensor, np.ndarray, np.generic, float, int)) and not issubclass(kind, bool)) or \
        is_torch_type(kind)


_COMPILED: dict = LRU(64)


def _key_of(trace, inputs):
    """What the compiled pipeline of ``trace`` is cached by: the traced structure and the dtypes."""
    return trace_key(trace, tuple(range(len(inputs))), _OPTIONS), tuple(str(result_dtype(x)) for x in inputs)


def _compiled(trace, inputs):
    """The compiled pipeline for this trace, reused while the traced expression is the same
    (with the data of the trace that compiled it: bind the data of yours, ``with_data``)."""
    wrt = tuple(range(len(inputs)))
    key = _key_of(trace, inputs)
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _COMPILED[key] = compile_trace(trace, inputs, wrt, False, _OPTIONS)
    return compiled


def _restore(array, template, dtype=None):
    """A NumPy result in the type, dtype and device that PyTorch would give."""
    return like(array, template, dtype)


def _func_output(value, inputs):
    """A value of ``func`` (or a product in its output's space) in the type PyTorch gives: the
    dtype ``func`` computes in, torch if an input is."""
    template = next((x for x in inputs if is_torch_tensor(x)), None)
    if template is None:
        return np.asarray(value, dtype=compute_dtype(inputs))
    return like(np.asarray(value), template, compute_dtype(inputs))


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """Hessian of a scalar function: ``S + S`` for one input, ``H[i][j]`` for a tuple.

    Drop-in for ``torch.autograd.functional.hessian``: same arguments, shapes, nesting,
    exception types and messages, on NumPy arrays, Python numbers or torch tensors.

    Args:
        func: a function of the input(s) returning a single-element tensor, written
            with operations symhess can trace (see "What can be traced").
        inputs: one tensor or a tuple of tensors: NumPy arrays, Python or NumPy numbers,
            or torch tensors.
        create_graph: with torch inputs, return tensors that torch autograd can
            differentiate again (from symbolic higher derivatives); ignored for NumPy.
        strict: raise PyTorch's ``RuntimeError`` when the output, or its gradient, is
            independent of an input, instead of returning zeros for that block.
        vectorize: accepted and validated as PyTorch does; never changes the numbers.
        outer_jacobian_strategy: ``"reverse-mode"`` or ``"forward-mode"``, validated as
            PyTorch does; never changes the numbers.

    Returns:
        For one input of shape ``S``, an array (or torch tensor) of shape ``S + S``; for a
        tuple of inputs, a tuple of tuples with ``H[i][j].shape == S_i + S_j``.

    Raises:
        TraceError: ``func`` does something symbolic tracing cannot follow.
    """
    lean = not (create_graph or strict or outer_jacobian_strategy != "reverse-mode")
    planned = _plan(func, inputs, "hessian") if lean else None
    if planned is not None:
        plan, data = planned
        result = plan(inputs if type(inputs) is tuple else (inputs,), data)
        return result if type(inputs) is tuple else result[0][0]
    is_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in STRATEGIES:
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')
    if outer_jacobian_strategy == "forward-mode":
        _check_forward_mode(strict, vectorize, create_graph)
    _require_floating(inputs)
    _, compiled = _traced(func, inputs, "hessian", strict, lift=not create_graph)
    if strict:
        strict_checks.check_hessian(compiled, vectorize)
    if _with_graph(create_graph, inputs):

        result = graph.hessian_with_graph(compiled, inputs)
        return result if is_tuple else result[0][0]
    planned = _plan(func, inputs, "hessian") if lean else None
    if planned is not None:  # made by this call: evaluated by it, so the next call runs warm code
        plan, data = planned
        result = plan(inputs, data)
        _warm_up(lambda: hessian(func, inputs))
        return result if is_tuple else result[0][0]
    blocks = compiled.hessian(*inputs)
    result = tuple(tuple(_restore(blocks[i][j], inputs[j]) for j in range(len(inputs)))
                   for i in range(len(inputs)))
    return result if is_tuple else result[0][0]


def _require_floating(inputs):
    """PyTorch differentiates floating-point tensors only."""
    for x in inputs:
        if is_torch_tensor(x) and not x.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")


def _check_forward_mode(strict, vectorize, create_graph):
    """PyTorch's checks of ``strategy="forward-mode"``, in its order (before calling func)."""
    if create_graph:
        raise NotImplementedError(
            "torch.autograd.functional.jacobian: `create_graph=True` and `strategy=\"forward-mode\"` "
            "are not supported together (yet). Please either set `create_graph=False` or "
            "`strategy=\"reverse-mode\"`.")
    if strict:
        raise RuntimeError(
            "torch.autograd.functional.jacobian: `strict=True` and `strategy=\"forward-mode\"` "
            "are not supported together (yet). Please either set `strict=False` or "
            "`strategy=\"reverse-mode\"`.")
    if not vectorize:
        # PyTorch's text, including its missing space ("isonly"), so that matching code keeps working
        raise NotImplementedError(
            "Computing Jacobian using forward-AD or forward-over-reverse Hessian is"
            "only implemented for `vectorize=True`.")


def _product(func, inputs, v, strict, fn_name, create_graph=False):
    planned = None if create_graph or strict else _plan(func, inputs, fn_name)
    if planned is not None:
        plan, data = planned
        is_tuple = type(inputs) is tuple
        items, directions = (inputs, v) if is_tuple else ((inputs,), (v,))
        if type(directions) is tuple and _same_layout(directions, items):
            func_output, result = plan(items, directions, data)
            return func_output, (result if is_tuple else result[0])
    is_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
    v = _direction(v, [np.shape(x) for x in inputs], is_tuple, fn_name, _INPUT_IS)
    _require_floating(inputs)
    _, compiled = _traced(func, inputs, fn_name, strict, lift=not create_graph)
    if strict:
        strict_checks.check_product(compiled, fn_name)
    if _with_graph(create_graph, inputs):

        func_output, result = graph.product_with_graph(compiled, inputs, v)
        return func_output, (result if is_tuple else result[0])
    planned = None if create_graph or strict else _plan(func, inputs, fn_name)
    if planned is not None and _same_layout(v, inputs):  # made by this call: the next one runs warm code
        func_output, result = planned[0](inputs, v, planned[1])
        _warm_up(lambda: _product(func, inputs, v, False, fn_name))
        return func_output, (result if is_tuple else result[0])
    value, product = compiled.hvp(*inputs, v=tuple(to_float64(x) for x in v))
    func_output = _func_output(value, inputs)
    result = tuple(_restore(product[i], inputs[i]) for i in range(len(inputs)))
    return func_output, (result if is_tuple else result[0])


def _same_layout(v, inputs) -> bool:
    """Whether ``v`` passes validation for sure: tensors shaped as the inputs (else the full checks run)."""
    return len(v) == len(inputs) and all(
        type(a) is type(b) and a.shape == b.shape and a.dtype == b.dtype for a, b in zip(v, inputs))


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func_output, H @ v)`` without forming the Hessian.

    Drop-in for ``torch.autograd.functional.hvp``; arguments as in ``symhess.hessian``.

    Args:
        func: a function of the input(s) returning a single-element tensor.
        inputs: one tensor or a tuple of tensors.
        v: the direction, with the structure of ``inputs``; may be ``None`` only when the
            input is a single one-element tensor.
        create_graph: with torch inputs, return tensors torch can differentiate again.
        strict: raise PyTorch's ``RuntimeError`` for inputs the gradient does not depend on.

    Returns:
        ``(func_output, hvp)``: ``func``'s value as it returned it, and ``H @ v`` with the
        structure of ``inputs``.
    """
    return _product(func, inputs, v, strict, "hvp", create_graph)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func_output, v @ H)``: equal to ``symhess.hvp``, because the Hessian is symmetric.

    Drop-in for ``torch.autograd.functional.vhp``; arguments as in ``symhess.hvp``.
    """
    return _product(func, inputs, v, strict, "vhp", create_graph)


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """Jacobian blocks ``J[i][j]`` of shape ``out_i.shape + in_j.shape`` (nesting as PyTorch).

    Drop-in for ``torch.autograd.functional.jacobian``; ``func`` may return any tensor or a
    tuple of tensors.  ``create_graph``, ``strict`` and ``vectorize`` are as in
    ``symhess.hessian``; ``strategy`` is validated as PyTorch does and never changes the numbers.

    Returns:
        One array for one input and one output; a tuple over inputs for a tuple of inputs,
        over outputs for a tuple of outputs, and a tuple of tuples ``J[i][j]`` for both.
    """
    if strategy not in STRATEGIES:
        raise AssertionError(
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
            'function has more outputs than inputs, "forward-mode" tends to be more performant. '
            'Otherwise, prefer to use "reverse-mode".')
    if strategy == "forward-mode":
        _check_forward_mode(strict, vectorize, create_graph)
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
    _require_floating(inputs)
    trace = _vector_trace(func, inputs, "jacobian", strict, create_graph)
    if vectorize and strict:
        raise RuntimeError(strict_checks.VECTORIZE_STRICT)
    if _with_graph(create_graph, inputs):

        if strict:
            strict_checks.check_jacobian_graph(jacobians.traced_list(trace), *_layout(trace))
        result = graph.jacobian_with_graph(trace, inputs)
    else:
        if strict:
            strict_checks.check_jacobian(trace)
        blocks = jacobians.jacobian(trace, inputs)
        result = tuple(tuple(_restore(block, inputs[j]) for j, block in enumerate(row)) for row in blocks)
    if not is_inputs_tuple:
        result = tuple(row[0] for row in result)
    return result if trace.output_is_tuple else result[0]


def _vector_trace(func, inputs, fn_name: str, strict: bool, create_graph: bool):
    """Trace a function of tensor or tuple values and apply PyTorch's checks of its outputs.

    The arrays ``func`` reads are runtime data (new values of the same shapes reuse the compiled
    code), except with create_graph, whose results are functions of the inputs alone.  As in
    :func:`_traced`, once two traces under the same fingerprint agree, later calls bind the data
    ``func`` reads now to the first trace instead of tracing again."""
    lift = not create_graph
    signature = tuple(_signature(x) for x in inputs)
    found = _reads(func, lift)
    key = (lift, found.key, signature) if found is not None and found.key is not None else None
    entry = _VECTOR_TRACES.get(key) if key is not None else None
    if entry is not None and entry[1]:
        trace = _with_data(entry[0], found.data)
    else:
        choice = _LIFTS.get(getattr(func, "__code__", None), "all") if lift else "none"
        trace = trace_function(func, [np.shape(x) for x in inputs], style=trace_style(inputs), lift=choice)
        if trace.lift != choice and lift and hasattr(func, "__code__"):  # it traced with less lifted
            _LIFTS[func.__code__] = trace.lift
            found = _reads(func)
            key = (lift, found.key, signature) if found is not None and found.key is not None else None
    _check_output_types(trace.output_types, trace.output_is_tuple, fn_name)
    if strict:
        strict_checks.check_outputs(trace)
    if key is not None and not (entry is not None and entry[1]) and len(found.data) == len(trace.data):
        _remember_vector_trace(key, trace, func)
    return trace


_VECTOR_TRACES: dict = LRU(64)  # (lift, fingerprint, input signature) -> [trace, trusted]


def _remember_vector_trace(key, trace, func) -> None:
    entry = _VECTOR_TRACES.get(key)
    if entry is None:
        _VECTOR_TRACES[key] = [trace, False]
    elif jacobians.traced_list(entry[0]) is jacobians.traced_list(trace):  # the same structure twice
        entry[1] = True
    else:
        _UNTRUSTED.add(getattr(func, "__code__", None))
        del _VECTOR_TRACES[key]


def _with_data(trace, data):
    """``trace`` with new values of its data (same shapes)."""
    return dataclasses.replace(trace, data=tuple(dataclasses.replace(datum, value=value)
                                                 for datum, value in zip(trace.data, data)))


def _with_graph(create_graph: bool, inputs) -> bool:
    """create_graph applies to torch inputs; with NumPy it is accepted and ignored (API.md)."""
    return create_graph and any(is_torch_tensor(x) for x in inputs)


def _layout(trace) -> tuple[list[int], list[int]]:
    """Offsets of the outputs and of the inputs in the trace's flat expression list."""
    return offsets(out.shape for out in trace.outputs), offsets(trace.shapes)


def _requires_grad(v) -> tuple[bool, ...]:
    return tuple(bool(getattr(x, "requires_grad", False)) for x in v)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func_output, v @ J)``: the vector-Jacobian product, without forming the Jacobian.

    Drop-in for ``torch.autograd.functional.vjp``: same arguments, results, exception types and
    messages, on NumPy arrays, Python numbers or torch tensors.

    Args:
        func: a function of the input(s) returning a tensor or a tuple of tensors.
        inputs: one tensor or a tuple of tensors.
        v: the cotangent, with the structure of ``func``'s output; may be ``None`` only when
            ``func`` returns a single one-element tensor.
        create_graph: with torch inputs, return tensors torch can differentiate again (with
            respect to the inputs and to ``v``); ignored for NumPy.
        strict: raise PyTorch's ``RuntimeError`` for an input no output depends on, instead
            of returning zeros for it.

    Returns:
        ``(func_output, vjp)``: ``func``'s value as it returned it, and ``v @ J`` with the
        structure of ``inputs``.
    """
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
    _require_floating(inputs)
    trace = _vector_trace(func, inputs, "vjp", strict, create_graph)
    v = _direction(v, [out.shape for out in trace.outputs], trace.output_is_tuple, "vjp", _OUTPUT_IS)
    with_graph = _with_graph(create_graph, inputs)
    if strict:
        strict_checks.check_vjp(trace, jacobians.traced_list(trace), *_layout(trace), with_graph, _requires_grad(v))
    if with_graph:

        outputs, result = graph.vjp_with_graph(trace, inputs, v)
    else:
        values, product = jacobians.vjp(trace, inputs, v)
        outputs = tuple(_func_output(value, inputs) for value in values)
        result = tuple(_restore(piece, x) for piece, x in zip(product, inputs))
    return (outputs if trace.output_is_tuple else outputs[0]), (result if is_inputs_tuple else result[0])


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func_output, J @ v)``: the Jacobian-vector product, without forming the Jacobian.

    Drop-in for ``torch.autograd.functional.jvp``: same arguments, results, exception types and
    messages, on NumPy arrays, Python numbers or torch tensors.

    Args:
        func: a function of the input(s) returning a tensor or a tuple of tensors.
        inputs: one tensor or a tuple of tensors.
        v: the tangent, with the structure of ``inputs``; may be ``None`` only when the
            input is a single one-element tensor.
        create_graph: with torch inputs, return tensors torch can differentiate again (with
            respect to the inputs and to ``v``); ignored for NumPy.
        strict: raise PyTorch's ``RuntimeError`` for an input no output depends on, or an
            output that depends on no input, instead of returning zeros.

    Returns:
        ``(func_output, jvp)``: ``func``'s value as it returned it, and ``J @ v`` with the
        structure of ``func``'s output.
    """
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
    _require_floating(inputs)
    v = _direction(v, [np.shape(x) for x in inputs], is_inputs_tuple, "jvp", _INPUT_IS)
    trace = _vector_trace(func, inputs, "jvp", strict, create_graph)
    with_graph = _with_graph(create_graph, inputs)
    if strict:
        strict_checks.check_jvp(trace, jacobians.traced_list(trace), *_layout(trace), with_graph, _requires_grad(v))
    if with_graph:

        outputs, result = graph.jvp_with_graph(trace, inputs, v)
    else:
        values, product = jacobians.jvp(trace, inputs, v)
        outputs = tuple(_func_output(value, inputs) for value in values)
        result = tuple(_func_output(piece, inputs) for piece in product)
    if not trace.output_is_tuple:
        outputs, result = outputs[0], result[0]
    return outputs, result
