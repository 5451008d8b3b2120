"""Compiled functions that travel: ``f.save(path)``, ``symhess.load(path)`` and pickling.

A saved (or pickled) compiled function carries what evaluating it needs, so another process
(a Dask worker, a job on a cluster) evaluates at once instead of compiling: the generated
source, the layout, the lifted data, the traced expression (for inspection) and the machine
code of every kernel and of loops over batches, compiled ahead by LLVM for stated CPU
targets: the host's CPU and portable baselines (x86-64-v3, x86-64-v2).  On load the first
target the CPU can run is linked (the host's, else the newest baseline it supports); a CPU
that runs none of them gets the kernels compiled from the carried source, with one warning.

Every part is checked against its SHA-256 on load, as the cache's files are
(:mod:`symhess.cache`); a damaged file is refused, never linked.  Machine code runs in the
process that loads it: load only files you trust, as you would a shared library.

The loaded function never starts Numba: its kernels are the machine code it brought (batches
run in threads that release the interpreter lock).  ``f.wait_for_jit()`` or ``f.buffer()``
compile the Numba kernels when asked for, as a compile does.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import functools
import hashlib
import itertools
import json
import os
import struct
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import llvmlite.binding as llvm
import numpy as np
import symengine as se
from symengine.lib.symengine_wrapper import load_basic

from .llvm import POINTER, ZERO, function_text
from .lru import LRU
from .native import ENTRY_TYPES, INDEX_POINTER, SCATTER, SCATTER_ARGUMENTS, NativeKernels, Tiers, llvm_lock, native_kernels
from .tracing import Datum, Trace, placeholders
from .version import __version__

MAGIC = b"symhess compiled function\n"
FORMAT = 1
_LENGTH = struct.Struct("<Q")


class TravelWarning(UserWarning):
    """A loaded function's machine code cannot run on this CPU: its kernels were compiled from its source."""


class LoadError(ValueError):
    """A saved compiled function that cannot be loaded: not one, damaged, or from another format."""


# ----- targets ----------------------------------------------------------------------------

_X86_64_V2 = ("cx16", "popcnt", "sahf", "sse3", "sse4.1", "sse4.2", "ssse3")
_X86_64_V3 = (*_X86_64_V2, "avx", "avx2", "bmi", "bmi2", "f16c", "fma", "lzcnt", "movbe", "xsave")
PORTABLE = {"x86_64": (("x86-64-v3", _X86_64_V3), ("x86-64-v2", _X86_64_V2))}
"""Portable CPU targets per architecture, newest first, with the features each requires
(the x86-64 psABI's micro-architecture levels, in LLVM's feature names)."""


@dataclass(frozen=True)
class Target:
    """What machine code was compiled for: LLVM's triple, CPU name and features, and the
    features a CPU must have to run it."""

    triple: str
    cpu: str
    features: str
    required: tuple[str, ...]

    @property
    def architecture(self) -> str:
        return self.triple.split("-")[0]

    @property
    def system(self) -> str:
        return "-".join(self.triple.split("-")[2:3])


@functools.cache
def _llvm():
    with llvm_lock():
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
    return llvm


@functools.cache
def host_target() -> Target:
    """The CPU this process runs on, as a target (tests replace it to play another CPU)."""
    llvm = _llvm()
    features = llvm.get_host_cpu_features()
    required = tuple(sorted(name for name, present in features.items() if present))
    return Target(llvm.get_process_triple(), llvm.get_host_cpu_name(), features.flatten(), required)


def targets() -> tuple[Target, ...]:
    """The targets a saved function carries machine code for: the host's, then the portable
    baselines of its architecture that the host supports (newest first)."""
    host = host_target()
    have = set(host.required)
    portable = tuple(Target(host.triple, cpu, "", required)
                     for cpu, required in PORTABLE.get(host.architecture, ()) if set(required) <= have)
    return (host, *portable)


def runnable(target: Target) -> str | None:
    """Why this process cannot run ``target``'s machine code, or None when it can."""
    host = host_target()
    if (target.architecture, target.system) != (host.architecture, host.system):
        return f"it is for {target.triple}, this is {host.triple}"
    missing = sorted(set(target.required) - set(host.required))
    if missing:
        return f"this CPU lacks {', '.join(missing)}"
    return None


# ----- machine code ---------------------------------------------------------------------------

_WIDTH_OF = {"value": None, "gradient": "n", "hessian": "nnz", "hvp": "n", "hessian_full": "nn"}
"""Per kernel, the length of its output row (value writes none)."""


def module_text(kernels: NativeKernels) -> str:
    """LLVM IR of every kernel of ``kernels`` (named ``symhess_<kernel>``) and, for each, a loop
    over a range of a batch (``symhess_<kernel>_batch``), and the entries beside them
    (:meth:`NativeKernels._beside`: the scatter, the compiled ``hessian_into`` and ``hvp_into``)."""
    parts = []
    declarations = set()
    n, m, nnz = kernels._n, kernels._m, len(kernels._rows)
    widths = {"n": n, "nnz": nnz, "nn": n * n}
    for name, (arguments, code) in kernels._codes.items():
        if name not in _WIDTH_OF:
            continue
        text = function_text(f"symhess_{name}", arguments, code)
        body, _, rest = text.partition("\n}\n")
        parts.append(body + "\n}\n")
        declarations.update(line for line in rest.splitlines() if line.startswith("declare"))
        width = _WIDTH_OF[name]
        parts.append(_batch_text(name, arguments, n, m, widths[width] if width else 0))
        beside = kernels._beside(name, arguments, "symhess_")
        parts += [text for _, _, text in beside]
        if any(attribute == "_scatter" for attribute, _, _ in beside):
            parts.append(_batch_text(SCATTER, SCATTER_ARGUMENTS, n, m, n * n))
    return "\n".join([*parts, *sorted(declarations), ""])


def _batch_text(name: str, arguments: tuple[str, ...], n: int, m: int, width: int) -> str:
    """``void symhess_<name>_batch(X, P, V, O, R, start, stop, prows, c)``: for ``b`` in
    ``[start, stop)``, the kernel at ``X[b]`` with ``P[b % prows]`` (and ``V[b]``), writing the
    row ``O[b]`` (zeroed first for the dense Hessian) and its return value to ``R[b]``.

    The scatter (the dense Hessian from the values kernel, :data:`SCATTER_ARGUMENTS`) takes ``V``
    as its scratch row of values and ``R`` as its index table, and returns nothing."""
    ptr = POINTER
    scatter = name == SCATTER
    given = {"x": "%x", "p": "%p", "v": "%v", "c": "%c", "values": "%V", "at": "%at"}
    call = ", ".join(f"{INDEX_POINTER if argument == 'at' else ptr} {given.get(argument, '%o')}"
                     for argument in arguments)
    zero = name in ("hessian_full", SCATTER)
    row_p = (["  %pr = urem i64 %b, %prows", f"  %po = mul i64 %pr, {m}",
              f"  %p = getelementptr double, {ptr} %P, i64 %po"] if m else [f"  %p = getelementptr double, {ptr} %P, i64 0"])
    lines = [
        f"define void @symhess_{name}_batch({ptr} %X, {ptr} %P, {ptr} %V, {ptr} %O, {ptr} %R, i64 %start, "
        f"i64 %stop, i64 %prows, {ptr} %c) {{",
        "entry:",
        *([f"  %at = bitcast {ptr} %R to {INDEX_POINTER}"] if scatter else []),
        "  %any = icmp slt i64 %start, %stop",
        "  br i1 %any, label %loop, label %end",
        "loop:",
        "  %b = phi i64 [%start, %entry], [%next, %call]",
        f"  %xo = mul i64 %b, {n}",
        f"  %x = getelementptr double, {ptr} %X, i64 %xo",
        *row_p,
        f"  %v = getelementptr double, {ptr} %V, i64 %xo",
        f"  %oo = mul i64 %b, {width}",
        f"  %o = getelementptr double, {ptr} %O, i64 %oo",
        f"  br label %{'zhead' if zero else 'call'}",
    ]
    if zero:
        lines += [
            "zhead:",
            "  %k = phi i64 [0, %loop], [%k1, %zbody]",
            f"  %zmore = icmp slt i64 %k, {width}",
            "  br i1 %zmore, label %zbody, label %call",
            "zbody:",
            f"  %zp = getelementptr double, {ptr} %o, i64 %k",
            f"  store double {ZERO}, {ptr} %zp",
            "  %k1 = add i64 %k, 1",
            "  br label %zhead",
        ]
    lines += [
        "call:",
        f"  %r = call double @symhess_{name}({call})",
        *([] if scatter else [f"  %rp = getelementptr double, {ptr} %R, i64 %b", f"  store double %r, {ptr} %rp"]),
        "  %next = add i64 %b, 1",
        "  %more = icmp slt i64 %next, %stop",
        "  br i1 %more, label %loop, label %end",
        "end:",
        "  ret void",
        "}",
        "",
    ]
    return "\n".join(lines)


def machine_code(text: str, target: Target) -> bytes:
    """The relocatable object file of the IR ``text`` for ``target``, optimised as Numba's code is (O3)."""
    llvm = _llvm()
    with llvm_lock():
        module = llvm.parse_assembly(text)
        module.triple = target.triple
        module.verify()
        machine = llvm.Target.from_triple(target.triple).create_target_machine(
            cpu=target.cpu, features=target.features, opt=3, reloc="static", codemodel="jitdefault")
        module.data_layout = str(machine.target_data)
        tuning = llvm.create_pipeline_tuning_options(speed_level=3)
        builder = llvm.create_pass_builder(machine, tuning)
        builder.getModulePassManager().run(module, builder)
        return machine.emit_object(module)


_CODE: dict = LRU(64)  # (IR hash, target) -> object file: a function pickled again reuses its machine code
_COMPILED = {"from_source": 0}  # compilations of a loaded function's kernels from its source, in this process
_LOADED = {"count": 0}  # compiled functions loaded (or unpickled) in this process


def machine_codes(kernels: NativeKernels) -> list[tuple[Target, bytes]]:
    """Machine code of ``kernels`` for every target of :func:`targets` (kept in memory once made)."""
    text = module_text(kernels)
    digest = hashlib.sha256(text.encode()).hexdigest()
    result = []
    for target in targets():
        key = (digest, target)
        if key not in _CODE:
            _CODE[key] = machine_code(text, target)
        result.append((target, _CODE[key]))
    return result


def compilations() -> int:
    """How many loaded functions this process compiled from their source (their machine code
    could not run here)."""
    return _COMPILED["from_source"]


def loaded() -> int:
    """How many compiled functions this process loaded or unpickled."""
    return _LOADED["count"]


# ----- kernels from machine code ------------------------------------------------------------

_BATCH_ARGUMENTS = [ctypes.c_void_p] * 5 + [ctypes.c_int64] * 3 + [ctypes.c_void_p]
_SINGLE = threading.local()  # one thread per batch here (a Dask task: Dask runs the tasks in parallel)


@contextmanager
def one_thread():
    """Batches evaluated in the calling thread only (Dask's workers parallelise over blocks)."""
    before = getattr(_SINGLE, "on", False)
    _SINGLE.on = True
    try:
        yield
    finally:
        _SINGLE.on = before


def thread_count() -> int:
    """Threads for one batch: ``$SYMHESS_NUM_THREADS``, else ``$NUMBA_NUM_THREADS``, else the CPUs this
    process may use; 1 inside :func:`one_thread`."""
    if getattr(_SINGLE, "on", False):
        return 1
    for name in ("SYMHESS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        if os.environ.get(name, "").isdigit() and int(os.environ[name]) > 0:
            return int(os.environ[name])
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@functools.cache
def _pool() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(thread_count(), thread_name_prefix="symhess-batch")


MIN_POINTS_PER_THREAD = 256
"""Batches split across threads only when each thread gets at least this many points."""


class TravelKernels(NativeKernels):
    """A loaded function's kernels: the single-point ones as tier 0's (ctypes), and every batch
    kernel of the Numba module, run from machine code linked at load."""

    def link(self, code: bytes) -> TravelKernels:
        """Link the object file ``code`` (from :func:`machine_code`) and take its functions."""
        llvm = _llvm()
        with llvm_lock(first_tier=True):
            machine = llvm.Target.from_default_triple().create_target_machine(
                cpu=host_target().cpu, features=host_target().features, opt=0, reloc="static", codemodel="jitdefault")
            engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
            engine.add_object_file(llvm.ObjectFileRef.from_data(code))
            engine.finalize_object()
        self._engine = engine  # owns the machine code
        self._batches = {}
        for name, (arguments, _) in self._codes.items():
            if name not in _WIDTH_OF:
                continue
            point = ctypes.PYFUNCTYPE(ctypes.c_double, *[ctypes.c_void_p] * len(arguments))(
                engine.get_function_address(f"symhess_{name}"))
            self._functions[name] = (engine, point)
            # CFUNCTYPE: a batch releases the interpreter lock, so that threads run batches in parallel
            self._batches[name] = ctypes.CFUNCTYPE(None, *_BATCH_ARGUMENTS)(
                engine.get_function_address(f"symhess_{name}_batch"))
            for attribute, symbol, _ in self._beside(name, arguments, "symhess_"):
                address = engine.get_function_address(symbol)  # 0 in files saved before they existed
                setattr(self, attribute, ENTRY_TYPES[attribute](address) if address else None)
        scatter = engine.get_function_address(f"symhess_{SCATTER}_batch")  # 0 in files saved before it existed
        if scatter:
            self._batches[SCATTER] = ctypes.CFUNCTYPE(None, *_BATCH_ARGUMENTS)(scatter)
        return self

    def _function(self, name):
        raise RuntimeError(f"symhess: the loaded machine code has no kernel {name!r}")

    def __getattr__(self, name):  # never the Numba module: every kernel is here
        raise AttributeError(name)

    def _batch(self, name, X, P, V, out, values, scratch: int = 0) -> None:
        """The batch kernel ``name`` over every row of ``X``, split across threads when large;
        ``scratch``: each thread's range gets a row of that many doubles as ``V``."""
        function = self._batches[name]
        count = X.shape[0]
        prows = max(P.shape[0], 1)
        constants = self._constants.ctypes.data
        threads = max(min(thread_count(), count // MIN_POINTS_PER_THREAD), 1)
        rows = np.empty((threads, scratch)) if scratch else None
        bounds = np.linspace(0, count, threads + 1).astype(np.int64)
        jobs = []
        for k, (start, stop) in enumerate(itertools.pairwise(bounds.tolist())):
            addresses = [a.ctypes.data for a in (X, P, V if rows is None else rows[k], out, values)]
            if threads == 1:
                function(*addresses, start, stop, prows, constants)
                return
            jobs.append(_pool().submit(function, *addresses, start, stop, prows, constants))
        for job in jobs:
            job.result()

    def value_batch(self, X, P, _, values):
        X, P = _rows(X), _rows(P)
        self._batch("value", X, P, X, values, values)

    def gradient_batch(self, X, P, G, values):
        X, P = _rows(X), _rows(P)
        self._batch("gradient", X, P, X, G, values)

    def hessian_batch(self, X, P, H, values):
        X, P = _rows(X), _rows(P)
        self._batch("hessian", X, P, X, H, values)

    def hvp_batch(self, X, P, V, HV, values):
        X, P, V = _rows(X), _rows(P), _rows(V)
        self._batch("hvp", X, P, V, HV, values)

    def hessian_dense_batch(self, X, P):
        X, P = _rows(X), _rows(P)
        count, n = X.shape[0], self._n
        values = np.empty(count)
        if "hessian_full" in self._batches:
            out = np.empty((count, n, n))
            self._batch("hessian_full", X, P, X, out, values)
            return out
        if SCATTER in self._batches:  # each thread's range with a scratch row of values
            out = np.empty((count, n, n))
            self._batch(SCATTER, X, P, None, out, self._at, scratch=len(self._rows))
            return out
        entries = np.empty((count, len(self._rows)))  # machine code saved before the scatter's batch
        self._batch("hessian", X, P, X, entries, values)
        out = np.zeros((count, n * n))
        out[:, self._upper] = entries
        out[:, self._lower] = entries
        return out.reshape(count, n, n)


def _rows(array) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float64)


# ----- the file format ------------------------------------------------------------------------

def dumps(compiled) -> bytes:
    """``compiled`` as bytes: :data:`MAGIC`, the header's length, the header (JSON: every field,
    and the size and SHA-256 of each binary part), the header's SHA-256, then the binary parts."""
    trace, built, layout = compiled._trace, compiled._built, compiled._built.layout
    kernels = native_kernels(built.source, layout.n, layout.rows, layout.cols)
    kernels._m = layout.m
    parts: list[tuple[str, bytes]] = [("source", built.source.encode())]
    parts += [(name, np.asarray(values, dtype="<i8").tobytes())
              for name, values in (("rows", layout.rows), ("cols", layout.cols), ("fills", layout.fills))]
    parts.append(_expression(trace))
    values = np.asarray(compiled._data, dtype="<f8")  # the data it evaluates with (with_data's, if bound)
    for k, size in enumerate(np.cumsum([0, *(d.value.size for d in trace.data)]).tolist()[:-1]):
        parts.append((f"data/{k}", values[size:size + trace.data[k].value.size].tobytes()))
    codes = getattr(built.module, "carried", None) or machine_codes(kernels)  # loaded here: as it came
    for k, (_, code) in enumerate(codes):
        parts.append((f"code/{k}", code))
    header = {
        "format": FORMAT, "symhess": __version__,
        "names": list(trace.names), "shapes": [list(s) for s in trace.shapes], "lift": trace.lift,
        "data": [[d.name, list(d.value.shape)] for d in trace.data],
        "layout": {"n": layout.n, "m": layout.m, "source_key": layout.source_key, "simplify": layout.simplify,
                   "patterns": list(layout.patterns)},
        "output_shape": list(compiled._output_shape),
        "specs": [[s.name, list(s.shape), str(np.dtype(s.dtype))] for s in compiled._specs],
        "wrt": list(compiled.wrt), "single": compiled._single, "options": asdict(compiled._options),
        "timings": compiled._timings,
        "targets": [asdict(target) for target, _ in codes],
        "parts": [[name, len(data), hashlib.sha256(data).hexdigest()] for name, data in parts],
    }
    text = json.dumps(header).encode()
    return b"".join([MAGIC, _LENGTH.pack(len(text)), text, hashlib.sha256(text).hexdigest().encode(),
                     *(data for _, data in parts)])


@dataclass(frozen=True)
class LoadedTrace(Trace):
    """The trace of a loaded function: its expression is read from the saved bytes when first
    inspected (reading it took most of a load)."""

    shape: tuple = ()
    expression: tuple = ("expression", b"")  # (kind of the saved part, its bytes)

    @property
    def outputs(self):
        outputs = self.__dict__.get("_outputs")
        if outputs is None:
            kind, data = self.expression
            output = np.empty(self.shape, dtype=object)
            output[...] = load_basic(data) if kind == "expression" else se.sympify(data.decode())
            outputs = (output,)
            object.__setattr__(self, "_outputs", outputs)
        return outputs


def _expression(trace) -> tuple[str, bytes]:
    """The saved part of ``trace``'s expression: SymEngine's own serialisation (else SymPy's text)."""
    if isinstance(trace, LoadedTrace):
        return trace.expression
    expression = trace.output.reshape(-1)[0]
    try:
        return "expression", expression.__reduce__()[1][0]
    except (RuntimeError, TypeError, AttributeError, IndexError):  # a function SymEngine cannot serialise
        return "expression_text", str(expression._sympy_()).encode()


def _read(data: bytes, where: str) -> tuple[dict, dict]:
    """The header and the binary parts of ``data``, each checked against its hash."""
    fix = "save the function again with f.save(path) (or pickle it again)"
    if not data.startswith(MAGIC):
        raise LoadError(f"symhess.load: {where} is not a saved symhess compiled function (no {MAGIC[:-1].decode()!r} "
                        f"header); save one with f.save(path)")
    start = len(MAGIC) + _LENGTH.size
    if len(data) < start:
        raise LoadError(f"symhess.load: {where} is truncated; {fix}")
    (length,) = _LENGTH.unpack_from(data, len(MAGIC))
    text = data[start:start + length]
    digest = data[start + length:start + length + 64]
    if len(text) != length or hashlib.sha256(text).hexdigest().encode() != digest:
        raise LoadError(f"symhess.load: the header of {where} does not match its hash (truncated or corrupted); {fix}")
    header = json.loads(text)
    if header.get("format") != FORMAT:
        raise LoadError(f"symhess.load: {where} has format {header.get('format')!r}; this symhess "
                        f"({__version__}) reads format {FORMAT}: save it again with this version")
    parts, offset = {}, start + length + 64
    for name, size, expected in header["parts"]:
        part = data[offset:offset + size]
        offset += size
        if len(part) != size or hashlib.sha256(part).hexdigest() != expected:
            raise LoadError(f"symhess.load: the part {name!r} of {where} does not match its hash (truncated or "
                            f"corrupted); {fix}")
        parts[name] = part
    if offset != len(data):
        raise LoadError(f"symhess.load: {where} has {len(data) - offset} bytes after its last part; {fix}")
    return header, parts


def loads(data: bytes, where: str = "the pickled compiled function"):
    """The compiled function :func:`dumps` made, its machine code linked (or compiled from its
    source when this CPU cannot run any of it, with a :class:`TravelWarning`)."""
    from .compiled import Compiled, InputSpec
    from .pipeline import Built, Layout, Options, restored_module

    header, parts = _read(bytes(data), where)
    source = parts["source"].decode()
    fields = header["layout"]
    rows, cols, fills = (np.frombuffer(parts[name], dtype="<i8").astype(np.int64) for name in ("rows", "cols", "fills"))
    layout = Layout(int(fields["n"]), int(fields["m"]), rows, cols, str(fields["source_key"]), str(fields["simplify"]),
                    tuple(dict(p) for p in fields["patterns"]), tuple(fills.tolist()))
    if f"\nN = {layout.n}\nNNZ = {len(layout.rows)}\n" not in source:
        raise LoadError(f"symhess.load: the source in {where} does not match its layout")
    names, shapes = tuple(header["names"]), tuple(tuple(s) for s in header["shapes"])
    symbols = tuple(placeholders(name, shape) for name, shape in zip(names, shapes))
    shape = tuple(header["output_shape"])
    expression = ("expression", parts["expression"]) if "expression" in parts else \
        ("expression_text", parts["expression_text"])
    data = tuple(Datum(name, placeholders(name, tuple(shape)),
                       np.frombuffer(parts[f"data/{k}"], dtype="<f8").reshape(shape).astype(np.float64))
                 for k, (name, shape) in enumerate(header["data"]))
    unread = np.full(shape, None, dtype=object)  # Compiled reads only its shape; inspection reads the expression
    trace = Trace(names, shapes, symbols, (unread,), False, (), data, header["lift"])
    options = Options(**header["options"])
    kernels = native_kernels(source, layout.n, layout.rows, layout.cols, kind=TravelKernels)
    kernels._m = layout.m
    carried = [(Target(t["triple"], t["cpu"], t["features"], tuple(t["required"])), parts[f"code/{k}"])
               for k, t in enumerate(header["targets"])]
    target, code = _runnable_code(carried, kernels, where)
    if all(code is not c for _, c in carried):  # compiled here: this CPU's code travels on too
        carried.insert(0, (target, code))
    kernels.link(code)

    def numba_module():
        return restored_module(source, layout, options).module()

    tiers = Tiers(kernels, numba_module, lazy=True)
    tiers.carried = carried  # pickled again (to the next worker) with the machine code it came with
    tiers.target = target    # the one linked here
    _LOADED["count"] += 1
    built = Built(tiers, layout, source)
    specs = tuple(InputSpec(name, tuple(shape), np.dtype(dtype)) for name, shape, dtype in header["specs"])
    compiled = Compiled(trace, built, specs, tuple(header["wrt"]), header["single"], options, dict(header["timings"]))
    compiled._trace = LoadedTrace(names, shapes, symbols, (unread,), False, (), data, header["lift"], shape, expression)
    return compiled


def _runnable_code(carried: list, kernels: NativeKernels, where: str) -> tuple[Target, bytes]:
    """The first carried target this CPU can run and its object file; else the kernels compiled
    from the source for this CPU (one warning)."""
    reasons = []
    for target, code in carried:
        reason = runnable(target)
        if reason is None:
            return target, code
        reasons.append(f"{target.cpu} ({reason})")
    start = time.perf_counter()
    code = machine_code(module_text(kernels), host_target())
    _COMPILED["from_source"] += 1
    warnings.warn(f"symhess: the machine code in {where} cannot run on this CPU ({host_target().cpu}): "
                  f"{'; '.join(reasons) or 'none carried'}. Its kernels were compiled from its source for this CPU "
                  f"instead ({time.perf_counter() - start:.2f} s); save it on this machine (f.save) to carry "
                  "this CPU's code too.", TravelWarning, stacklevel=3)
    return host_target(), code


def save(compiled, path) -> Path:
    """Write ``compiled`` to ``path`` (atomically: a new file moved into place)."""
    path = Path(path)
    data = dumps(compiled)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    return path


def load(path):
    """A compiled function saved by ``f.save(path)``, ready to evaluate without compiling.

    Its machine code is linked when this CPU runs it (the saving host's, or a portable baseline);
    otherwise its kernels are compiled from the saved source, with a :class:`TravelWarning`.
    A damaged file raises :class:`LoadError`.  Load only files you trust: they hold machine code.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"symhess.load: no file {path}; save a compiled function there with "
                                "f.save(path)") from None
    return loads(data, str(path))


def restore(data: bytes):
    """Unpickle (what ``Compiled.__reduce__`` names)."""
    return loads(data)
