"""Stage 5, JIT: import a generated module from its file; Numba compiles (or loads) it.

The module is a real file named by the hash of its source, so Numba's
``cache=True`` finds the machine code of an earlier process.

LLVM's machine instruction schedulers take time quadratic in the length of a basic
block, and a loop over data rows whose body updates a dense Hessian is one long block:
for an MLP with 61 parameters they took 8 of the 12 s of the JIT.  symhess turns them
off for the process when it first loads kernels (:data:`LLVM_OPTIONS`); on an
out-of-order CPU the kernels ran as fast without them (``benchmarks/``).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import os
import pickle
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import llvmlite.binding as llvm
from numba.core import errors
from numba.core.caching import IndexDataCacheFile
from numba.core.compiler_lock import global_compiler_lock
from numba.core.dispatcher import Dispatcher
from numba.core.registry import cpu_target

from .cache import cache_dir, read_verified, seal, unsealed, write_once
from .lru import LRU


def _forget(key: str, module) -> None:
    """A module dropped from :data:`_LOADED` leaves ``sys.modules`` too (its memory can be freed)."""
    if sys.modules.get(module.__name__) is module:
        del sys.modules[module.__name__]


_LOADED: dict[str, object] = LRU(256, on_evict=_forget)  # source hash -> module, least recently used dropped

LLVM_OPTIONS = ("-enable-misched=false", "-enable-post-misched=false", "-post-RA-scheduler=false")
"""LLVM code generation options set once per process: no machine instruction scheduling."""


@functools.cache
def fast_code_generation() -> None:
    for option in LLVM_OPTIONS:
        llvm.set_option("symhess", option)


def initialise_numba() -> None:
    """Initialise Numba's target and typing contexts; call it outside ``native.llvm_lock``.

    Each initialises once, under a lock of its own, and takes Numba's compiler lock inside
    it.  A thread that holds the compiler lock first (as ``llvm_lock`` does) and then
    initialises them deadlocks with another thread initialising them, such as the user's
    first ``@numba.njit`` while the background compilation runs.
    """
    streams_left_alone_by_numba_errors()
    cpu_target.target_context, cpu_target.typing_context  # noqa: B018 - for their side effect


def refresh_numba() -> None:
    """Numba's one-time set-up of a process (imports of its registries, about a second), done
    before its first compilation or cache load would do it; call it outside ``native.llvm_lock``,
    after :func:`initialise_numba`."""
    with global_compiler_lock:
        cpu_target.target_context.refresh()


GENTLE_INTERVAL = 5e-5
"""The interpreter's switch interval (seconds) while a background thread loads or compiles Numba's
kernels: a call from another thread waits at most about this long for the interpreter lock (the
default, 5 ms, is 1,000 times a small Hessian)."""

_GENTLE = threading.Lock()
_gentle = {"count": 0, "saved": None}


@contextmanager
def gentle():
    """The interpreter's switch interval lowered to :data:`GENTLE_INTERVAL` for the duration (process-wide)."""
    with _GENTLE:
        if not _gentle["count"]:
            _gentle["saved"] = sys.getswitchinterval()
            sys.setswitchinterval(min(GENTLE_INTERVAL, _gentle["saved"]))
        _gentle["count"] += 1
    try:
        yield
    finally:
        with _GENTLE:
            _gentle["count"] -= 1
            if not _gentle["count"]:
                sys.setswitchinterval(_gentle["saved"])


@functools.cache
def streams_left_alone_by_numba_errors() -> None:
    """Numba highlights the error messages it makes, routinely while compiling, inside
    colorama's ``init()``/``deinit()``, which re-point ``sys.stdout`` and ``sys.stderr`` to the
    streams they saw at ``init``.  From the background thread that undid the main thread's
    redirections (``contextlib.redirect_stdout``, pytest's capture): prints went to a stream
    replaced long before.  The same text, made without touching the streams, replaces it."""
    scheme = errors.termcolor()
    if hasattr(scheme, "_markup"):  # colorama is installed: Numba's HighlightColorScheme
        from colorama import Style

        def markup(msg, color=None, style=Style.BRIGHT):
            return f"{color or ''}{style or ''}{msg}{Style.RESET_ALL}"

        scheme._markup = markup


def source_key(source: str) -> str:
    """Content hash of generated source: the name of its module file."""
    return hashlib.sha256(source.encode()).hexdigest()[:24]


def module_path(key: str, directory: Path | None = None) -> Path:
    return (directory or cache_dir()) / f"symhess_{key}.py"


def load(source: str, directory: Path | None = None):
    """Write ``source`` (once) and import it; the same source is imported once per process.

    A file of the same name that holds anything else is replaced first (:func:`cache.write_once`).
    """
    key = source_key(source)
    if key in _LOADED:
        return _LOADED[key]
    path = write_once(module_path(key, directory), source)
    return import_file(path, key)


def import_file(path: Path, key: str):
    """Import the generated module ``path`` if its source has the hash ``key`` (its name).

    The module is executed from the text that was checked, never read again (no bytecode
    cache): Numba compiles that text, and keys its own cache on the file's stamp.  A file that
    fails its check is replaced by nothing here: :class:`cache.CacheError` says why.
    """
    if key in _LOADED:
        return _LOADED[key]
    source = read_verified(path, lambda text: source_key(text) == key)
    fast_code_generation()
    name = f"symhess_generated_{key}"
    spec = importlib.util.spec_from_loader(name, loader=None, origin=str(path))
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)  # the verified text
        seal_numba_caches(module, key)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    _LOADED[key] = module
    return module


def seal_numba_caches(module, key: str) -> None:
    """Numba's cache files for the kernels of ``module`` (source hash ``key``) sealed as symhess's own.

    Numba keys its cache on the stamp of the module's file (time and size) and links the
    machine code it finds unchecked: an edited module of the same stamp, or a damaged file,
    gave wrong numbers or a crash.  Here its index is keyed on the source hash instead, and
    its files carry the hash of their contents (:func:`cache.seal`); a file that fails its
    check is discarded with a warning, and Numba compiles that kernel again.
    """
    sealed = _sealed_cache_file()
    for value in list(vars(module).values()):
        cache_file = getattr(getattr(value, "_cache", None), "_cache_file", None) if isinstance(value, Dispatcher) else None
        if type(cache_file) is IndexDataCacheFile:
            cache_file.__class__ = sealed
            cache_file.sealed(key)


@functools.cache
def _sealed_cache_file():
    class SealedCacheFile(IndexDataCacheFile):
        """Numba's index and data files with symhess's seal, keyed on the source hash (Numba 0.59+)."""

        def sealed(self, key: str) -> None:
            self._source_stamp = ("symhess source sha256", key)
            self._index_name = self._index_name.replace(".nbi", ".sealed.nbi")
            self._index_path = os.path.join(self._cache_path, self._index_name)
            self._data_name_pattern = self._data_name_pattern.replace(".nbc", ".sealed.nbc")

        def _load_index(self):
            data = unsealed(Path(self._index_path))
            if data is None:
                return {}
            stream = io.BytesIO(data)
            if pickle.load(stream) != self._version:
                return {}
            stamp, overloads = pickle.loads(stream.read())
            return overloads if stamp == self._source_stamp else {}

        def _save_index(self, overloads):
            data = pickle.dumps(self._version, protocol=-1) + self._dump((self._source_stamp, overloads))
            self._write(self._index_path, data)

        def _load_data(self, name):
            data = unsealed(Path(self._data_path(name)))
            if data is None:
                raise FileNotFoundError(self._data_path(name))  # Numba compiles the kernel again
            return pickle.loads(data)

        def _save_data(self, name, data):
            self._write(self._data_path(name), self._dump(data))

        def _write(self, path, data):
            try:
                with self._open_for_write(path) as file:
                    file.write(seal(Path(path), data))
            except OSError:
                pass  # not saved (a full disk): the kernels work, the next process compiles them again

    return SealedCacheFile
