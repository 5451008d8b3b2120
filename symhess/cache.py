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

The cache is kept under a size cap (:func:`max_size`, ``$SYMHESS_CACHE_MAX_SIZE``, 1 GiB by
default): when symhess writes to it and finds it larger, the least recently used entries go
first (:func:`prune`).  An entry is one generated module with everything made from it: the
metadata that points to it, its tier-0 object files and Numba's cache files; its last use is
the latest modification time of its files (a module's is renewed when a process uses it).  An
entry this process uses is never removed.  ``symhess cache info | clear | prune`` manage it
from the command line.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ENV_VAR = "SYMHESS_CACHE_DIR"
SIZE_VAR = "SYMHESS_CACHE_MAX_SIZE"
DEFAULT_MAX_SIZE = 1 << 30
"""The size cap of the cache when ``$SYMHESS_CACHE_MAX_SIZE`` is not set: 1 GiB."""
STALE_SECONDS = 600.0
"""Temporary files older than this (10 minutes) were left by a writer that was killed: prune removes them."""


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
    first_use = isinstance(content, str) and path.suffix == ".py" and _used(path)
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
            if first_use:
                with contextlib.suppress(OSError):
                    os.utime(path)  # its last use, for the least-recently-used order of the size cap
            return path
        discarded(f"the cached module {path} {problem}", *numba_files(path))
    try:
        _write_file(path, data)
    except OSError as error:
        if path.parent in _PRIVATE:
            raise
        refuse(path.parent, f"writing {path.name} failed ({error})")
        return write_once(path, content)
    _written(path.parent, len(data))
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


# ----- the size cap, and the cache's management (``symhess cache``) ------------------------------
_NAME = re.compile(r"symhess_([0-9a-f]{16,64})\.")
_IN_USE: set[str] = set()             # hashes of the modules this process uses: it never removes them
_CHECKS: dict[Path, list] = {}        # directory -> [time of the last check of its size, bytes written since]
_PRUNING = threading.Lock()
_BAD_SIZES: set[str] = set()
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _used(path: Path) -> bool:
    """Record that this process uses the generated module ``path``; True the first time."""
    match = _NAME.match(path.name)
    if match is None:
        return False
    with _LOCK:
        if match.group(1) in _IN_USE:
            return False
        _IN_USE.add(match.group(1))
        return True


def parse_size(text: str) -> int:
    """Bytes of a size written ``500M``, ``2G``, ``1.5GiB``, ``750k`` or ``123456`` (K, M, G, T: powers of 1024)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if match is None:
        raise ValueError(f"not a size: {text!r} (write it as 500M, 2G, 1.5G or a number of bytes)")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def format_size(size: float) -> str:
    """``size`` bytes for people: ``812 B``, ``3.4 MiB``, ``1.0 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def max_size() -> int | None:
    """The size cap of the cache in bytes: ``$SYMHESS_CACHE_MAX_SIZE`` (``500M``, ``2G``; ``none`` for no
    cap), else :data:`DEFAULT_MAX_SIZE`.  A value that is not a size gives the default, with a warning."""
    text = os.environ.get(SIZE_VAR, "").strip()
    if not text:
        return DEFAULT_MAX_SIZE
    if text.lower() in ("none", "off", "unlimited"):
        return None
    try:
        return parse_size(text)
    except ValueError as error:
        if text not in _BAD_SIZES:
            _BAD_SIZES.add(text)
            warnings.warn(f"symhess: ${SIZE_VAR} is {error}; the cap is {format_size(DEFAULT_MAX_SIZE)}",
                          CacheWarning, stacklevel=2)
        return DEFAULT_MAX_SIZE


@dataclass
class Entry:
    """One generated module and everything made from it (metadata, object files, Numba's files)."""

    key: str                                          # the module's source hash
    files: list[Path] = field(default_factory=list)   # metadata first, then the module, then the rest
    size: int = 0
    last_use: float = 0.0                             # the latest modification time of its files


@dataclass
class Survey:
    """What the cache directory holds (see :func:`survey`)."""

    directory: Path
    entries: list[Entry]
    stray: list[tuple[Path, int, float]]  # files of no entry: (path, size, modification time)

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.entries) + sum(size for _, size, _ in self.stray)

    @property
    def oldest_use(self) -> float | None:
        return min((entry.last_use for entry in self.entries), default=None)

    @property
    def newest_use(self) -> float | None:
        return max((entry.last_use for entry in self.entries), default=None)


@dataclass
class Pruned:
    """What :func:`prune` removed."""

    entries: int = 0
    files: int = 0
    size: int = 0


def _temporary(name: str) -> bool:
    """A file being written (or left by a writer that was killed): symhess's ``.symhess_*.tmp`` and
    ``.symhess-probe-*``, Numba's ``*.tmp.<uid>``."""
    return name.startswith(".") or ".tmp." in name or name.endswith(".tmp")


def _files(directory: Path) -> list[tuple[Path, int, float]]:
    """symhess's files in ``directory`` and in its ``__pycache__`` (Numba's): (path, size, mtime)."""
    found = []
    for folder in (directory, directory / "__pycache__"):
        try:
            with os.scandir(folder) as listing:
                for item in listing:
                    if not item.name.startswith(("symhess_", ".symhess")) or not item.is_file(follow_symlinks=False):
                        continue
                    with contextlib.suppress(OSError):  # removed meanwhile
                        info = item.stat(follow_symlinks=False)
                        found.append((Path(item.path), info.st_size, info.st_mtime))
        except (FileNotFoundError, NotADirectoryError):
            continue
    return found


def survey(directory: Path | None = None) -> Survey:
    """The entries of the cache ``directory`` (default: the one this process uses), and its stray
    files: temporary files, and files whose module is gone."""
    directory = Path(directory) if directory is not None else cache_dir()
    entries: dict[str, Entry] = {}
    rest: list[tuple[str, tuple]] = []
    stray, metadata = [], []
    for item in _files(directory):
        path = item[0]
        match = _NAME.match(path.name)
        if _temporary(path.name) or match is None:
            stray.append(item)
        elif path.parent == directory and path.suffix == ".json":
            metadata.append(item)
        elif path.parent == directory and path.name == f"symhess_{match.group(1)}.py":
            entries[match.group(1)] = Entry(match.group(1), [path], item[1], item[2])
        else:
            rest.append((match.group(1), item))
    for item in metadata:  # named by the trace key: the module it points to is inside
        try:
            key = json.loads(item[0].read_bytes()).get("source_key")
        except (OSError, ValueError, AttributeError):
            key = None
        rest.append((key, item))
    for key, item in rest:
        entry = entries.get(key)
        if entry is None:
            stray.append(item)
            continue
        if item[0].suffix == ".json":
            entry.files.insert(0, item[0])
        else:
            entry.files.append(item[0])
        entry.size += item[1]
        entry.last_use = max(entry.last_use, item[2])
    return Survey(directory, list(entries.values()), stray)


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except OSError:  # removed meanwhile, or not ours to remove
        return False
    return True


def prune(directory: Path | None = None, max_size: int | None = None, stale: float = STALE_SECONDS) -> Pruned:
    """Remove the files of no entry (a removed module's), temporary files older than ``stale`` seconds
    (left by writers that were killed), then the least recently used entries until the cache holds at
    most ``max_size`` bytes (None: no limit).  Entries this process uses are kept.  An entry goes
    metadata first, so that no process finds metadata without its module."""
    found = survey(directory)
    done = Pruned()
    now = time.time()
    for path, size, mtime in found.stray:
        if (not _temporary(path.name) or now - mtime >= stale) and _unlink(path):
            done.files, done.size = done.files + 1, done.size + size
    if max_size is None:
        return done
    total = found.size - done.size
    for entry in sorted(found.entries, key=lambda entry: entry.last_use):
        if total <= max_size:
            break
        with _LOCK:
            if entry.key in _IN_USE:
                continue
        removed = [path for path in entry.files if _unlink(path)]
        total -= entry.size
        done.entries += 1
        done.files += len(removed)
        done.size += entry.size
    return done


def clear(directory: Path | None = None) -> Pruned:
    """Remove every entry of the cache (but those this process uses) and its stray files."""
    return prune(directory, 0)


def _written(directory: Path, size: int) -> None:
    """After a write: apply the size cap if it is due (the process's first write to ``directory``, then
    after a sixteenth of the cap written or a minute), down to 90% of the cap."""
    cap = max_size()
    if cap is None:
        return
    now = time.monotonic()
    with _LOCK:
        check = _CHECKS.setdefault(directory, [None, 0])
        check[1] += size
        if check[0] is not None and check[1] < cap // 16 and now - check[0] < 60:
            return
        check[0], check[1] = now, 0
    if not _PRUNING.acquire(blocking=False):  # another thread is at it
        return
    try:
        if sum(size for _, size, _ in _files(directory)) > cap:
            prune(directory, cap * 9 // 10)
    except Exception as error:  # never fail a compilation over this
        warnings.warn(f"symhess: the size cap of the cache {directory} could not be applied ({error!r})",
                      CacheWarning, stacklevel=3)
    finally:
        _PRUNING.release()
