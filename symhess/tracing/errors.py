"""The error raised when a function cannot be traced, naming the user's line."""

from __future__ import annotations

import linecache
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
            text = linecache.getline(path, frame.f_lineno).strip()
            return f"{path}:{frame.f_lineno}: {text}" if text else f"{path}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown line>"


SCIPY_SPECIAL_PYTHON = {
    "logsumexp": "x.logsumexp(axis) (x.reshape(-1).logsumexp(0) for all elements)",
    "softmax": "x.softmax(axis)", "log_softmax": "x.log_softmax(axis)",
    "polygamma": "x.polygamma(n) (scipy.special.digamma for n = 0)", "multigammaln": "x.mvlgamma(d)",
}
"""scipy.special functions written in Python (not ufuncs: no NumPy protocol reaches symhess), and
the traced method on the placeholder that computes the same."""


def trace_error(problem: str, fix: str, traceback=None) -> TraceError:
    """Build a TraceError that says what went wrong, where, and what to do.

    ``traceback``: of the exception being translated, when the frames that raised it are gone."""
    inside = _scipy_special_function(sys._getframe(1))
    while inside is None and traceback is not None:
        inside = _scipy_special_function(traceback.tb_frame, walk=False)
        traceback = traceback.tb_next
    if inside is not None:
        name, caller = inside
        return TraceError(f"symhess cannot trace this: scipy.special.{name} is Python code that turns traced "
                          f"values into NumPy numbers ({problem})\n  at {_line(caller)}\n"
                          f"  fix: call {SCIPY_SPECIAL_PYTHON[name]} on the traced array instead: symhess traces it")
    return TraceError(f"symhess cannot trace this: {problem}\n  at {user_line()}\n  fix: {fix}")


def _scipy_special_function(frame, walk=True):
    """(name, the frame that called it) of a :data:`SCIPY_SPECIAL_PYTHON` function at ``frame`` (or, with
    ``walk``, further out on the stack), or None."""
    marker = f"{os.sep}scipy{os.sep}special{os.sep}"
    while frame is not None:
        if frame.f_code.co_name in SCIPY_SPECIAL_PYTHON and marker in frame.f_code.co_filename:
            return frame.f_code.co_name, frame.f_back
        frame = frame.f_back if walk else None
    return None


def _line(frame) -> str:
    if frame is None:
        return "<unknown line>"
    path = os.path.abspath(frame.f_code.co_filename)
    text = linecache.getline(path, frame.f_lineno).strip()
    return f"{path}:{frame.f_lineno}: {text}" if text else f"{path}:{frame.f_lineno}"
