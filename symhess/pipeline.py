"""The pipeline: trace → differentiate → simplify → generate → JIT, with the disk cache.

A compiled pipeline is keyed by the traced expression (plus shapes, ``wrt`` and
options): a new process that traces the same function finds the generated module
and its metadata on disk and skips every symbolic stage; Numba then loads its
machine code from its own cache.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import symengine as se
from numba import types

from . import compile_process, progress
from .cache import (
    CacheError,
    cache_dir,
    discarded,
    numba_files,
    private_dir,
    read_verified,
    redirected,
    seal,
    unsealed,
    write_once,
)
from .cache import digest as cache_digest
from .codegen import generate, native
from .differentiate import differentiate, with_sums
from .expressions import exact_text
from .jit import gentle, initialise_numba, load, module_path, refresh_numba, source_key
from .loops import sum_groups
from .lru import LRU
from .native import Tiers, llvm_lock, native_kernels, saved_in
from .simplify import resolve_mode, simplify
from .tracing import Trace
from .version import __version__


@dataclass(frozen=True)
class Options:
    """How to compile.

    simplify: ``"auto"`` (neatest form for small functions, fast for large), ``"none"``,
        ``"fast"`` or ``"full"`` (SymPy's simplify under ``simplify_budget`` seconds).
    cache: keep generated code and Numba machine code on disk for the next process.
    """

    simplify: str = "auto"
    cache: bool = True
    simplify_budget: float = 5.0
    eager_jit: bool = True  # compile every kernel now; the drop-in API compiles on first use
    tier_up: str = "numba"  # "native": tier 0 gives way to LLVM's optimised machine code (no Numba module)


@dataclass(frozen=True)
class Layout:
    """How flat kernel arrays map to inputs and Hessian entries."""

    n: int                 # number of differentiated scalars
    m: int                 # number of parameter scalars
    rows: np.ndarray       # Hessian upper-triangle row of each value
    cols: np.ndarray
    source_key: str
    simplify: str          # the simplification mode actually used
    patterns: tuple = ()   # repeated terms differentiated once: a dict each (see pattern_summary)
    fills: tuple = ()      # per Hessian value, the repeated term writing it (k + 1), 0 for the other terms


@dataclass
class Built:
    module: object
    layout: Layout
    source: str
    stats: dict = field(default_factory=dict)
    derivatives: object = None  # set when the symbolic stages ran in this process


_MEMORY: dict[str, Built] = LRU(64)  # trace key -> compiled kernels; least recently used dropped


def split_variables(trace: Trace, wrt: tuple[int, ...]):
    variables = [s for i in wrt for s in trace.symbols[i].reshape(-1)]
    parameters = [s for i in range(len(trace.symbols)) if i not in wrt
                  for s in trace.symbols[i].reshape(-1)]
    return variables, parameters + [s for symbols in trace.data_symbols for s in symbols.reshape(-1)]


@functools.cache
def package_fingerprint() -> str:
    """Hash of symhess's own sources: any change to the generators invalidates the cache."""
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def trace_key(trace: Trace, wrt, options: Options) -> str:
    data = [datum.value.shape for datum in trace.data]
    text = "\n".join([package_fingerprint(), repr(trace.shapes), repr(trace.names), repr(data), repr(tuple(wrt)),
                      options.simplify, repr(options.simplify_budget),
                      repr(trace.output.shape), exact_text(trace.output.reshape(-1)[0])])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def build(trace: Trace, wrt: tuple[int, ...], options: Options, timings: dict, verify=None) -> Built:
    """Compiled kernels for ``trace``'s (single-element) output, from memory, disk or scratch;
    ``verify()`` (the determinism check, a second trace) runs before compiling from scratch."""
    start = time.perf_counter()
    key = trace_key(trace, wrt, options)
    timings["cache_lookup"] = time.perf_counter() - start
    remembered = key if options.tier_up == "numba" else f"{key}.{options.tier_up}"  # tiers of either kind
    if remembered in _MEMORY:
        return _MEMORY[remembered]
    built = _from_disk(key, options.eager_jit, options.tier_up) if options.cache else None
    if built is None:
        if verify is not None:
            start = time.perf_counter()
            verify()
            timings["trace"] += time.perf_counter() - start
        with collection_paused(), progress.compiling():
            built = _from_scratch(trace, wrt, options, timings)
        if options.cache:
            _to_disk(key, built)
    _MEMORY[remembered] = built
    return built


def derive(trace: Trace, wrt, options: Options, timings: dict, structured: bool = False):
    """The symbolic stages: differentiate and simplify.

    ``structured``: a value that sums many copies of one formula at shifted indices is
    differentiated once per formula (the copies become loops, see :mod:`symhess.loops`);
    the other terms as usual.  Code generation uses this; inspection wants every entry.
    """
    variables, parameters = split_variables(trace, wrt)
    value = trace.output.reshape(-1)[0]
    start = time.perf_counter()
    progress.stage("repeated terms")
    groups, rest = _sum_groups(value, variables, parameters) if structured else ([], value)
    timings["patterns"] = time.perf_counter() - start
    start = time.perf_counter()
    progress.stage("differentiate")
    require_tractable(rest, variables)
    derivs = differentiate(rest, variables, parameters)
    timings["differentiate"] = time.perf_counter() - start
    start = time.perf_counter()
    progress.stage("simplify")
    derivs, mode = simplify(derivs, options.simplify, options.simplify_budget)
    timings["simplify"] = time.perf_counter() - start
    if groups:
        start = time.perf_counter()
        progress.stage("differentiate repeated terms")
        derivs = with_sums(derivs, groups)
        timings["differentiate"] += time.perf_counter() - start
    return derivs, mode


HESSIAN_ENTRIES = 1_000_000
"""More Hessian entries than this, outside repeated terms, are refused (they would take hours)."""


def require_tractable(value, variables) -> None:
    """Refuse, with the estimate and the ways out, a function whose Hessian outside its repeated
    terms would have more than :data:`HESSIAN_ENTRIES` entries, each a symbolic expression."""
    wanted = set(variables)
    pairs = 0
    for term in (value.args if isinstance(value, se.Add) else (value,)):
        count = len(term.free_symbols & wanted)
        pairs += count * (count + 1) // 2
    pairs = min(pairs, len(variables) * (len(variables) + 1) // 2)
    if pairs > HESSIAN_ENTRIES:
        raise ValueError(
            f"symhess cannot compile this Hessian: about {pairs:,} entries of the upper triangle (of "
            f"{len(variables)} variables) would each be a symbolic expression, more than {HESSIAN_ENTRIES:,}; "
            "symhess compiles repeated terms of a sum (data rows, pairs, elements) once, but this "
            "function's terms are not copies of one formula.\n  ways out: differentiate fewer inputs "
            "(wrt=...: the others become runtime parameters), write the function as a sum of one "
            "formula over rows or pairs, or use a tool of automatic differentiation for its "
            "Hessian-vector products")


@contextmanager
def collection_paused():
    """Python's cyclic garbage collector paused.  The symbolic stages make many objects that
    survive, which sets off full collections over every object in the process (a quarter of
    Rosenbrock n = 100's cold compile); what they leave behind is freed by reference counting."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _sum_groups(value, variables, parameters):
    positions = {s: ("x", k) for k, s in enumerate(variables)}
    positions.update({s: ("p", k) for k, s in enumerate(parameters)})
    memo: dict = {}
    return sum_groups(value, positions, lambda expr: native(expr, memo))


def _from_scratch(trace, wrt, options, timings) -> Built:
    # "auto" on a small problem means SymPy's simplify for the expressions people read; the code
    # does not need it (it costs up to a second for ~100 entries), so inspection derives them later
    code_options = replace(options, simplify="fast") if options.simplify == "auto" else options
    derivs, mode = derive(trace, wrt, code_options, timings, structured=True)
    shown = not derivs.sums and (options.simplify != "auto" or resolve_mode("auto", derivs) == "fast")
    start = time.perf_counter()
    progress.stage("generate")
    source = generate(derivs)
    timings["generate"] = time.perf_counter() - start
    start = time.perf_counter()
    progress.stage("jit")
    directory = cache_dir() if options.cache else _scratch_dir()
    layout = Layout(len(derivs.variables), len(derivs.parameters), derivs.rows, derivs.cols,
                    source_key(source), mode, tuple(pattern_summary(part) for part in derivs.sums),
                    pattern_fills(derivs))
    module = _tiers(source, directory, layout, timings, options.cache, options.tier_up) if options.eager_jit \
        else load(source, directory)
    timings["jit"] = time.perf_counter() - start
    return Built(module, layout, source, derivatives=derivs if shown else None)  # else inspection derives again


def pattern_summary(part) -> dict:
    """What ``f.stats["patterns"]`` shows of one repeated term: its formula (variables ``u0, u1, ...``
    and data ``d0, d1, ...`` of one copy), how many of each, the local variables it was
    differentiated in, its local Hessian's non-zeros and the number of copies."""
    group = part.group
    names, counts = {}, {"x": 0, "data": 0}
    for slot, array in zip(group.slots, group.arrays):
        kind = "x" if array == "x" else "data"
        names[slot] = se.Symbol(f"{'u' if kind == 'x' else 'd'}{counts[kind]}")
        counts[kind] += 1
    formula = str(group.template.xreplace(names))
    return {"formula": formula if len(formula) <= 300 else formula[:297] + "...", "variables": counts["x"],
            "data": counts["data"], "locals": part.locals or counts["x"],
            "hessian_entries": len(part.hessian) + sum(len(placed) for _, placed in part.blocks),
            "instances": group.count}


def pattern_fills(derivs) -> tuple:
    """For each upper-triangle Hessian value, which repeated term writes it (``k + 1``; 0: other terms)."""
    if not derivs.sums:
        return ()
    fills = np.zeros(len(derivs.hessian), dtype=np.int64)
    for k, part in enumerate(derivs.sums):
        for positions in [p for *_, p in part.hessian] + [p for _, p in part.blocks]:
            fills[list(positions)] = k + 1
    return tuple(fills.tolist())


def _tiers(source: str, directory, layout: Layout, timings: dict, keep: bool, tier_up: str = "numba"):
    """Kernels compiled by LLVM alone now (tier 0); Numba's module compiled by a separate process
    (:mod:`symhess.compile_process`) and loaded from Numba's cache by a background thread;
    ``keep``: tier 0's machine code is kept beside the module (and loaded from there).
    ``tier_up="native"``: tier 0 gives way to LLVM's optimised machine code instead (:func:`_optimised`)."""
    path = write_once(module_path(layout.source_key, directory), source)  # before the metadata points to it
    saved = saved_in(directory, layout.source_key) if keep else None
    if tier_up == "native":
        return Tiers(native_kernels(source, layout.n, layout.rows, layout.cols, saved).prepare(),
                     lambda: _optimised(source, path, layout, timings))
    entries = 4 if "\ndef hessian_into(" in source else 5
    native = native_kernels(source, layout.n, layout.rows, layout.cols, saved).prepare()

    def numba_module():
        start = time.perf_counter()
        cached = _numba_cached(path, entries)
        optimised = _ask_optimised(path, layout, ask=not cached)  # before Numba's kernels: the child answers it first
        request = None if cached else compile_process.SERVER.submit(path, layout.source_key)
        linked = _linked_optimised(source, path, layout, *optimised)
        if linked is not None:
            native.adopt(linked)  # tier 0's calls run LLVM's optimised code until Numba's kernels are loaded
        if request is not None and not request.wait():
            if compile_process.SERVER.exiting:
                raise RuntimeError("symhess: the interpreter exited before Numba compiled the kernels")
            last = (request.error.strip().splitlines() or ["no reason given"])[-1]
            warnings.warn(f"symhess: the separate process compiling the Numba kernels of {path.name} failed "
                          f"({last}); compiling them in this process instead (tier 0 serves the calls "
                          "meanwhile, more slowly)", RuntimeWarning, stacklevel=1)
        with gentle():  # calls on tier 0 meanwhile wait for the interpreter lock at most ~50 us
            initialise_numba()
            refresh_numba()
            with llvm_lock():
                module = load(source, directory)  # the file checked again (replaced if it changed meanwhile)
            compile_kernels(module, layout)  # from Numba's cache, kernel by kernel (compiled here if missing)
            with contextlib.suppress(Exception):  # a warm-up only: the calls that matter raise what it met
                warm_kernels(module, layout)
        timings["numba_jit"] = time.perf_counter() - start
        return module

    return Tiers(native, numba_module)


def _optimised(source: str, path, layout: Layout, timings: dict):
    """Every kernel optimised by LLVM (O3, as Numba's), compiled by the separate process into a
    sealed object file beside the module, and linked here by the background thread.

    The drop-in API's tier-up: loading a Numba module holds the interpreter lock for milliseconds
    at a time (a call of a Newton loop that met it took 4 to 60 ms, 80 to 1000 times a call);
    linking an object file is a few calls into LLVM.  Compiled in this process instead, LLVM
    would still be optimising in the background when the interpreter exits, which crashes it."""
    from .travel import TravelKernels, host_target, machine_code, module_text

    start = time.perf_counter()
    code, request = _ask_optimised(path, layout)
    kernels = _linked_optimised(source, path, layout, code, request)
    if kernels is None:
        if compile_process.SERVER.exiting:
            raise RuntimeError("symhess: the interpreter exited before LLVM optimised the kernels")
        warnings.warn(f"symhess: the separate process optimising the kernels of {path.name} failed "
                      f"({(request.error.strip().splitlines() or ['no reason given'])[-1]}); optimising "
                      "them in this process instead", RuntimeWarning, stacklevel=1)
        kernels = native_kernels(source, layout.n, layout.rows, layout.cols, kind=TravelKernels)
        kernels._m = layout.m  # the batch loops' parameter rows
        with gentle():
            kernels.link(machine_code(module_text(kernels), host_target()))
    timings["numba_jit"] = time.perf_counter() - start
    return kernels


def _ask_optimised(path, layout: Layout, ask: bool = True):
    """``(object file, None)`` when LLVM's optimised machine code of the module ``path`` is in the
    cache, else ``(None, the separate process's request for it)`` (``(None, None)`` unless ``ask``)."""
    where = optimised_path(path)
    code = unsealed(where)
    if code is not None or not ask:
        return code, None
    return None, compile_process.SERVER.submit(path, layout.source_key, (layout.n, layout.m, len(layout.rows), where))


def _linked_optimised(source: str, path, layout: Layout, code, request):
    """The kernels of the object file ``code`` (or of the one ``request`` makes), linked; None without one."""
    from .travel import TravelKernels

    if code is None and request is not None and request.wait():
        code = unsealed(optimised_path(path))
    if code is None:
        return None
    kernels = native_kernels(source, layout.n, layout.rows, layout.cols, kind=TravelKernels)
    kernels._m = layout.m  # the batch loops' parameter rows
    with gentle():
        return kernels.link(code)


def optimised_path(module):
    """Where the separate process puts the optimised object file of ``module``'s kernels (this CPU's)."""
    from .travel import host_target

    return redirected(module).with_name(f"{module.stem}.optimised.{host_target().cpu}.sealed.o")


def write_machine_code(path, key: str, n: int, m: int, nnz: int, where) -> None:
    """In the separate process: the kernels of the module ``path`` (checked against its hash ``key``,
    ``n`` variables, ``m`` parameters, ``nnz`` Hessian values) optimised by LLVM, sealed into ``where``."""
    from .travel import TravelKernels, host_target, machine_code, module_text

    source = path.read_text(encoding="utf-8")
    if source_key(source) != key:
        raise ValueError(f"the module {path} does not match its hash {key}")
    positions = np.zeros(nnz, dtype=np.int64)  # the batch loops need only how many values there are
    kernels = native_kernels(source, n, positions, positions, kind=TravelKernels)
    kernels._m = m
    write_once(where, seal(where, machine_code(module_text(kernels), host_target())))


def restored_module(source: str, layout: Layout, options: Options):
    """The kernels of a pickled compiled function: tier 0 at once, Numba's from the separate
    process or its cache (as a compile), in the cache directory or, ``cache=False``, the private one."""
    directory = cache_dir() if options.cache else _scratch_dir()
    layout = replace(layout, source_key=source_key(source))  # the name the module is checked against
    return _tiers(source, directory, layout, {}, keep=options.cache)


def _numba_cached(path, entries: int) -> bool:
    """Whether Numba's cache holds an index for each of the module's ``entries`` entry kernels
    (then they load without the separate process)."""
    return len(list((path.parent / "__pycache__").glob(f"{path.stem}.*.sealed.nbi"))) >= entries


def _point_signatures():
    vector = types.float64[::1]  # other inputs are made contiguous (and writeable) before the call
    return (vector, types.float64[:, ::1]), (vector, vector, vector)


POINT_SIGNATURES = _point_signatures()
"""Signatures of the entries ``hessian_into(x, out)`` and ``hvp_into(x, v, out)``."""


def compile_kernels(module, layout: Layout | None = None) -> None:
    """JIT every single-point kernel now, by signature (nothing runs: no n² Hessian is allocated).

    A process that later finds this module in the cache skips this: Numba then loads
    each kernel's machine code from its own cache when the kernel is first called.
    """
    vector = types.float64[::1]
    if hasattr(module, "hessian_into"):  # no parameters: these entries serve every path
        entries = ((module.value, (vector,) * 2), (module.gradient, (vector,) * 3),
                   (module.hessian_into, POINT_SIGNATURES[0]), (module.hvp_into, POINT_SIGNATURES[1]))
    else:
        entries = ((module.value, (vector,) * 2), (module.gradient, (vector,) * 3), (module.hessian, (vector,) * 3),
                   (module.hvp, (vector,) * 4), (module.hessian_dense, (vector,) * 2))
    for kernel, signature in entries:
        with llvm_lock():
            kernel.compile(signature)


WARM_DENSE_MAX = 1_000_000
"""Dense Hessians of at most this many entries are formed once when the Numba kernels load."""


def warm_kernels(module, layout: Layout) -> None:
    """Call every single-point kernel once, at zero (numbers discarded), in the background thread
    that loaded them: a Numba kernel's first call costs about 0.2 ms more than its next ones,
    which the first call after the tiers switch paid (30 times a logistic Hessian's 6 us)."""
    n, m = layout.n, layout.m
    x, p, v = np.zeros(n), np.zeros(m), np.zeros(n)
    with np.errstate(all="ignore"):
        module.value(x, p)
        module.gradient(x, p, np.empty(n))
        if hasattr(module, "hessian_into"):
            module.hvp_into(x, v, np.empty(n))
            if n * n <= WARM_DENSE_MAX:
                module.hessian_into(x, np.zeros((n, n)))
            return
        module.hvp(x, p, v, np.empty(n))
        module.hessian(x, p, np.empty(len(layout.rows)))
        if n * n <= WARM_DENSE_MAX:
            module.hessian_dense(x, p)


def _scratch_dir():
    """``cache=False``: a directory made for this process (mode 0700), removed when it exits."""
    return private_dir()


def _metadata_path(key: str):
    return cache_dir() / f"symhess_{key}.json"


_FIELDS = ("n", "m", "rows", "cols", "source_key", "simplify", "patterns", "fills")


def _fields_hash(key: str, meta: dict) -> str:
    """The hash that binds an entry's metadata to its fields and to its trace key (its name)."""
    return cache_digest(key.encode(), json.dumps([meta.get(name) for name in _FIELDS]).encode())


def _to_disk(key: str, built: Built) -> None:
    layout = built.layout
    meta = {"n": layout.n, "m": layout.m, "rows": layout.rows.tolist(), "cols": layout.cols.tolist(),
            "source_key": layout.source_key, "simplify": layout.simplify, "patterns": list(layout.patterns),
            "fills": list(layout.fills)}
    meta["sha256"] = _fields_hash(key, meta)
    write_once(_metadata_path(key), json.dumps(meta))


def _from_disk(key: str, eager_jit: bool = True, tier_up: str = "numba") -> Built | None:
    """The entry ``key`` if its metadata and module pass their checks; a damaged entry is discarded
    (one warning) and None returned, so that it is built again."""
    path = _metadata_path(key)
    broken = [path]
    try:
        meta = json.loads(read_verified(path, lambda text: True))
        if not isinstance(meta, dict) or meta.get("sha256") != _fields_hash(key, meta):
            raise CacheError(f"{path} does not match its hash (edited or damaged)")
        layout = Layout(int(meta["n"]), int(meta["m"]), np.array(meta["rows"], dtype=np.int64),
                        np.array(meta["cols"], dtype=np.int64), str(meta["source_key"]), str(meta["simplify"]),
                        tuple(dict(p) for p in meta.get("patterns", ())), tuple(meta.get("fills", ())))
        source_path = module_path(layout.source_key, path.parent)
        broken += [source_path, *numba_files(source_path)]
        expected = f"\nN = {layout.n}\nNNZ = {len(layout.rows)}\n"
        source = read_verified(source_path, lambda text: source_key(text) == layout.source_key and expected in text)
    except CacheError as fault:
        if not path.exists() and len(broken) == 1:
            return None  # no entry: not a fault
        discarded(f"the cache entry {path.name} is damaged: {fault}", *broken)
        return None
    except (ValueError, KeyError, TypeError) as error:  # hash-checked: only a forged entry gets here
        discarded(f"the cache entry {path.name} is damaged: {error!r}", path)
        return None
    # tier 0 from its saved machine code, and Numba's module (from its cache) in the background
    module = _tiers(source, source_path.parent, layout, {}, True, tier_up) if eager_jit \
        else load(source, source_path.parent)
    return Built(module, layout, source)
