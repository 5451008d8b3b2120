"""The error raised when a function cannot be traced, naming the user's line."""

from __future__ import annotations

import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SKIP = (_PACKAGE_DIR, os.path.dirname(os.path.abspath(__import__("numpy").__file__)))


class TraceError(Exception):
    """``func`` did something that symbolic tracing cannot follow.

    The message names the problem, the line of ``func`` where it happened and the fix
    (see the docs page "What can be traced" for every case).
    """


class UnsupportedAttributeError(TraceError, AttributeError):
    """A tensor method or attribute symhess does not trace; also an AttributeError, so ``hasattr`` still works."""


def user_line() -> str:
    """``file:line: source`` of the innermost caller outside symhess and NumPy."""
    frame = sys._getframe(1)
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not path.startswith(_SKIP):
            import linecache

            text = linecache.getline(path, frame.f_lineno).strip()
            return f"{path}:{frame.f_lineno}: {text}" if text else f"{path}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown line>"


def trace_error(problem: str, fix: str) -> TraceError:
    """Build a TraceError that says what went wrong, where, and what to do."""
    return TraceError(f"symhess cannot trace this: {problem}\n  at {user_line()}\n  fix: {fix}")
