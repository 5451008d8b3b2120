"""Stage 5, tier 0: the same kernels compiled by LLVM alone, ready in milliseconds.

Numba's first compilation in a process costs about a second (setting up its typing and
its target) before any of our code is compiled.  The kernels are already LLVM IR
(:mod:`symhess.llvm`), so here they go straight to LLVM's MCJIT through llvmlite and are
called through ctypes: a few microseconds more per call, but ready at once.  A compiled
function starts on these and moves to the Numba kernels when a background thread has
compiled them (:class:`Tiers`); what tier 0 lacks (batches) waits for Numba.
"""

from __future__ import annotations

import ctypes
import functools
import re
import sys
import threading
import time
from contextlib import contextmanager

import llvmlite.binding as llvm
import numpy as np

from .cache import redirected, seal, unsealed, write_once
from .jit import fast_code_generation
from .llvm import NAN, POINTER, ZERO, function_text, module_kernels

_REPEATED = re.compile(r"^REPEATED_TERMS = (\d+)", re.M)
_FLOAT64 = np.dtype(np.float64)
_NO_PARAMETERS = np.zeros(0)


_LLVM = threading.RLock()
_FIRST_TIER = threading.Lock()  # guards the count of tier-0 compilations waiting or running
_first_tier_count = [0]
_HELD = threading.local()  # how deep this thread is inside llvm_lock


def _count_first_tier(change: int) -> None:
    with _FIRST_TIER:
        _first_tier_count[0] += change


@contextmanager
def llvm_lock(first_tier: bool = False):
    """LLVM's global context is not thread-safe and Numba shares it: one compilation at a time.

    ``first_tier``: a tier-0 compilation, which someone is waiting for; the background
    compilations of Numba's kernels let it go first (they take the lock kernel by kernel).
    """
    held = getattr(_HELD, "depth", 0)  # re-entered by a thread that holds it: never wait
    if first_tier:
        _count_first_tier(+1)
    elif not held:
        while _first_tier_count[0]:
            time.sleep(0.001)
    try:
        with _LLVM:
            _HELD.depth = held + 1
            try:
                numba_lock = sys.modules.get("numba.core.compiler_lock")
                if numba_lock is None:
                    yield
                else:
                    with numba_lock.global_compiler_lock:
                        yield
            finally:
                _HELD.depth = held
    finally:
        if first_tier:
            _count_first_tier(-1)


@functools.cache
def _host():
    """(cpu name, cpu features) for the target machines, LLVM initialised once."""
    with llvm_lock():
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def _target_machine():
    """A new target machine: each execution engine owns (and frees) its own."""
    cpu, features = _host()
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=cpu, features=features, opt=0, reloc="static", codemodel="jitdefault")


def native_kernels(source: str, n: int, rows, cols, saved=None, kind=None) -> NativeKernels:
    """Tier 0 for a generated module ``source``: each kernel is compiled by LLVM when first called.

    ``saved(name)``: where that kernel's machine code is kept (loaded from there if present), or None;
    ``kind``: a subclass of :class:`NativeKernels` to make (:mod:`symhess.travel`'s links machine code).
    """
    codes, constants = module_kernels(source)
    return (kind or NativeKernels)(codes, constants, n, np.asarray(rows), np.asarray(cols),
                         int(_REPEATED.search(source).group(1)), "def hessian_into(" in source, saved)


def saved_in(directory, source_key: str):
    """``name -> file`` for the machine code of a module's kernels in ``directory``: one file per CPU model.

    Each file holds the hash of its machine code and of its name (:func:`cache.seal`), and is
    linked only when they match: a damaged file is compiled again from the module's source,
    which is itself checked against its hash before it gets here."""
    return lambda name: directory / f"symhess_{source_key}.{name}.{_host()[0]}.sealed.o"  # sealed: see cache.seal


SCATTER = "hessian_scatter"
"""The entry that writes the Hessian's upper-triangle values into both triangles of a dense matrix."""
SCATTER_ARGUMENTS = ("x", "p", "H", "values", "at", "c")
"""The arguments of :func:`scatter_text`'s function, in order."""

INDEX_POINTER = POINTER.replace("double", "i64")  # "i64*", or "ptr" as POINTER


def scatter_text(symbol: str, hessian: str, arguments: tuple[str, ...], nnz: int) -> str:
    """LLVM IR of ``double symbol(x, p, H, values, at, c)``: the kernel ``hessian`` (of ``arguments``,
    writing ``h``) into ``values``, then value ``k`` to ``H[at[k]]`` and ``H[at[nnz + k]]``.

    What the generated module's ``hessian_into`` does in compiled code; in Python (``np.empty``,
    then two fancy-index assignments) it cost more than the kernel for a 13-atom cluster."""
    given = {"h": "%values"}
    call = ", ".join(f"{POINTER} {given.get(argument, '%' + argument)}" for argument in arguments)
    ptr, index = POINTER, INDEX_POINTER
    return "\n".join([
        f"define double @{symbol}({ptr} noalias %x, {ptr} noalias %p, {ptr} noalias %H, {ptr} noalias %values, "
        f"{index} noalias %at, {ptr} noalias %c) {{",
        "entry:",
        f"  %unused = call double @{hessian}({call})",
        "  br label %head",
        "head:",
        "  %k = phi i64 [0, %entry], [%k1, %body]",
        f"  %more = icmp slt i64 %k, {nnz}",
        "  br i1 %more, label %body, label %end",
        "body:",
        f"  %vp = getelementptr double, {ptr} %values, i64 %k",
        f"  %v = load double, {ptr} %vp",
        f"  %up = getelementptr i64, {index} %at, i64 %k",
        f"  %u = load i64, {index} %up",
        f"  %kl = add i64 %k, {nnz}",
        f"  %lp = getelementptr i64, {index} %at, i64 %kl",
        f"  %l = load i64, {index} %lp",
        f"  %hu = getelementptr double, {ptr} %H, i64 %u",
        f"  store double %v, {ptr} %hu",
        f"  %hl = getelementptr double, {ptr} %H, i64 %l",
        f"  store double %v, {ptr} %hl",
        "  %k1 = add i64 %k, 1",
        "  br label %head",
        "end:",
        f"  ret double {ZERO}",
        "}",
        "",
    ])


ENTRY_TYPES = {"_scatter": ctypes.PYFUNCTYPE(ctypes.c_double, *[ctypes.c_void_p] * 6),
               "_entry": ctypes.PYFUNCTYPE(ctypes.c_double, *[ctypes.c_void_p] * 7)}
"""The ctypes types of :data:`SCATTER`, and of :data:`ENTRY` and :data:`HVP_ENTRY` (``_hvp_entry``), by
the attribute that holds them; they keep the interpreter lock, as the kernels."""
ENTRY_TYPES["_hvp_entry"] = ENTRY_TYPES["_entry"]

ENTRY = "hessian_entry"
"""The compiled ``hessian_into(x, out)``: it checks ``x`` itself, as Numba's dispatcher does in C."""

HVP_ENTRY = "hvp_entry"
"""The compiled ``hvp_into(x, v, out)``, as :data:`ENTRY`."""

_FLAGS = 0x501  # NPY_ARRAY_CARRAY: C-contiguous, aligned, writeable


def _array_layout() -> np.ndarray | None:
    """Where an ndarray object keeps its type, data, dimension count, dimensions, dtype and flags
    (NumPy's ``PyArrayObject_fields``, after the object's header), with the addresses of the ndarray
    type and of float64's dtype: what :func:`entry_text`'s code reads.  Checked on arrays of several
    kinds (None if anything differs: the entries then check in Python)."""
    header = object.__basicsize__
    at = {"type": header - ctypes.sizeof(ctypes.c_void_p), "data": header, "nd": header + 8, "dims": header + 16,
          "descr": header + 40, "flags": header + 48}

    def read(array, field, kind=ctypes.c_int64):
        return kind.from_address(id(array) + at[field]).value

    read_only = np.zeros(2)
    read_only.flags.writeable = False
    samples = [np.zeros(3), np.zeros((2, 3)), np.zeros(6)[::2], read_only, np.zeros(0, dtype=np.float32)]
    try:
        for array in samples:
            if (read(array, "type") != id(type(array)) or read(array, "data") != array.ctypes.data
                    or read(array, "nd", ctypes.c_int32) != array.ndim or read(array, "descr") != id(array.dtype)
                    or ctypes.c_int64.from_address(read(array, "dims")).value != array.shape[0]
                    or ((read(array, "flags", ctypes.c_int32) & _FLAGS) == _FLAGS) != array.flags.carray):
                return None
    except (ValueError, OSError, OverflowError):
        return None
    return np.array([at["type"], id(np.ndarray), at["data"], at["nd"], at["dims"], at["descr"], id(_FLOAT64),
                     at["flags"]], dtype=np.int64)


_LAYOUT = _array_layout()
_LAYOUT_ADDRESS = _LAYOUT.ctypes.data if _LAYOUT is not None else 0


def entry_text(symbol: str, target: str, arguments: tuple[str, ...] | None, n: int) -> str:
    """LLVM IR of ``double symbol(x, v, out, values, at, c, layout)`` taking the addresses of the array
    objects ``x``, ``v`` (the hvp's direction, else unused), ``out`` (the hvp, or the zeroed n x n
    Hessian) and ``values`` (scratch of the Hessian's values, for the scatter entry): the value of the
    kernel ``target`` of ``arguments`` (the scatter entry, :func:`scatter_text`, when None), or NaN
    without calling it when ``x`` (and ``v``) is not a contiguous, writeable float64 ndarray of one
    dimension and length ``n`` with float64's own dtype object: the caller then checks in Python
    (and a NaN the kernel returns is computed again there).  ``layout``: :data:`_LAYOUT`.

    A call through ctypes with the arrays' addresses made in Python cost three times Numba's
    dispatcher; the objects' addresses are Python's ``id``, and the checks here cost nanoseconds."""
    word, half = INDEX_POINTER, POINTER.replace("double", "i32")
    vectors = ("x", "v") if arguments is not None and "v" in arguments else ("x",)
    lines = [f"define double @{symbol}(i64 %xo, i64 %vo, i64 %oo, i64 %so, i64 %at, i64 %c, i64 %layout) {{",
             "entry:", f"  %lp = inttoptr i64 %layout to {word}"]
    names = ("type_at", "ndarray", "data_at", "nd_at", "dims_at", "descr_at", "float64", "flags_at")
    for k, name in enumerate(names):
        lines += [f"  %{name}.p = getelementptr i64, {word} %lp, i64 {k}", f"  %{name} = load i64, {word} %{name}.p"]

    def field(result, base, offset, kind="i64"):
        pointer = word if kind == "i64" else half
        return [f"  %{result}.a = add i64 {base}, {offset}", f"  %{result}.p = inttoptr i64 %{result}.a to {pointer}",
                f"  %{result} = load {kind}, {pointer} %{result}.p"]

    for a in vectors:  # as Numba's dispatcher: ndarray, 1-d, float64, C-contiguous, aligned, writeable; length n
        lines += [*field(f"{a}.type", f"%{a}o", "%type_at"), f"  %{a}.is_array = icmp eq i64 %{a}.type, %ndarray",
                  f"  br i1 %{a}.is_array, label %{a}.array, label %decline", f"{a}.array:",
                  *field(f"{a}.nd", f"%{a}o", "%nd_at", "i32"), *field(f"{a}.descr", f"%{a}o", "%descr_at"),
                  *field(f"{a}.flags", f"%{a}o", "%flags_at", "i32"), *field(f"{a}.dims", f"%{a}o", "%dims_at"),
                  f"  %{a}.vector = icmp eq i32 %{a}.nd, 1", f"  %{a}.float64 = icmp eq i64 %{a}.descr, %float64",
                  f"  %{a}.bits = and i32 %{a}.flags, {_FLAGS}", f"  %{a}.carray = icmp eq i32 %{a}.bits, {_FLAGS}",
                  f"  %{a}.both = and i1 %{a}.vector, %{a}.float64", f"  %{a}.plain = and i1 %{a}.both, %{a}.carray",
                  f"  br i1 %{a}.plain, label %{a}.sized, label %decline", f"{a}.sized:",
                  *field(f"{a}.length", f"%{a}.dims", "0"), f"  %{a}.right = icmp eq i64 %{a}.length, {n}",
                  f"  br i1 %{a}.right, label %{a}.checked, label %decline", f"{a}.checked:"]
        lines += [*field(f"{a}.data", f"%{a}o", "%data_at"), f"  %{a} = inttoptr i64 %{a}.data to {POINTER}"]
    lines += [*field("out.data", "%oo", "%data_at"), f"  %out = inttoptr i64 %out.data to {POINTER}",
              f"  %cp = inttoptr i64 %c to {POINTER}"]
    if arguments is None:
        lines += [*field("values.data", "%so", "%data_at"), f"  %values = inttoptr i64 %values.data to {POINTER}",
                  f"  %atp = inttoptr i64 %at to {word}",
                  f"  %result = call double @{target}({POINTER} %x, {POINTER} %x, {POINTER} %out, {POINTER} %values, "
                  f"{word} %atp, {POINTER} %cp)"]
    else:
        given = {"x": "%x", "p": "%x", "v": "%v", "c": "%cp"}  # no parameters: p is never read
        call = ", ".join(f"{POINTER} {given.get(argument, '%out')}" for argument in arguments)
        lines.append(f"  %result = call double @{target}({call})")
    lines += ["  ret double %result", "decline:", f"  ret double {NAN}", "}", ""]
    return "\n".join(lines)


def _compile_kernel(name: str, arguments: tuple, code: str, path, also: str = ""):
    """(engine, ctypes function) of one kernel: its machine code from ``path`` if saved, else from LLVM;
    ``also``: IR of more functions compiled with it (the engine has their addresses)."""
    data = unsealed(redirected(path)) if path is not None else None  # None if missing or discarded
    with llvm_lock(first_tier=True):
        fast_code_generation()
        if data is not None:
            engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _target_machine())
            engine.add_object_file(llvm.ObjectFileRef.from_data(data))
        else:
            engine = llvm.create_mcjit_compiler(llvm.parse_assembly(function_text(name, arguments, code) + also),
                                                _target_machine())
            machine_code = []
            engine.set_object_cache(notify_func=lambda _, data: machine_code.append(data))
        engine.finalize_object()
    if data is None and path is not None and machine_code:
        write_once(path, seal(path, machine_code[0]))
    address = engine.get_function_address(name)
    # PYFUNCTYPE: the call keeps the interpreter lock.  A call that released it waited, on
    # return, for another thread's turn (up to the switch interval, 5 ms): while Numba's kernels
    # load in the background that made a 10 us Hessian cost milliseconds.
    return engine, ctypes.PYFUNCTYPE(ctypes.c_double, *[ctypes.c_void_p] * len(arguments))(address)


_DATA = int(_LAYOUT[2]) if _LAYOUT is not None else None  # where an ndarray keeps its data pointer
_EMPTY_ARRAY = np.zeros(1)
_EMPTY = _EMPTY_ARRAY.ctypes.data


def _address(array, _read=ctypes.c_void_p.from_address, _offset=_DATA, _ndarray=np.ndarray,
             _from_buffer=ctypes.c_char.from_buffer, _addressof=ctypes.addressof) -> int:
    """The address of a contiguous array's data, read from the array object (a seventh of the time of
    ``array.ctypes.data``); else through the buffer protocol (an empty array's data are never read)."""
    if type(array) is _ndarray and _offset is not None:
        return _read(id(array) + _offset).value or _EMPTY
    if not array.size:
        return _EMPTY
    try:
        return _addressof(_from_buffer(array))
    except (TypeError, ValueError):
        return array.ctypes.data


class NativeKernels:
    """The generated module's single-point kernels (same names, same arguments), by ctypes.

    Any other attribute (the batched kernels) is the Numba module's: ``upgrade`` waits for it.
    """

    def __init__(self, codes, constants, n, rows, cols, repeated_terms, points: bool, saved=None):
        self._codes = codes            # name -> (arguments, three-address code)
        self._saved = saved
        self._functions = {}           # name -> (engine, ctypes function): the engine owns the machine code
        self._constants = constants
        self._constants_address = _address(constants)
        self._n, self._rows, self._cols = n, rows, cols
        self._upper, self._lower = rows * n + cols, cols * n + rows  # positions in the flat dense Hessian
        self._nnz, self._full = len(rows), "hessian_full" in codes
        self._at = np.ascontiguousarray(np.concatenate([self._upper, self._lower]), dtype=np.int64)
        self._at_address = _address(self._at)
        self._scatter = None           # SCATTER's ctypes function, made with the Hessian values kernel
        self._entry = None             # ENTRY's, made with the dense kernel (or the values kernel) when points
        self._hvp_entry = None         # HVP_ENTRY's, made with the hvp kernel when points
        self._points = points
        self._retired = []             # what adopt replaced
        self.REPEATED_TERMS = repeated_terms
        self.upgrade = None            # () -> the Numba module, set by Tiers
        if points:                     # as the module: entries with few arguments when there are no parameters
            self.hessian_into, self.hvp_into = self._hessian_into, self._hvp_into

    def adopt(self, linked: NativeKernels) -> None:
        """Serve every call from now on with the kernels of ``linked`` (LLVM's optimised machine code,
        :class:`symhess.travel.TravelKernels`): the compile-once object's calls while Numba's kernels
        are compiled.  The engines replaced are kept: one disposed of while Numba compiled in another
        thread crashed the process."""
        self._retired.append((self._functions, self._scatter, self._entry, self._hvp_entry))
        self._adopted = linked  # owns the machine code
        self._functions = dict(linked._functions)
        self._scatter, self._entry, self._hvp_entry = linked._scatter, linked._entry, linked._hvp_entry

    def prepare(self) -> NativeKernels:
        """Compile (or load) every kernel but the Hessian values when the dense kernel exists (only
        sparse Hessians use them), before Numba's compilation in the background holds LLVM."""
        for name in self._codes:
            if not (name == "hessian" and "hessian_full" in self._codes):
                self._function(name)
        return self

    def _function(self, name):
        compiled = self._functions.get(name)
        if compiled is None:
            path = self._saved(name) if self._saved is not None else None
            arguments, code = self._codes[name]
            beside = self._beside(name, arguments)
            compiled = _compile_kernel(name, arguments, code, path, "".join(text for _, _, text in beside))
            for attribute, symbol, _ in beside:
                setattr(self, attribute, ENTRY_TYPES[attribute](compiled[0].get_function_address(symbol)))
            self._functions[name] = compiled
        return compiled[1]

    def _beside(self, name, arguments, prefix=""):
        """``(attribute, symbol, IR)`` of the entries compiled with the kernel ``name``: the scatter
        beside the Hessian values (no dense kernel), and, without parameters, the compiled
        ``hessian_into``/``hvp_into`` beside the kernel they call (symbols named ``prefix + ...``)."""
        scatter = name == "hessian" and not self._full
        beside = [("_scatter", prefix + SCATTER, scatter_text(prefix + SCATTER, prefix + name, arguments, self._nnz))] \
            if scatter else []
        if self._points and _LAYOUT is not None:
            if scatter or name == "hessian_full":
                target = (prefix + SCATTER, None) if scatter else (prefix + name, arguments)
                beside.append(("_entry", prefix + ENTRY, entry_text(prefix + ENTRY, *target, self._n)))
            elif name == "hvp":
                beside.append(("_hvp_entry", prefix + HVP_ENTRY, entry_text(prefix + HVP_ENTRY, prefix + name,
                                                                         arguments, self._n)))
        return beside

    def _call(self, name, *arrays):
        function = self._functions.get(name)
        function = function[1] if function is not None else self._function(name)
        return function(*map(_address, arrays), self._constants_address)

    def value(self, x, p):
        return self._call("value", x, p)

    def gradient(self, x, p, g):
        return self._call("gradient", x, p, g)

    def hessian(self, x, p, h):
        return self._call("hessian", x, p, h)

    def hvp(self, x, p, v, hv):
        return self._call("hvp", x, p, v, hv)

    def hessian_dense(self, x, p):
        out = np.zeros((self._n, self._n))
        self._fill(x, p, out)
        return out

    def _fill(self, x, p, out):
        """The Hessian into the zeroed ``out``, as the generated module's ``hessian_dense`` does."""
        if self._full:
            self._call("hessian_full", x, p, out)
            return
        values = np.empty(self._nnz)
        if "hessian" not in self._functions:
            self._function("hessian")
        if self._scatter is None:  # machine code made without the entry (a file saved by an older symhess)
            self._call("hessian", x, p, values)
            flat = out.reshape(-1)
            flat[self._upper] = values
            flat[self._lower] = values
            return
        self._scatter(_address(x), _address(p), _address(out), _address(values), self._at_address,
                      self._constants_address)

    def _accepts(self, x) -> bool:
        """As the Numba entries: contiguous float64 vectors (others decline); of length n (others raise)."""
        # an unpickled array's float64 is another dtype object: ``is`` first (fast), then equality
        if type(x) is not np.ndarray or (x.dtype is not _FLOAT64 and x.dtype != _FLOAT64) or x.ndim != 1 \
                or not x.flags.carray:
            return False
        if x.shape[0] != self._n:
            raise ValueError("x has the wrong length")
        return True

    def _hessian_into(self, x, out, _id=id):
        entry = self._entry if self._entry is not None else self._compiled_entry("_entry")
        if entry is not None:
            values = None if self._full else np.empty(self._nnz)
            if entry(_id(x), 0, _id(out), _id(values), self._at_address, self._constants_address,
                     _LAYOUT_ADDRESS) == 0.0:  # the Hessian kernels return 0
                return True
        if not self._accepts(x):  # what the entry leaves to Python: declined, the wrong length, another dtype object
            return None
        self._fill(x, _NO_PARAMETERS, out)
        return True

    def _hvp_into(self, x, v, out, _id=id):
        entry = self._hvp_entry if self._hvp_entry is not None else self._compiled_entry("_hvp_entry")
        if entry is not None:
            value = entry(_id(x), _id(v), _id(out), 0, 0, self._constants_address, _LAYOUT_ADDRESS)
            if value == value:
                return value
        if not (self._accepts(x) and self._accepts(v)):
            return None
        return self.hvp(x, _NO_PARAMETERS, v, out)

    def _compiled_entry(self, attribute: str):
        """The compiled entry ``attribute`` (``_entry``, ``_hvp_entry``), compiled (or linked) with the
        kernel it calls; None where there is none (the layout of arrays is not the one it reads, or
        machine code saved without it)."""
        name = "hvp" if attribute == "_hvp_entry" else "hessian_full" if self._full else "hessian"
        if _LAYOUT is not None and name not in self._functions:
            self._function(name)
        return getattr(self, attribute)

    def __getattr__(self, name):
        if name.startswith("_") or self.upgrade is None:
            raise AttributeError(name)
        return getattr(self.upgrade(), name)


class Tiers:
    """Tier 0 now, the Numba module when a background thread has it (compiled by a separate process
    and loaded from Numba's cache, see :func:`pipeline._tiers`).

    The thread is a daemon: it waits for the separate process most of the time, and the
    interpreter's exit does not wait for it (the process is killed at exit).  ``lazy``: the
    thread starts when someone waits for the module (a loaded function: :mod:`symhess.travel`).
    """

    def __init__(self, native: NativeKernels, compile_numba, lazy: bool = False):
        self.native = native
        self._module = None
        self._error = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._ready = False
        self._listeners = []
        self._compile_numba = compile_numba
        self.started = False
        native.upgrade = self.module
        if not lazy:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self.started:
                return
            self.started = True
        threading.Thread(target=self._compile, args=(self._compile_numba,), name="symhess-numba",
                         daemon=True).start()

    def _compile(self, compile_numba):
        try:
            self._module = compile_numba()
        except BaseException as error:
            self._error = error
        with self._lock:
            self._ready = True
            listeners, self._listeners = self._listeners, []
        if self._module is not None:
            for listener in listeners:
                listener(self._module)
        self._done.set()  # after the listeners: whoever waited sees them switched

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the background compilation has finished (waiting up to ``timeout`` seconds)."""
        self._start()
        return self._done.wait(timeout)

    def module(self):
        """The Numba module, waiting for it if need be."""
        self._start()
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._module

    def current(self):
        """The fastest kernels ready now."""
        return self._module if self._done.is_set() and self._module is not None else self.native

    def on_ready(self, listener) -> None:
        """Call ``listener(module)`` once the Numba module is ready (now, if it is)."""
        with self._lock:
            if not self._ready:
                self._listeners.append(listener)
                return
        if self._module is not None:
            listener(self._module)
