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
import importlib.util
import sys
from pathlib import Path

from .cache import cache_dir, read_verified, write_once
from .codegen import source_key

_LOADED: dict[str, object] = {}

LLVM_OPTIONS = ("-enable-misched=false", "-enable-post-misched=false", "-post-RA-scheduler=false")
"""LLVM code generation options set once per process: no machine instruction scheduling."""


@functools.cache
def fast_code_generation() -> None:
    import llvmlite.binding as llvm

    for option in LLVM_OPTIONS:
        llvm.set_option("symhess", option)


def initialise_numba() -> None:
    """Initialise Numba's target and typing contexts; call it outside ``native.llvm_lock``.

    Each initialises once, under a lock of its own, and takes Numba's compiler lock inside
    it.  A thread that holds the compiler lock first (as ``llvm_lock`` does) and then
    initialises them deadlocks with another thread initialising them, such as the user's
    first ``@numba.njit`` while the background compilation runs.
    """
    from numba.core.registry import cpu_target

    streams_left_alone_by_numba_errors()
    cpu_target.target_context, cpu_target.typing_context  # noqa: B018 - for their side effect


@functools.cache
def streams_left_alone_by_numba_errors() -> None:
    """Numba highlights the error messages it makes, routinely while compiling, inside
    colorama's ``init()``/``deinit()``, which re-point ``sys.stdout`` and ``sys.stderr`` to the
    streams they saw at ``init``.  From the background thread that undid the main thread's
    redirections (``contextlib.redirect_stdout``, pytest's capture): prints went to a stream
    replaced long before.  The same text, made without touching the streams, replaces it."""
    from numba.core import errors

    scheme = errors.termcolor()
    if hasattr(scheme, "_markup"):  # colorama is installed: Numba's HighlightColorScheme
        from colorama import Style

        def markup(msg, color=None, style=Style.BRIGHT):
            return f"{color or ''}{style or ''}{msg}{Style.RESET_ALL}"

        scheme._markup = markup


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
    except BaseException:
        sys.modules.pop(name, None)
        raise
    _LOADED[key] = module
    return module
