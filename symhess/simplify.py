"""Stage 3, simplify: make derivative expressions neater and cheaper, within a budget.

``"none"`` keeps the expressions; ``"fast"`` expands an entry when that makes it
smaller (linear cost); ``"full"`` runs SymPy's ``simplify`` entry by entry under
a time budget, keeping the smaller of the two forms; ``"auto"`` uses ``full``
for teaching-size problems and ``fast`` for the rest.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import replace

import symengine as se
import sympy as sp

from .codegen import ThreeAddressPrinter
from .differentiate import Derivatives
from .expressions import atoms, nodes

MODES = ("auto", "none", "fast", "full")
AUTO_FULL_MAX_OPS = 400
"""``auto`` runs SymPy's simplify when the gradient and Hessian hold at most this many operations."""


def operation_count(expressions) -> int:
    return sum(se.count_ops(e) for e in expressions)


def resolve_mode(mode: str, derivs: Derivatives) -> str:
    if mode not in MODES:
        raise ValueError(f"simplify={mode!r} is not one of {', '.join(map(repr, MODES))}")
    if mode != "auto":
        return mode
    size = operation_count(derivs.gradient) + operation_count(derivs.hessian.values())
    return "full" if size <= AUTO_FULL_MAX_OPS else "fast"


def simplify(derivs: Derivatives, mode: str = "auto", budget: float = 5.0) -> tuple[Derivatives, str]:
    """Simplified derivatives and the mode actually used."""
    mode = resolve_mode(mode, derivs)
    if mode == "none":
        return derivs, mode
    rewrite = _expand_if_smaller if mode == "fast" else _Full(budget)
    gradient = tuple(rewrite(e) for e in derivs.gradient)
    hessian = {key: rewrite(e) for key, e in derivs.hessian.items()}
    hessian = {key: e for key, e in hessian.items() if e != 0}
    return replace(derivs, gradient=gradient, hessian=hessian, hvp=tuple(rewrite(e) for e in derivs.hvp)), mode


def _expand_if_smaller(expr):
    if not _cheap_to_expand(expr):
        return expr
    expanded = se.expand(expr)
    return expanded if se.count_ops(expanded) < se.count_ops(expr) else expr


def _cheap_to_expand(expr) -> bool:
    """Multiplying out stays small: no power of a sum beyond the square (``(a + b + c)**-8``
    would expand to ~10⁵ terms for nothing), and no more terms than EXPAND_GROWTH per node
    of the expression's graph, since expansion copies shared subexpressions: the derivative
    of ``y = sin(y) * x1 + x2 * y`` nested 20 deep is a graph of a few hundred nodes and
    would expand to 2²⁰ terms."""
    for power in atoms(expr, se.Pow):
        base, exponent = power.args
        if isinstance(base, se.Add) and exponent.is_Number and abs(float(exponent)) > 2:
            return False
    if se.count_ops(expr) <= SMALL_OPS:
        return True
    largest, graph_size = _expansion_size(expr)
    return largest <= EXPAND_GROWTH * graph_size


EXPAND_GROWTH = 4
"""``fast`` expands an entry only into at most this many terms per node of its graph."""
SMALL_OPS = 16
"""Entries of at most this many operations are expanded without counting (at most 2⁸ terms)."""


def _expansion_size(expr) -> tuple[float, int]:
    """The most terms any subexpression expands to (an upper bound) and the graph's node count.

    Expansion stops at function calls, so their arguments are not visited."""
    terms: dict = {}
    for node in nodes(expr, inner=lambda node: node.args if isinstance(node, (se.Add, se.Mul, se.Pow)) else ()):
        terms[node] = _terms(node, terms)
    return max(terms.values()), len(terms)


def _terms(node, terms: dict) -> float:
    """In floating point: nested squares of sums square the count at every level (2^2^depth)."""
    if isinstance(node, se.Add):
        return sum(terms[arg] for arg in node.args)
    if isinstance(node, se.Mul):
        return math.prod(terms[arg] for arg in node.args)
    if not isinstance(node, se.Pow):
        return 1.0
    base, exponent = node.args
    if not (exponent.is_Integer and exponent > 0):
        return 1.0
    count, power = terms[base], int(exponent)
    return count**power if count == 1 or power * math.log2(count) < 1000 else math.inf


class _Full:
    """SymPy ``simplify`` per entry until the budget (seconds) is spent."""

    def __init__(self, budget: float):
        self.deadline = time.monotonic() + budget
        self.can_interrupt = threading.current_thread() is threading.main_thread()

    def __call__(self, expr):
        fast = _expand_if_smaller(expr)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0 or not self.can_interrupt or expr.is_Number or expr.is_Symbol:
            return fast
        try:
            simplified = _with_alarm(lambda: sp.simplify(expr._sympy_()), remaining)
            candidate = se.sympify(simplified)
        except (_OutOfTimeError, Exception):  # any SymPy failure: keep the unsimplified form
            return fast
        if not _printable(candidate) or se.count_ops(candidate) > se.count_ops(fast):
            return fast
        return candidate


def _printable(expr) -> bool:
    names = dict.fromkeys(expr.free_symbols, "s[0]")
    try:
        ThreeAddressPrinter(names).doprint(expr)
    except (NotImplementedError, KeyError):
        return False
    return True


class _OutOfTimeError(Exception):
    pass


RING_AGAIN = 0.01
"""Seconds after an interruption that Python swallowed until the alarm rings again."""


def _with_alarm(work, seconds: float):
    """``work()``, interrupted after ``seconds``.  An interruption raised inside a finaliser
    (a weakref callback of SymPy's caches, run wherever an object dies) is swallowed by
    Python and reported as "Exception ignored": the alarm rings again until one lands,
    and the swallowed ones are not reported."""
    running = True

    def stop(signum, frame):
        if running:
            signal.setitimer(signal.ITIMER_REAL, RING_AGAIN)
            raise _OutOfTimeError

    def unraisable(report):
        if not isinstance(report.exc_value, _OutOfTimeError):
            hook(report)

    hook, previous = sys.unraisablehook, signal.signal(signal.SIGALRM, stop)
    sys.unraisablehook = unraisable
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        return work()
    finally:
        try:
            running = False
        finally:  # also when the alarm rang just before
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            sys.unraisablehook = hook
