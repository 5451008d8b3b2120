"""The compiled object: evaluate value, gradient, Hessian and Hessian-vector products.

``compile`` runs the pipeline once; the returned :class:`Compiled` evaluates one
point or whole batches (extra leading dimensions, in parallel) and exposes the
inspection attributes: symbols, expressions, sparsity, generated source, stats.
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass, replace

import numpy as np
import symengine as se
import sympy as sp

from .buffer import Buffer
from .convert import is_tensor, kernel_vector, result_dtype, to_float64, trace_style
from .display import latex, plot_sparsity, repr_latex
from .export_c import export
from .expressions import atoms
from .pipeline import POINT_SIGNATURES, Options, build, derive, split_variables
from .simplify import MODES
from .sparse import ScipyCallbacks, csr_layout, csr_matrix
from .tracing import TraceError, trace_function
from .tracing.elementwise import constant

_FLOAT64 = np.dtype(np.float64)


@dataclass(frozen=True)
class InputSpec:
    """Shape and result dtype of one example input."""

    name: str
    shape: tuple[int, ...]
    dtype: object

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def normalize_wrt(wrt, count: int) -> tuple[int, ...]:
    if wrt is None:
        return tuple(range(count))
    items = (wrt,) if isinstance(wrt, (int, np.integer)) else tuple(wrt)
    if not items:
        raise ValueError("wrt=() differentiates nothing: name at least one input")
    result = []
    for item in items:
        if not isinstance(item, (int, np.integer)) or not -count <= item < count:
            raise ValueError(f"wrt={wrt!r}: {item!r} is not the index of one of the {count} inputs")
        result.append(int(item) % count)
    if len(set(result)) != len(result):
        raise ValueError(f"wrt={wrt!r} names an input twice")
    return tuple(result)


def compile(func, *example_inputs, wrt=None, simplify="auto", cache=True,  # noqa: A001
            simplify_budget=5.0):
    """Compile ``func``'s value, gradient, Hessian and Hessian-vector products.

    ``example_inputs`` fix shapes and dtypes; ``wrt`` (int or tuple of ints, default
    all) names the inputs to differentiate, the others become runtime parameters
    (data that may change between calls without recompiling).  ``simplify``:
    ``"auto"`` (code from a linear-cost rewrite; the expressions shown by ``f.gradient_expression``,
    ``f.hessian_expression`` and ``f.latex()`` through SymPy's simplify for small problems, when
    first asked for), ``"none"``, ``"fast"`` or ``"full"``; ``simplify_budget`` caps the seconds
    ``"full"`` may spend.  ``cache=True`` keeps the generated code and Numba's machine
    code on disk (``$SYMHESS_CACHE_DIR`` or the platform's cache directory), so a new
    process compiling the same function skips the symbolic stages and the JIT.
    """
    options = Options(simplify=simplify, cache=cache, simplify_budget=simplify_budget)
    return compile_with(func, example_inputs, wrt, options)


def compile_with(func, example_inputs, wrt, options: Options) -> Compiled:
    """:func:`compile` with every :class:`~symhess.pipeline.Options`; ``eager_jit=False`` (the
    inspection command) starts no compilation: Numba compiles a kernel when it is first called."""
    if not callable(func):
        raise TypeError(f"symhess.compile expects a callable, got {type(func).__name__}")
    if not example_inputs:
        raise TypeError("symhess.compile(func, *example_inputs): give one example input per "
                        "argument of func, e.g. symhess.compile(f, np.zeros(3))")
    for k, value in enumerate(example_inputs):
        if not is_tensor(value):
            raise TypeError(f"example input {k} is a {type(value).__name__}; pass a NumPy array, "
                            "a number or a torch tensor")
    if options.simplify not in MODES:
        raise ValueError(f"simplify={options.simplify!r} is not one of {', '.join(map(repr, MODES))}")
    wrt_indices = normalize_wrt(wrt, len(example_inputs))
    shapes = [np.shape(to_float64(v)) for v in example_inputs]
    start = time.perf_counter()
    style = trace_style(example_inputs)
    trace = trace_function(func, shapes, style=style, lift="all")
    seconds = time.perf_counter() - start
    if trace.output_is_tuple or trace.output.size != 1:
        shape = trace.output.shape if not trace.output_is_tuple else "a tuple"
        raise RuntimeError(f"symhess.compile needs func to return a single-element tensor, got "
                           f"{shape}; use symhess.jacobian for vector-valued functions")
    single = (wrt is None and len(example_inputs) == 1) or isinstance(wrt, (int, np.integer))
    return compile_trace(trace, example_inputs, wrt_indices, single, options, seconds,
                         verify=lambda: _require_deterministic(func, shapes, trace, style))


def _require_deterministic(func, shapes, trace, style) -> None:
    """Trace again: a function of random numbers or changing state would be frozen silently.

    Only before compiling from scratch: a cached trace passed this check when it was compiled.
    """
    again = trace_function(func, shapes, style=style, lift=trace.lift)
    if [d.name for d in trace.data] != [d.name for d in again.data] or any(
            a.shape != b.shape or any(x != y and _nan_free(x) != _nan_free(y) for x, y in zip(a.reshape(-1), b.reshape(-1)))
            for a, b in zip(trace.outputs, again.outputs)):
        raise TraceError(
            "symhess cannot compile this: func returned different expressions on two calls with the "
            "same placeholders, so it depends on something other than its inputs (np.random, the "
            "time, global state that changes)\n  fix: pass such values as extra inputs (they become "
            "runtime parameters with wrt=...), or make func deterministic (e.g. a fixed seed inside it)")


_NAN = se.Symbol("nan.constant")


def _nan_free(expr):
    """``expr`` with its floating-point NaNs as one symbol: NaN is unequal to itself, so a function
    with a NaN constant would otherwise look as if it traced differently each time."""
    if not hasattr(expr, "atoms"):
        return expr
    return expr.xreplace({value: _NAN for value in atoms(expr, se.RealDouble) if value != value})


def compile_trace(trace, example_inputs, wrt, single, options, trace_seconds=0.0, verify=None):
    """Run the pipeline after tracing (shared by ``compile`` and the drop-in functions);
    ``verify()`` runs before compiling from scratch (not on a cache hit)."""
    timings = {"trace": trace_seconds}
    start = time.perf_counter()
    built = build(trace, wrt, options, timings, verify)
    timings["total"] = trace_seconds + time.perf_counter() - start
    specs = tuple(InputSpec(n, tuple(s), result_dtype(v))
                  for n, s, v in zip(trace.names, trace.shapes, example_inputs))
    return Compiled(trace, built, specs, wrt, single, options, timings)


class Compiled:
    """A compiled function: evaluate it at one point or a batch; inspect its expressions,
    sparsity, generated source and stats.  Made by ``symhess.compile``.

    ``wrt`` holds the indices of the differentiated inputs; the others are runtime parameters.
    """

    def __init__(self, trace, built, specs, wrt, single, options, timings):
        self._trace = trace
        self._built = built
        self._kernels = built.module
        if hasattr(built.module, "on_ready"):  # tiers: LLVM's kernels now, Numba's when compiled
            self._kernels = built.module.current()
        self._specs = specs
        self.wrt = wrt
        self._single = single
        self._options = options
        self._timings = timings
        self._params = tuple(i for i in range(len(specs)) if i not in wrt)
        self._offsets = np.cumsum([0] + [specs[i].size for i in wrt]).tolist()
        self._output_shape = trace.output.shape
        self._empty = np.zeros(0)
        # the data lifted out of what func reads: the last runtime parameters of every call
        self._data = np.concatenate([v.reshape(-1) for v in trace.data_values]) if trace.data else self._empty
        self._shared_data = self._data.reshape(1, -1)  # a batch's parameters when only data are
        # one float64 input, no parameters: the common case gets a lean path
        self._fast = specs[0].shape if (len(specs) == 1 and single) else None
        self._fast_dtype = len(specs) == 1 and np.dtype(specs[0].dtype) == np.float64
        self._value_dtype = np.result_type(*(np.dtype(s.dtype) for s in specs))
        self._lean = self._fast if self._fast_dtype else None  # NumPy float64 in and out: no conversions
        self._lean_square = self._fast + self._fast if self._lean is not None else None
        # no parameters: entries with few arguments (not hasattr: tier 0 would wait for Numba to answer it)
        self._has_points = built.layout.m == 0
        # one float64 vector in, a scalar out, no parameters but the lifted data: lean per-call paths
        self._lean_vector = (self._lean is not None and len(self._lean) == 1 and trace.output.shape == ()
                             and not self._params)
        self._scalar = self._value_dtype.type
        self._square = (built.layout.n, built.layout.n)
        self._entries = [None, None]  # hessian_into, hvp_into: compiled (or declined) at first use
        self._reset_entries()
        if self._lean_vector:
            self._bind_lean()
        if hasattr(built.module, "on_ready"):
            built.module.on_ready(self._upgrade)

    def wait_for_jit(self, timeout: float | None = None) -> bool:
        """Wait until the Numba kernels have replaced the first-tier kernels ``compile`` returned
        with (a second or so after a cold compile; at once otherwise); True when they have.

        Not needed for correctness: both tiers give the same numbers.  Benchmarks of per-call
        speed call it first; batched evaluation waits by itself.
        """
        tiers = self._built.module
        if not hasattr(tiers, "on_ready"):
            return True
        if not tiers.wait(timeout):
            return False
        tiers.module()  # raises what the background compilation raised
        return True

    def _bind_lean(self) -> None:
        """Per-call paths in front of the methods (which stay the general path), reading this
        object's data: without data, the entries of few arguments (``hessian_into``); with lifted
        data, the kernels called with them directly."""
        general = {name: getattr(Compiled, name).__get__(self) for name in ("hessian", "hvp", "value", "gradient")}
        hessian, hvp = (_point_hessian, _point_hvp) if self._has_points else (_data_hessian, _data_hvp)
        self.hessian, self.hvp = hessian(self, general["hessian"]), hvp(self, general["hvp"])
        self.value, self.gradient = _point_value(self, general["value"]), _point_gradient(self, general["gradient"])

    def _upgrade(self, module) -> None:
        """Move to the Numba kernels (called from the thread that compiled them)."""
        self._kernels = module
        self._reset_entries()

    def _reset_entries(self):
        """Point ``self._entries`` (a list the per-call closures hold: indexing it is cheaper
        than an attribute) at the current kernels' ``hessian_into`` and ``hvp_into``."""
        if self._has_points:
            self._entries[:] = [_first_use(self, index, name, signature) for index, (name, signature)
                                in enumerate(zip(("hessian_into", "hvp_into"), POINT_SIGNATURES))]

    def _dense_point(self, x):
        out = np.zeros(self._square)
        if not self._entries[0](x, out):
            raise TypeError(_KERNEL_INPUT)
        return out

    def dense_kernel(self):
        """``(x, p) -> dense Hessian`` for :func:`~symhess.convert.kernel_vector` ``x`` and ``p``
        (p empty without parameters)."""
        if self._has_points:
            return lambda x, p: self._dense_point(x)
        return lambda x, p: self._kernels.hessian_dense(x, p)  # looked up per call: tier 0 gives way to Numba

    def product_kernel(self):
        """``(x, p, v) -> (value, H v)`` for :func:`~symhess.convert.kernel_vector` arrays."""
        n = self._built.layout.n
        if self._has_points:
            def product(x, p, v):
                out = np.empty(n)
                value = self._entries[1](x, v, out)
                if value is None:
                    raise TypeError(_KERNEL_INPUT)
                return value, out
            return product

        def product(x, p, v):
            out = np.empty(n)
            return self._kernels.hvp(x, p, v, out), out
        return product

    # ----- argument packing ---------------------------------------------------
    def _pack(self, args):
        """Flat float64 ``x`` and ``p`` (or batched ``X``, ``P``) and the batch shape."""
        if self._fast is not None and len(args) == 1:
            array = args[0]
            if type(array) is not np.ndarray or array.dtype != np.float64:
                array = to_float64(array)
            if array.shape == self._fast:
                return kernel_vector(array), self._data, ()
            point = array.ndim - len(self._fast)
            if point > 0 and array.shape[point:] == self._fast:  # a batch: no concatenated copy
                return self._batch_rows(array), self._shared_data, array.shape[:point]
        plain = self._plain_point(args)
        if plain is not None:
            return (*plain, ())
        if len(args) != len(self._specs):
            names = ", ".join(s.name for s in self._specs)
            raise TypeError(f"expected {len(self._specs)} input(s) ({names}), got {len(args)}")
        arrays, batches = [], []
        for spec, value in zip(self._specs, args):
            array = to_float64(value)
            if array.shape[array.ndim - len(spec.shape):] != spec.shape or array.ndim < len(spec.shape):
                raise ValueError(f"input {spec.name!r} has shape {array.shape}; compiled for "
                                 f"{spec.shape} (plus optional leading batch dimensions)")
            arrays.append(array)
            batches.append(array.shape[:array.ndim - len(spec.shape)])
        batch = np.broadcast_shapes(*batches) if any(batches) else ()
        x = self._flatten([arrays[i] for i in self.wrt], [self._specs[i].shape for i in self.wrt], batch)
        if not self._params:
            return x, (self._shared_data if batch else self._data), batch
        p = self._flatten([arrays[i] for i in self._params],
                          [self._specs[i].shape for i in self._params], batch)
        return x, self._with_data(p), batch

    def _plain_point(self, args):
        """``(x, p)`` without conversions when every input is a contiguous float64 array of its
        compiled shape (one point: a call with data as inputs, ``f.hvp(w, X, y, v=v)``), else None."""
        if len(args) != len(self._specs) or not all(_plain(a, s.shape) for a, s in zip(args, self._specs)):
            return None
        wrt = [args[i].reshape(-1) for i in self.wrt]
        x = wrt[0] if len(wrt) == 1 else np.concatenate(wrt)
        if not self._params:
            return x, self._data
        return x, np.concatenate([args[i].reshape(-1) for i in self._params] + [self._data])

    def _with_data(self, p):
        """The user's parameters ``p`` (flat, or ``(B, m)``) followed by the lifted data."""
        if not self._data.size:
            return p
        if p.ndim == 1:
            return np.concatenate([p, self._data])
        # C order: NumPy lays out the concatenation of a broadcast array in Fortran order, and the
        # batched kernels read each point's row as contiguous
        return np.ascontiguousarray(np.concatenate([p, np.broadcast_to(self._data, (p.shape[0], self._data.size))],
                                                   axis=1))

    def with_data(self, values) -> Compiled:
        """This compiled function evaluated with other values of its lifted data (same shapes, in
        :attr:`Trace.data` order): the drop-in API's new batches of data reuse the compiled code."""
        flat = np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1) for v in values]) if values else self._empty
        if flat.shape != self._data.shape:
            raise ValueError(f"data of {flat.size} values for a function compiled with {self._data.size}")
        if not flat.size:
            return self
        bound = object.__new__(Compiled)  # not copy.copy: that would go through __reduce__ (pickling)
        bound.__dict__.update(self.__dict__)
        bound._data, bound._shared_data = flat, flat.reshape(1, -1)
        if bound._lean_vector:
            bound._bind_lean()  # the copied per-call paths read this object's data, not the traced ones
        return bound

    def _batch_rows(self, array):
        """A batch of the one input as the kernels' (B, n) array, copied only if it must be."""
        return kernel_vector(array).reshape(-1, self._offsets[-1])

    def _flatten(self, arrays, shapes, batch):
        """Concatenate flattened inputs: ``(n,)`` or, batched, ``(B, n)``."""
        if not batch:
            if len(arrays) == 1:
                return kernel_vector(arrays[0])
            return np.concatenate([a.reshape(-1) for a in arrays]) if arrays else self._empty
        count = int(np.prod(batch, dtype=np.int64))
        parts = [np.broadcast_to(a, batch + shape).reshape(count, -1) for a, shape in zip(arrays, shapes)]
        if not parts:
            return np.zeros((count, 0))
        return np.ascontiguousarray(np.concatenate(parts, axis=1))

    # ----- evaluation ----------------------------------------------------------
    def value(self, *args):
        """``func``'s value, shaped as ``func`` returned it (batched: ``B...`` in front)."""
        if _dask(args):
            return _lazy(self, "value", args)
        x, p, batch = self._pack(args)
        if not batch:
            return self._shape_value(self._kernels.value(x, p))
        values = np.empty(x.shape[0])
        self._kernels.value_batch(x, p, np.empty((x.shape[0], 0)), values)
        return values.reshape(batch + self._output_shape).astype(self._value_dtype, copy=False)

    def gradient(self, *args):
        """Gradient with respect to the ``wrt`` inputs, shaped like them."""
        if _dask(args):
            return _lazy(self, "gradient", args)
        x, p, batch = self._pack(args)
        n = self._built.layout.n
        if not batch:
            g = np.empty(n)
            self._kernels.gradient(x, p, g)
        else:
            g = np.empty((x.shape[0], n))
            self._kernels.gradient_batch(x, p, g, np.empty(x.shape[0]))
        return self._split_vector(g, batch)

    def hessian(self, *args):
        """Hessian blocks: one array ``S + S``, or a tuple of tuples ``H[i][j]``."""
        if self._lean is not None and len(args) == 1 and _plain(args[0], self._lean):
            return self.dense_kernel()(args[0].reshape(-1), self._data).reshape(self._lean_square)
        if _dask(args):
            return _lazy(self, "hessian", args)
        x, p, batch = self._pack(args)
        dense = self.dense_kernel()(x, p) if not batch else self._kernels.hessian_dense_batch(x, p)
        return self._split_matrix(dense, batch)

    def hvp(self, *args, v):
        """``(value, H @ v)``, computed without forming the Hessian."""
        if self._lean is not None and len(args) == 1 and _plain(args[0], self._lean) and _plain(v, self._lean):
            value, out = self.product_kernel()(args[0].reshape(-1), self._data, v.reshape(-1))
            return self._shape_value(value), out.reshape(self._lean)
        if _dask((*args, v)) or (isinstance(v, (tuple, list)) and _dask(v)):
            return _lazy(self, "hvp", args, v)
        x, p, batch = self._pack(args)
        vector = self._pack_direction(v, batch)
        n = self._built.layout.n
        if not batch:
            value, out = self.product_kernel()(x, p, vector)
            return self._shape_value(value), self._split_vector(out, batch)
        out, values = np.empty((x.shape[0], n)), np.empty(x.shape[0])
        self._kernels.hvp_batch(x, p, vector, out, values)
        values = values.reshape(batch + self._output_shape).astype(self._value_dtype, copy=False)
        return values, self._split_vector(out, batch)

    def vhp(self, *args, v):
        """``(value, v @ H)``; equal to ``hvp`` because the Hessian is symmetric."""
        return self.hvp(*args, v=v)

    def _pack_direction(self, v, batch):
        if self._fast is not None and batch:  # one input, a batch: v copied once at most
            array = to_float64(v)
            if array.shape == batch + self._fast:
                return self._batch_rows(array)
            if array.shape == self._fast:  # np.tile: 6x faster than a broadcasting copy at n = 4
                return np.tile(array.reshape(-1), (int(np.prod(batch)), 1))
        parts = v if not self._single else (v,)
        if not batch and type(parts) is tuple and len(parts) == len(self.wrt) == 1 and \
                _plain(parts[0], self._specs[self.wrt[0]].shape):
            return parts[0].reshape(-1)
        if not isinstance(parts, (tuple, list)) or len(parts) != len(self.wrt):
            raise ValueError(f"v must have the structure of the differentiated inputs: "
                             f"{len(self.wrt)} tensor(s)")
        arrays = []
        for k, (i, part) in enumerate(zip(self.wrt, parts)):
            array = to_float64(part)
            spec = self._specs[i]
            if array.shape[array.ndim - len(spec.shape):] != spec.shape:
                raise ValueError(f"v[{k}] has shape {array.shape}; input {spec.name!r} has shape "
                                 f"{spec.shape}")
            arrays.append(array)
        return self._flatten(arrays, [self._specs[i].shape for i in self.wrt], batch)

    # ----- result shaping ------------------------------------------------------
    def _shape_value(self, value):
        """The value as ``func`` returned it, in the inputs' floating dtype (float32 in, float32 out)."""
        if self._output_shape == ():
            return self._value_dtype.type(value)
        return np.full(self._output_shape, value, dtype=self._value_dtype)

    def _split_vector(self, flat, batch):
        if self._fast is not None:
            flat = flat.reshape(batch + self._fast)
            return flat if self._fast_dtype else flat.astype(self._specs[0].dtype)
        blocks = []
        for k, i in enumerate(self.wrt):
            spec = self._specs[i]
            part = flat[..., self._offsets[k]:self._offsets[k + 1]]
            blocks.append(part.reshape(batch + spec.shape).astype(spec.dtype, copy=False))
        return blocks[0] if self._single else tuple(blocks)

    def _split_matrix(self, dense, batch):
        if self._fast is not None:
            dense = dense.reshape(batch + self._fast + self._fast)
            return dense if self._fast_dtype else dense.astype(self._specs[0].dtype)
        rows = []
        for a, i in enumerate(self.wrt):
            row = []
            for b, j in enumerate(self.wrt):
                block = dense[..., self._offsets[a]:self._offsets[a + 1],
                              self._offsets[b]:self._offsets[b + 1]]
                shape = batch + self._specs[i].shape + self._specs[j].shape
                row.append(block.reshape(shape).astype(self._specs[j].dtype, copy=False))
            rows.append(tuple(row))
        return rows[0][0] if self._single else tuple(rows)


    # ----- sparse Hessians and solvers ---------------------------------------------
    def hessian_structure(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, cols)`` of the Hessian's structural non-zeros in the upper triangle (``rows <= cols``).

        Indices are into the flat differentiated variables (the ``wrt`` inputs flattened
        and concatenated); :meth:`hessian_values` returns the values in this order.
        """
        layout = self._built.layout
        return layout.rows.copy(), layout.cols.copy()

    def hessian_values(self, *args) -> np.ndarray:
        """The upper-triangle Hessian values in :meth:`hessian_structure` order (batched: ``B... + (nnz,)``)."""
        if _dask(args):
            return _lazy(self, "hessian_values", args)
        x, p, batch = self._pack(args)
        nnz = len(self._built.layout.rows)
        if not batch:
            values = np.empty(nnz)
            self._kernels.hessian(x, p, values)
            return values
        values = np.empty((x.shape[0], nnz))
        self._kernels.hessian_batch(x, p, values, np.empty(x.shape[0]))
        return values.reshape((*batch, nnz))

    def buffer(self):
        """Preallocated float64 inputs and outputs with calls of no arguments, the fastest way to
        evaluate from a Python loop: ``b = f.buffer(); b.x[:] = x; b.hessian()`` writes ``b.H``
        (see :class:`symhess.buffer.Buffer`).  Waits for the Numba kernels."""
        self.wait_for_jit()
        layout = self._built.layout
        buffer = Buffer(self._kernels, layout.n, layout.m, layout.rows, layout.cols)
        buffer.p[layout.m - self._data.size:] = self._data  # the lifted data follow the user's parameters
        return buffer

    def hessian_sparse(self, *args):
        """The full symmetric Hessian over the flat variables as a ``scipy.sparse.csr_array``, never dense."""
        x, p, batch = self._pack(args)
        if batch:
            raise ValueError(f"hessian_sparse takes one point, got a batch of shape {batch}: "
                             "use hessian_values for batches (one row of values per point)")
        values = np.empty(len(self._built.layout.rows))
        self._kernels.hessian(x, p, values)
        return csr_matrix(self._csr_layout(), values)

    def _csr_layout(self):
        if getattr(self, "_csr", None) is None:
            layout = self._built.layout
            self._csr = csr_layout(layout.n, layout.rows, layout.cols)
        return self._csr

    def scipy(self, *parameters, sparse: bool = False):
        """Callbacks for ``scipy.optimize.minimize`` (``fun``, ``jac``, ``hess``, ``hessp``) on the flat ``x``.

        ``parameters`` are the non-differentiated inputs, fixed for the optimisation;
        ``sparse=True`` makes ``hess`` return a ``scipy.sparse.csr_array`` (for ``trust-constr``).
        """
        if len(parameters) != len(self._params):
            names = ", ".join(self._specs[i].name for i in self._params) or "none"
            raise TypeError(f"scipy() takes the {len(self._params)} runtime parameter(s) ({names}), "
                            f"got {len(parameters)}")
        arrays = [to_float64(v) for v in parameters]
        for i, array in zip(self._params, arrays):
            if array.shape != self._specs[i].shape:
                raise ValueError(f"parameter {self._specs[i].name!r} has shape {array.shape}; "
                                 f"compiled for {self._specs[i].shape}")
        p = self._with_data(self._flatten(arrays, [self._specs[i].shape for i in self._params], ()))
        return ScipyCallbacks(self, np.ascontiguousarray(p, dtype=np.float64), sparse)

    # ----- inspection -------------------------------------------------------------
    @property
    def symbols(self):
        """The placeholder symbols per input (SymPy), shaped like the inputs."""
        return tuple(np.vectorize(lambda s: sp.Symbol(str(s)), otypes=[object])(s)
                     if s.size else s for s in self._trace.symbols)

    @property
    def variables(self):
        """The differentiated scalars, in the order of gradient and Hessian rows."""
        return tuple(sp.Symbol(str(s)) for s in split_variables(self._trace, self.wrt)[0])

    @property
    def expression(self):
        """The traced SymPy expression of ``func``."""
        return self._shown(self._trace.output.reshape(-1)[0])._sympy_()

    def _derivatives(self):
        if self._built.derivatives is None:
            self._built.derivatives, _ = derive(self._trace, self.wrt, self._options, {})
        return self._built.derivatives

    def shown_derivatives(self):
        """The simplified derivatives as people read them: the lifted data as their values."""
        derivs = self._derivatives()
        if not self._trace.data:
            return derivs
        return replace(derivs, value=self._shown(derivs.value), gradient=tuple(map(self._shown, derivs.gradient)),
                       hessian={k: self._shown(e) for k, e in derivs.hessian.items()},
                       hvp=tuple(map(self._shown, derivs.hvp)))

    def _shown(self, expr):
        """``expr`` with the lifted data's symbols replaced by their values (as the function read them)."""
        if not self._trace.data:
            return expr
        if getattr(self, "_data_values", None) is None:
            self._data_values = {symbol: constant(value) for datum in self._trace.data
                                 for symbol, value in zip(datum.symbols.reshape(-1), datum.value.reshape(-1))}
        return se.sympify(expr).xreplace(self._data_values)

    @property
    def gradient_expression(self):
        """The gradient (after simplification) as a SymPy column matrix over ``variables``."""
        return sp.ImmutableMatrix([g._sympy_() for g in self.shown_derivatives().gradient])

    @property
    def hessian_expression(self):
        """The Hessian (after simplification) as a symmetric SymPy matrix (sparse when large)."""
        derivs = self.shown_derivatives()
        n = len(derivs.variables)
        entries = {}
        for (i, j), e in derivs.hessian.items():
            entries[(i, j)] = entries[(j, i)] = e._sympy_()
        if n > 100:
            return sp.ImmutableSparseMatrix(n, n, entries)
        return sp.ImmutableMatrix(n, n, lambda i, j: entries.get((i, j), 0))

    @property
    def sparsity(self) -> np.ndarray:
        """Boolean pattern of the Hessian's structural non-zeros."""
        layout = self._built.layout
        pattern = np.zeros((layout.n, layout.n), dtype=bool)
        pattern[layout.rows, layout.cols] = True
        pattern[layout.cols, layout.rows] = True
        return pattern

    @property
    def source(self) -> str:
        """The generated source code that Numba compiles."""
        return self._built.source

    @property
    def stats(self) -> dict:
        """Sizes and seconds spent per stage of this compile.

        ``seconds["jit"]`` is tier 0 (LLVM alone, before ``compile`` returned);
        ``seconds["numba_jit"]`` appears when the background compilation of the Numba kernels
        has finished (see the design notes).
        """
        layout = self._built.layout
        return {"n": layout.n, "parameters": layout.m, "nonzeros": len(layout.rows),
                "simplify": layout.simplify, "cache_hit": "differentiate" not in self._timings,
                "loops": self.source.count("for m in range("),
                "repeated_terms": getattr(self._kernels, "REPEATED_TERMS", 0),
                "patterns": [dict(pattern) for pattern in layout.patterns],
                "seconds": dict(self._timings)}

    def latex(self, full: bool = False) -> str:
        """LaTeX of the function, its gradient and its Hessian (large ones cut, with a note, unless ``full``)."""
        return latex(self, full)

    def _repr_latex_(self):
        return repr_latex(self)

    def plot_sparsity(self, ax=None):
        """Spy plot of the Hessian's structural non-zeros on ``ax`` (needs matplotlib: ``symhess[plot]``)."""
        return plot_sparsity(self, ax)

    def export(self, directory, name: str = "f"):
        """Write ``name.h`` and ``name.c`` into ``directory``: standalone C (only ``math.h``, no allocation) of the
        value, gradient, Hessian values in :meth:`hessian_structure` order and hvp; the header documents the
        layout of ``x`` and ``data``.  Returns the two paths (see :mod:`symhess.export_c`)."""
        return export(self, directory, name)

    # ----- travel: saving, loading and pickling carry the machine code (symhess.travel) ---
    def save(self, path):
        """Write this compiled function to ``path``: its source, layout, data and machine code for
        this CPU and portable baselines; ``symhess.load(path)`` evaluates at once, without compiling."""
        from .travel import save

        return save(self, path)

    def __reduce__(self):
        from .travel import dumps, restore

        return restore, (dumps(self),)

    def __repr__(self):
        shapes = ", ".join(f"{s.name}{list(s.shape)}" for s in self._specs)
        layout = self._built.layout
        return f"<symhess.Compiled f({shapes}), n={layout.n}, Hessian non-zeros={len(layout.rows)}>"



def _dask(args) -> bool:
    """Whether a ``dask.array`` is among ``args`` (none can be while Dask is not imported)."""
    module = sys.modules.get("dask.array")
    return module is not None and any(isinstance(a, module.Array) for a in args)


def _lazy(compiled, method, args, v=None):
    """``method`` over Dask arrays of points: a lazy Dask array (see :mod:`symhess.dask_arrays`)."""
    from .dask_arrays import evaluate

    return evaluate(compiled, method, args, v)


def _plain(x, shape) -> bool:
    """Whether ``x`` can go to the kernels as it is: a contiguous, writeable float64 array of ``shape``."""
    return type(x) is np.ndarray and x.dtype is _FLOAT64 and x.shape == shape and x.flags.carray


def _point_value(compiled, general):
    """``f.value`` of a function of one float64 vector without parameters but its lifted data: a
    plain vector goes straight to the kernel (the value and gradient kernels check no types, so
    this does)."""
    shape, data, scalar = compiled._lean, compiled._data, compiled._scalar

    @functools.wraps(general)
    def value(*args):
        if len(args) == 1 and _plain(x := args[0], shape):
            return scalar(compiled._kernels.value(x, data))
        return general(*args)
    return value


def _point_gradient(compiled, general):
    """``f.gradient`` as :func:`_point_value` is ``f.value``."""
    shape, data = compiled._lean, compiled._data

    @functools.wraps(general)
    def gradient(*args):
        if len(args) == 1 and _plain(x := args[0], shape):
            g = np.empty(shape)
            compiled._kernels.gradient(x, data, g)
            return g
        return general(*args)
    return gradient


def _data_hessian(compiled, general):
    """``f.hessian`` of a function of one float64 vector whose only parameters are its lifted
    data: a plain vector goes straight to the dense kernel with them (as :func:`_point_value`)."""
    shape, data = compiled._lean, compiled._data

    @functools.wraps(general)
    def hessian(*args):
        if len(args) == 1 and _plain(x := args[0], shape):
            return compiled._kernels.hessian_dense(x, data)
        return general(*args)
    return hessian


def _data_hvp(compiled, general):
    """``f.hvp`` as :func:`_data_hessian` is ``f.hessian`` (the value: see :func:`_point_hvp`)."""
    shape, data, n, empty, one = compiled._lean, compiled._data, compiled._square[0], np.empty, compiled._scalar(1)

    @functools.wraps(general)
    def hvp(*args, v):
        if len(args) == 1 and _plain(x := args[0], shape) and _plain(v, shape):
            out = empty(n)
            return one * compiled._kernels.hvp(x, data, v, out), out
        return general(*args, v=v)
    return hvp


def _point_hessian(compiled, general):
    """``f.hessian`` of a function of one float64 vector without parameters, as lean as a call
    from Python gets: allocate, call the entry (Numba's dispatcher checks the type in C).  What
    the entry declines (other types, layouts, lengths, batches) takes ``general``."""
    square, zeros, entries = compiled._square, np.zeros, compiled._entries

    @functools.wraps(general)
    def hessian(x=_NOTHING, /, *more):
        if not more:
            out = zeros(square)
            try:
                if entries[0](x, out):
                    return out
            except ValueError:  # a vector of another length: the general path says why
                pass
        return general(*_given(x, more))
    return hessian


def _point_hvp(compiled, general):
    """``f.hvp`` as :func:`_point_hessian` is ``f.hessian``.  The value becomes an ``np.float64``
    by a multiplication by one (exact, and half the time of calling ``np.float64``)."""
    n, empty, entries, one = compiled._square[0], np.empty, compiled._entries, compiled._scalar(1)

    @functools.wraps(general)
    def hvp(x=_NOTHING, /, *more, v):
        if not more:
            out = empty(n)
            try:
                value = entries[1](x, v, out)
            except ValueError:  # of another length: the general path says why
                value = None
            if value is not None:
                return one * value, out
        return general(*_given(x, more), v=v)
    return hvp


_NOTHING = object()
"""Default of the closures' first argument: a call without arguments takes the general path."""


def _given(x, more):
    return more if x is _NOTHING else (x, *more)


def _first_use(compiled, index, name, signature):
    """What ``compiled._entries[index]`` holds until its first call: that call compiles (or
    declines) the current kernels' entry ``name``, puts it in the list, and calls it."""
    def entry(*args):
        kernels = compiled._kernels
        resolved = _declining(getattr(kernels, name), signature)
        if compiled._kernels is kernels:  # else the tiers switched meanwhile: the next call resolves again
            compiled._entries[index] = resolved
        return resolved(*args)
    return entry


_KERNEL_INPUT = "the kernels take flat, contiguous, writeable float64 arrays (symhess.convert.kernel_vector)"


def _declining(entry, signature):
    """``entry`` compiled for ``signature``; arguments of other types make it return None at
    once (the caller's general path converts or refuses them) instead of compiling for them.

    Numba's dispatcher matches types in C, so the per-call path needs no checks of its own.
    """
    if hasattr(entry, "overloads"):  # a Numba dispatcher (tier 0's entries decline by themselves)
        entry.compile(signature)
        entry._compile_for_args = _declined  # what Numba's dispatcher calls when no signature matches
    return entry


def _declined(*args, **kws):
    """Numba calls the function this returns with the call's arguments."""
    return _return_none


def _return_none(*args, **kws):
    return None
