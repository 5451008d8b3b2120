"""Stage 4a, recognise repeated structure: formulas repeated at shifted indices become loops.

Large functions (chained Rosenbrock at n = 10,000, a likelihood summed over 10,000 data
rows) repeat a few formulas at shifted indices.  Unrolled, every repetition costs the
JIT compiler time; rolled into loops, the generated code stays the size of the distinct
formulas.  A kernel's outputs are cut into *items* (a whole expression, or each term of
a large sum, accumulated); items are grouped by *template* (the expression with its
symbols replaced by slots in index order); each group, sorted by index, is cut into
*runs* in which every index advances by a constant stride; runs of equal length are
fused into one loop, so that the terms of one data row share their subexpressions.
What does not fall into a long enough run stays straight-line code, as before.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import symengine as se

MIN_RUN = 8          # shorter runs are not worth a loop
SPLIT_TERMS = 8      # sums with more terms are accumulated term by term
ROLL_ITEMS = 1000    # kernels with fewer items stay fully unrolled (fastest for small problems)

_SLOTS = []


@dataclass(frozen=True)
class Item:
    """One piece of a kernel output: ``target[index] (+)= expr``; target "return" is the value."""

    target: str
    index: int
    accumulate: bool
    expr: object


@dataclass(frozen=True)
class Loop:
    """Runs of equal length fused into ``for m in range(count)``: (target, base, stride, accumulate, body)."""

    count: int
    stores: tuple


def kernel_items(returns, outputs) -> list[Item]:
    """The items of a kernel returning ``returns`` and storing ``outputs`` (("h[3]", expr), ...)."""
    pieces = [("return", 0, returns)] + [(_array(t), _index(t), e) for t, e in outputs]
    items = []
    for target, index, expr in pieces:
        terms = _terms(expr)
        if len(terms) > SPLIT_TERMS:
            items += [Item(target, index, True, term) for term in terms]
        else:
            items.append(Item(target, index, False, expr))
    return items


def _terms(expr) -> list:
    """The terms of a sum, with products of a factor and a large sum distributed (``c * (a + b)``)."""
    if isinstance(expr, se.Add):
        return [t for term in expr.args for t in _terms(term)]
    if isinstance(expr, se.Mul):
        factors = expr.args
        sums = [k for k, f in enumerate(factors) if isinstance(f, se.Add) and len(f.args) > SPLIT_TERMS]
        if len(sums) == 1:
            rest = se.Mul(*(f for k, f in enumerate(factors) if k != sums[0]))
            return [rest * t for t in _terms(factors[sums[0]])]
    return [expr]


def roll(items: list[Item], positions: dict) -> tuple[list[Item], list[Loop]]:
    """Split ``items`` into straight-line items and loops over affine runs of one template.

    ``positions`` maps each symbol to its array element, e.g. ``("x", 3)``.
    """
    groups = defaultdict(list)
    straight = []
    for item in items:
        key, vector = _template(item, positions)
        if key is None:
            straight.append(item)
        else:
            groups[key].append((vector, item))
    by_count = defaultdict(list)
    for key, members in groups.items():
        members.sort(key=lambda member: member[0])
        for run in _affine_runs(members):
            if len(run) < MIN_RUN:
                straight += [item for _, item in run]
            else:
                by_count[len(run)].append(_loop_store(key, run))
    loops = [Loop(count, tuple(stores)) for count, stores in sorted(by_count.items())]
    return straight, loops


def _template(item: Item, positions: dict):
    """(grouping key, index vector): equal keys mean equal formulas up to the indices."""
    symbols = sorted(item.expr.free_symbols, key=positions.__getitem__)
    while len(_SLOTS) < len(symbols):
        _SLOTS.append(se.Symbol(f"slot.{len(_SLOTS)}"))
    try:
        template = item.expr.xreplace(dict(zip(symbols, _SLOTS)))
    except (RuntimeError, TypeError, NotImplementedError):  # a function SymEngine cannot rebuild
        return None, None
    arrays = tuple(positions[s][0] for s in symbols)
    key = (template, item.target, item.accumulate, arrays)
    return key, (item.index, *(positions[s][1] for s in symbols))


def _affine_runs(members):
    """Maximal consecutive stretches of sorted members whose index vectors advance by a constant step."""
    runs, start = [], 0
    while start < len(members):
        end = start + 1
        if end < len(members):
            step = _step(members[start][0], members[end][0])
            while end + 1 < len(members) and _step(members[end][0], members[end + 1][0]) == step:
                end += 1
            end += 1
        runs.append(members[start:end])
        start = end
    return runs


def _step(a, b):
    return tuple(j - i for i, j in zip(a, b))


def _loop_store(key, run):
    """One run as a store of the loop body: slots become loop symbols ``x[base + stride*m]``."""
    template, target, accumulate, arrays = key
    first, step = run[0][0], _step(run[0][0], run[1][0])
    loop_symbols = {_SLOTS[k]: loop_symbol(array, first[k + 1], step[k + 1]) for k, array in enumerate(arrays)}
    body = template.xreplace(loop_symbols) if loop_symbols else template
    return target, first[0], step[0], accumulate, body


def loop_symbol(array: str, base: int, stride: int):
    """The element ``array[base + stride*m]`` of the loop variable ``m``, as a symbol."""
    return se.Symbol(f"{array}[{base} + {stride}*m]")


def _array(target: str) -> str:
    return target[:target.index("[")]


def _index(target: str) -> int:
    return int(target[target.index("[") + 1:-1])


# ----- sums over repeated terms: differentiate one template, not every copy -------------------

SUM_TERMS = 200      # a value with at least this many terms is searched for repeated terms


@dataclass(frozen=True)
class SumGroup:
    """``sum over m < count of template(slots)`` with slot ``k`` at ``arrays[k][bases[k] + strides[k]*m]``."""

    template: object
    slots: tuple
    arrays: tuple
    bases: tuple
    strides: tuple
    count: int
    terms: tuple     # the repeated terms themselves, for when they must be differentiated one by one

    def index(self, k: int, m):
        return self.bases[k] + self.strides[k] * m

    def at_loop(self, expr):
        """``expr`` (in the slots) with each slot as its loop symbol ``x[base + stride*m]``."""
        return expr.xreplace({slot: loop_symbol(self.arrays[k], self.bases[k], self.strides[k])
                              for k, slot in enumerate(self.slots)})


def sum_groups(value, positions: dict, native) -> tuple[list[SumGroup], object]:
    """Long runs of one template among the terms of ``value``, and the sum of the other terms.

    ``native`` maps an expression to a form SymEngine rebuilds by itself (for the keys);
    each group's template keeps the original functions, so that it can be differentiated.
    """
    terms = value.args if isinstance(value, se.Add) else ()
    if len(terms) < SUM_TERMS:
        return [], value
    groups = defaultdict(list)
    rest = []
    for term in terms:
        key, vector = _template(Item("return", 0, True, native(term)), positions)
        if key is None:
            rest.append(term)
        else:
            groups[key].append((vector, term))
    found = []
    for members in groups.values():
        members.sort(key=lambda member: member[0])
        for run in _affine_runs(members):
            if len(run) < MIN_RUN:
                rest += [term for _, term in run]
            else:
                found.append(_sum_group(run, positions))
    return found, se.Add(*rest)


def _sum_group(run, positions) -> SumGroup:
    first_vector, first_term = run[0]
    step = _step(first_vector, run[1][0])
    symbols = sorted(first_term.free_symbols, key=positions.__getitem__)
    slots = tuple(se.Symbol(f"slot.{k}") for k in range(len(symbols)))
    return SumGroup(first_term.xreplace(dict(zip(symbols, slots))), slots,
                    tuple(positions[s][0] for s in symbols), first_vector[1:], step[1:], len(run),
                    tuple(term for _, term in run))
