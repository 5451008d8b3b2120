"""Where generated modules and their metadata live on disk."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_VAR = "SYMHESS_CACHE_DIR"


def cache_dir() -> Path:
    """``$SYMHESS_CACHE_DIR``, else the platform's user cache directory."""
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override).expanduser()
    elif sys.platform == "darwin":
        path = Path.home() / "Library" / "Caches" / "symhess"
    elif os.name == "nt":
        path = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "symhess" / "Cache"
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "symhess"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_once(path: Path, content: str | bytes) -> None:
    """Write atomically, and never rewrite: Numba's cache is keyed on the file's stamp."""
    if path.exists():
        return
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    if isinstance(content, bytes):
        temporary.write_bytes(content)
    else:
        temporary.write_text(content, encoding="utf-8")
    os.replace(temporary, path)
