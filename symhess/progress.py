"""Progress of a long compile: the stage and how far it is, through ``logging`` and on a terminal.

A compile of a large function can take minutes; it must never look like a hang.  The
stages call :func:`stage` when they start and :func:`advance` as they go; every
:data:`INTERVAL` seconds at most, the stage and its fraction go to the ``symhess``
logger (INFO) and, once the compile has run :data:`QUIET` seconds, to standard error
when it is a terminal (one line, rewritten in place).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from contextlib import contextmanager

LOGGER = logging.getLogger("symhess")
QUIET = 1.0     # seconds a compile runs before the terminal shows its progress
INTERVAL = 0.5  # seconds between two reports

_STATE = threading.local()


@contextmanager
def compiling(name: str = "compile"):
    """A compile: reports made inside it are timed from its start (nested compiles report into the outer)."""
    outer = getattr(_STATE, "compile", None)
    if outer is not None:
        yield
        return
    _STATE.compile = {"name": name, "start": time.perf_counter(), "last": 0.0, "stage": "", "shown": False}
    try:
        yield
    finally:
        state, _STATE.compile = _STATE.compile, None
        if state["shown"]:
            _terminal("\r\033[K")
        LOGGER.debug("%s: done in %.2f s", state["name"], time.perf_counter() - state["start"])


def stage(name: str) -> None:
    """A stage starts (reported at once when the compile is already slow)."""
    state = getattr(_STATE, "compile", None)
    if state is not None:
        state["stage"] = name
        _report(state, None, force=True)


def advance(done: int, total: int) -> None:
    """``done`` of ``total`` items of the current stage are finished."""
    state = getattr(_STATE, "compile", None)
    if state is not None and total:
        _report(state, done / total)


def _report(state: dict, fraction, force: bool = False) -> None:
    now = time.perf_counter()
    if not force and now - state["last"] < INTERVAL:
        return
    state["last"] = now
    elapsed = now - state["start"]
    where = state["stage"] if fraction is None else f"{state['stage']} {100 * fraction:.0f}%"
    LOGGER.info("%s: %s (%.1f s)", state["name"], where, elapsed)
    if elapsed >= QUIET and _terminal(f"\r\033[K[symhess] {state['name']}: {where} ({elapsed:.0f} s)"):
        state["shown"] = True


def _terminal(text: str) -> bool:
    stream = sys.stderr
    try:
        if not stream.isatty():
            return False
        stream.write(text)
        stream.flush()
    except (AttributeError, ValueError, OSError):  # closed or replaced streams
        return False
    return True
