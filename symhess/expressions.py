"""Walks over expression graphs that visit a shared subexpression once.

Derivatives of nested functions share subexpressions: ``y = sin(y) * x1 + x2 * y``
nested 20 deep is a graph of a few hundred nodes and a tree of 10⁶.  SymEngine's
``diff``, ``xreplace``, ``free_symbols`` and CSE work on the graph, but its ``atoms``
walks the tree; these walks keep every stage linear in the graph's size.
"""

from __future__ import annotations

import re

import symengine as se

TREE_WALK_OPS = 10_000
"""Up to this many operations (as a tree) SymEngine's own ``atoms``, in C++, is faster."""


def nodes(expr, inner=lambda node: node.args) -> list:
    """Every distinct subexpression of ``expr`` once, each after the ``inner`` ones it is made of.

    Iterative: traced loops nest expressions deeper than Python's recursion limit."""
    done: dict = {}
    stack = [expr]
    while stack:
        node = stack[-1]
        if node in done:
            stack.pop()
            continue
        pending = [arg for arg in inner(node) if arg not in done]
        if pending:
            stack.extend(pending)
        else:
            done[stack.pop()] = None
    return list(done)


_PACK = se.Function("pack")


def packed(expressions):
    """``expressions`` as the arguments of one call: one SymEngine pass (``xreplace``,
    ``free_symbols``) over all of them rebuilds a subexpression they share once, where a
    ``DenseMatrix`` of them rebuilds it for each (3.3 s against 5 ms for 1,600 products of
    one large sum); ``.args`` gives them back."""
    return _PACK(*expressions)


def atoms(expr, *types) -> set:
    """The subexpressions of ``expr`` (itself included) that are instances of ``types``."""
    if se.count_ops(expr) <= TREE_WALK_OPS:
        return expr.atoms(*types)
    return {node for node in nodes(expr) if isinstance(node, types)}


TEXT_OPS = 1_000_000
"""Up to this many operations (as a tree) ``str`` is faster than writing the graph out."""


_FLOAT_LITERAL = re.compile(r"(?<![\w.\]])\d+(?:\.\d|[eE][-+]?\d)|\b(?:inf|nan)\b")
"""A floating-point number in ``str`` of an expression: ``0.5``, ``1e-10`` (SymEngine writes
no dot there), ``inf.0``; symbols' names hold no digit after a letter, dot or bracket."""

_MAYBE_FLOAT = re.compile(r"\d[.eE]|inf|nan")
"""What every floating-point literal contains: a search three times faster than the exact one
rules most texts out."""


def exact_text(expr) -> str:
    """``expr`` written out (a cache key) in time linear in its graph: ``str`` for a tree of
    up to TEXT_OPS operations, else one line per distinct subexpression naming its operands
    by number.  Floating-point numbers are written exactly (``str`` keeps about 16 digits:
    0.1 and the next double would share a key, and one compiled constant)."""
    if se.count_ops(expr) <= TEXT_OPS:
        text = _text(expr)
        if _MAYBE_FLOAT.search(text) and _FLOAT_LITERAL.search(text):
            text = _text(expr.xreplace({value: se.Symbol(f"float({float(value).hex()})")
                                      for value in atoms(expr, se.RealDouble)}))
        return text
    order = nodes(expr)
    number = {node: k for k, node in enumerate(order)}
    return "\n".join(_line(node, number) for node in order)


def _text(expr) -> str:
    """``str(expr)``, but a sum of many terms term by term, in SymEngine's own order: printing
    sorts a sum's terms first (500 x 40 logistic regression: 0.13 s, against 0.05 s)."""
    if isinstance(expr, se.Add) and len(expr.args) > SORTED_TERMS:
        return "sum(" + ", ".join(map(str, expr.args)) + ")"
    return str(expr)


SORTED_TERMS = 100
"""Sums of more terms are written in SymEngine's order (equal sums built alike are written alike;
two builds of one sum written apart only miss the cache)."""


def _line(node, number: dict) -> str:
    if isinstance(node, se.RealDouble):
        return f"float({float(node).hex()})"
    if not node.args:
        return str(node)
    head = node.get_name() if hasattr(node, "get_name") else type(node).__name__
    return f"{head}({', '.join(str(number[arg]) for arg in node.args)})"
