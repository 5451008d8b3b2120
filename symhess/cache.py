"""Where generated modules, their machine code and their metadata live on disk, and how they are trusted.

Every file symhess loads from the cache is checked against a content hash recorded when it
was written: a generated module's file name is the hash of its source, an object file of
tier-0 machine code and Numba's cache files for the module carry the hash of their contents
and name (:func:`seal`), and an entry's metadata carries the hash of its fields and key.  A
file that fails its check is discarded with a :class:`CacheWarning` and made again; it is
never imported or linked.

The directory must be the user's own: created with mode 0700, and refused when another user
owns it or others can write to it.  An unusable directory (refused, not a directory, not
writable, a write that failed) gives the process a private temporary cache instead, with one
warning saying why (:func:`private_dir`, also the directory of ``cache=False``).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import stat
import sys
import tempfile
import threading
import warnings
from pathlib import Path

ENV_VAR = "SYMHESS_CACHE_DIR"


class CacheWarning(UserWarning):
    """A cache file failed its check (discarded and made again), or the cache directory is unusable."""


_LOCK = threading.RLock()
_VERDICTS: dict[Path, Path] = {}   # configured directory -> the directory used for it
_REFUSED: dict[Path, str] = {}     # directories that failed, and why
_PRIVATE: list[Path] = []


def configured_dir() -> Path:
    """``$SYMHESS_CACHE_DIR``, else the platform's user cache directory (not checked)."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "symhess"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "symhess" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "symhess"


def cache_dir() -> Path:
    """The configured cache directory when it is usable (made with mode 0700 if missing), else the
    process's private temporary cache (one warning saying why)."""
    path = configured_dir()
    with _LOCK:
        used = _VERDICTS.get(path)
        if used is None:
            reason = _unusable(path)
            if reason is not None:
                refuse(path, reason)
            used = _VERDICTS[path] = private_dir() if path in _REFUSED else path
        return used


def _unusable(path: Path) -> str | None:
    """Why ``path`` cannot be the cache, or None."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
    except OSError as error:
        return f"it cannot be created ({error})"
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a directory"
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return f"it is owned by another user (uid {info.st_uid}), who could change the code symhess imports"
    if os.name != "nt" and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (f"others can write to it (mode {stat.S_IMODE(info.st_mode):o}) and could change the code symhess "
                f"imports; `chmod go-w` it or set {ENV_VAR}")
    try:  # not writable: a missing permission, a read-only file system
        handle, probe = tempfile.mkstemp(dir=path, prefix=".symhess-probe-")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        return f"it is not writable ({error})"
    return None


def refuse(path: Path, reason: str) -> None:
    """Stop using ``path`` for this process: its files go to the private temporary cache (one warning)."""
    with _LOCK:
        if path in _REFUSED:
            return
        _REFUSED[path] = reason
        for configured, used in list(_VERDICTS.items()):
            if used == path:
                _VERDICTS[configured] = private_dir()
        private = private_dir()
    warnings.warn(f"symhess: the cache directory {path} is unusable: {reason}. This process uses a private "
                  f"temporary cache, {private}, removed when it exits.", CacheWarning, stacklevel=3)


def private_dir() -> Path:
    """A directory of this process's own (``tempfile.mkdtemp``, mode 0700), removed at exit."""
    with _LOCK:
        if not _PRIVATE:
            path = Path(tempfile.mkdtemp(prefix="symhess-"))
            atexit.register(_remove, path, os.getpid())
            _PRIVATE.append(path)
        return _PRIVATE[0]


def _remove(path: Path, owner: int) -> None:
    if os.getpid() == owner:  # not from a forked child that exits normally
        shutil.rmtree(path, ignore_errors=True)


def redirected(path: Path) -> Path:
    """``path``, or the same name in the private cache when its directory was refused."""
    return private_dir() / path.name if path.parent in _REFUSED else path


def discarded(reason: str, *paths: Path) -> None:
    """Delete the files of a cache entry that failed its check, with one warning."""
    for path in paths:
        with contextlib.suppress(OSError):  # one that cannot be deleted is replaced when written again
            path.unlink()
    warnings.warn(f"symhess: {reason}; discarded, and made again.", CacheWarning, stacklevel=3)


def numba_files(module: Path) -> list[Path]:
    """Numba's cache files (index and machine code) and Python's bytecode for the generated ``module``."""
    return list((module.parent / "__pycache__").glob(f"{module.stem}.*"))


def digest(*parts: bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(len(part).to_bytes(8, "little"))
        hasher.update(part)
    return hasher.hexdigest()


_SEAL = b"symhess cache file, sha256 "


def seal(path: Path, data: bytes) -> bytes:
    """``data`` headed by its hash, bound to the file's name (module hash, kernel, CPU model)."""
    return _SEAL + digest(path.name.encode(), data).encode() + b"\n" + data


def unsealed(path: Path) -> bytes | None:
    """The contents of a file written with :func:`seal` if it is there and intact; None if missing.

    A file that fails its check (truncated, corrupted, unreadable, another file's) is deleted
    with a warning, and None is returned: the caller makes it again.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        discarded(f"the cache file {path} is unreadable ({error})", path)
        return None
    head, _, payload = data.partition(b"\n")
    if head[:len(_SEAL)] != _SEAL or head[len(_SEAL):] != digest(path.name.encode(), payload).encode():
        discarded(f"the cache file {path} does not match its hash (corrupted or truncated)", path)
        return None
    return payload


def _write_file(path: Path, content: bytes) -> None:
    """Write ``content`` to a new temporary file beside ``path`` and move it there (atomic)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_once(path: Path, content: str | bytes) -> Path:
    """Write atomically, and never rewrite a good file (Numba's cache is keyed on its stamp); returns
    where the file is.

    Text (a generated module, named by its hash) already there is compared with ``content``:
    a different or unreadable file is replaced, with a warning, and Numba's files for it are
    discarded.  A write that fails (a full disk, a directory made read-only) moves the process
    to its private cache, with one warning, and the file is written there.
    """
    path = redirected(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    if path.exists():
        if not isinstance(content, str):
            return path
        try:
            same = path.read_bytes() == data
        except OSError as error:
            same, problem = False, f"is unreadable ({error})"
        else:
            problem = "does not match its hash (edited or truncated)"
        if same:
            return path
        discarded(f"the cached module {path} {problem}", *numba_files(path))
    try:
        _write_file(path, data)
    except OSError as error:
        if path.parent in _PRIVATE:
            raise
        refuse(path.parent, f"writing {path.name} failed ({error})")
        return write_once(path, content)
    return path


def read_verified(path: Path, check) -> str:
    """The text of ``path`` when ``check(text)`` holds; raises :class:`CacheError` (why) otherwise."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError as error:
        raise CacheError(f"{path} is missing") from error
    except (OSError, UnicodeDecodeError) as error:
        raise CacheError(f"{path} is unreadable ({error})") from error
    if not check(text):
        raise CacheError(f"{path} does not match its hash (edited or truncated)")
    return text


class CacheError(Exception):
    """A cache file that failed its check; the message says which and why."""
