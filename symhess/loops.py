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

import itertools
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import symengine as se
import sympy as sp
from symengine.lib.symengine_wrapper import PyFunction

from . import progress
from .expressions import atoms, packed
from .tracing.primitives import ALL

MIN_RUN = 8          # shorter runs are not worth a loop
SPLIT_TERMS = 8      # sums with more terms are accumulated term by term
ROLL_ITEMS = 200     # kernels with fewer items stay fully unrolled (fastest for small problems)

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
    """Runs of equal length fused into ``for m in range(count)``: (target, base, stride, accumulate, body);
    a store at the positions of a table has the table's element as ``base`` and ``stride`` None."""

    count: int
    stores: tuple
    blocks: tuple = ()  # OuterProducts added in the same iteration


@dataclass(frozen=True)
class OuterProduct:
    """``h[target] += weight * left * right`` for ``k < rows`` and ``j < cols`` (``j >= k`` when
    ``triangle``), in the body of a loop over copies: ``left`` and ``right`` are elements read with
    ``k`` and ``j`` (None: a single coefficient, folded into ``weight``, and no loop of its own).

    ``vector``: a rank-one product's coefficients, computed into a local array ``VECTOR`` first
    (in ``left`` and ``right``, the array's name is :data:`VECTOR`, named when printed)."""

    weight: object
    rows: int
    cols: int
    left: str | None
    right: str | None
    target: str
    triangle: bool
    vector: tuple = ()


VECTOR = "VECTOR"
"""The placeholder for a rank-one product's local array in :class:`OuterProduct` texts."""


def index_text(base, stride, variable: str = "m") -> str:
    """The index of iteration ``m``: ``7 + 2*m``, or a table's element ``int(c[40 + 1*m])``."""
    return base if stride is None else f"{base} + {stride}*{variable}"


class Tables:
    """A module's constants table (``c``): the lifted data of repeated terms, then index tables.

    A repeated term whose copies do not sit at evenly spaced positions (the pairs of a cluster,
    the edges of a graph) reads its variables and scatters its derivatives through a table
    of positions, stored as floats (exact below 2**53) so that every kernel takes one table.
    """

    def __init__(self, constants):
        self.values = list(constants)
        self.placed: dict = {}

    def index(self, positions, variable: str = "m"):
        """``(base, stride)`` of ``positions`` (one per value of the loop ``variable``) if evenly
        spaced, else a table's element ``(int(c[40 + 1*m]), None)``."""
        positions = tuple(positions)
        stride = positions[1] - positions[0] if len(positions) > 1 else 0
        if all(b - a == stride for a, b in itertools.pairwise(positions)):
            return int(positions[0]), int(stride)
        return f"int(c[{self.place(positions)} + 1*{variable}])", None

    def place(self, values) -> int:
        """The offset in ``c`` of a table holding ``values`` (placed once)."""
        values = tuple(values)
        offset = self.placed.get(values)
        if offset is None:
            offset = self.placed[values] = len(self.values)
            self.values += [float(v) for v in values]
        return offset


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


def _terms(expr, under_symbols: int = SPLIT_TERMS, distributed: set | None = None) -> list:
    """The terms of a sum, with products of a factor and a large sum distributed (``c * (a + b)``):
    more than ``SPLIT_TERMS`` terms under a number, more than ``under_symbols`` under symbols.

    A sum is distributed once (``distributed``): a nested function's derivative shares its
    sums so much that distributing each wherever it occurs gives 2^depth terms."""
    distributed = set() if distributed is None else distributed
    if isinstance(expr, se.Add):
        return [t for term in expr.args for t in _terms(term, under_symbols, distributed)]
    if isinstance(expr, se.Mul):
        factors = expr.args
        sums = [k for k, f in enumerate(factors) if isinstance(f, se.Add) and len(f.args) > SPLIT_TERMS]
        if len(sums) == 1 and factors[sums[0]] not in distributed:
            rest = se.Mul(*(f for k, f in enumerate(factors) if k != sums[0]))
            if rest.is_Number or len(factors[sums[0]].args) > under_symbols:
                distributed.add(factors[sums[0]])
                return [rest * t for t in _terms(factors[sums[0]], under_symbols, distributed)]
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
        for run in _best_runs(members):
            if len(run) < MIN_RUN:
                straight += [item for _, item in run]
            else:
                by_count[len(run)].append(_loop_store(key, run))
    loops = [Loop(count, tuple(stores)) for count, stores in sorted(by_count.items())]
    return straight, loops


def _template(item: Item, positions: dict):
    """(grouping key, index vector): equal keys mean equal formulas up to the indices."""
    symbols = sorted(item.expr.free_symbols, key=positions.__getitem__)
    try:
        template = item.expr.xreplace(dict(zip(symbols, _slots(len(symbols)))))
    except (RuntimeError, TypeError, NotImplementedError):  # a function SymEngine cannot rebuild
        return None, None
    arrays = tuple(positions[s][0] for s in symbols)
    key = (template, item.target, item.accumulate, arrays)
    return key, (item.index, *(positions[s][1] for s in symbols))


def _best_runs(members):
    """Affine runs of the members sorted by their index vectors read forwards or backwards, whichever
    gives fewer runs (rows of a matrix are runs one way, columns the other)."""
    candidates = [_affine_runs(sorted(members, key=lambda member: member[0])),
                  _affine_runs(sorted(members, key=lambda member: member[0][::-1]))]
    return min(candidates, key=len)


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


def loop_symbol(array: str, base, stride):
    """The element ``array[base + stride*m]`` (or at a table's element) of the loop variable ``m``, as a symbol."""
    return se.Symbol(f"{array}[{index_text(base, stride)}]")


def _array(target: str) -> str:
    return target[:target.index("[")]


def _index(target: str) -> int:
    return int(target[target.index("[") + 1:-1])


# ----- sums over repeated terms: differentiate one template, not every copy -------------------

MAX_RUNS = 4         # copies of a term in more evenly spaced runs than this make one loop through tables
SUM_TERMS = 200      # a value with at least this many terms is searched for repeated terms,
BIG_TERM = 16        # as is one with fewer terms of at least this many variables each (a loss over a batch)
SUM_ENTRIES = 2000   # and one whose terms would write this many Hessian contributions one by one
                     # (190 pairs of atoms, 21 each: 11.6 s term by term, 0.26 s as one loop)


@dataclass(frozen=True)
class SumGroup:
    """``sum over m < count of template(slots)`` with slot ``k`` at ``arrays[k][positions[k][m]]``."""

    template: object
    slots: tuple
    arrays: tuple
    positions: tuple  # per slot, its position in its array for each copy
    count: int
    constants: tuple = ()  # lifted constants, member by member, at c[offset:offset + len(constants)]
    offset: int = 0

    def loop_symbols(self, tables: Tables) -> dict:
        """Each slot's loop symbol, made once per module (a group has one per variable and datum of its term)."""
        made = self.__dict__.get("_loop_symbols")
        if made is None or made[0] is not tables:
            made = (tables, {slot: loop_symbol(self.arrays[k], *tables.index(self.positions[k]))
                             for k, slot in enumerate(self.slots)})
            self.__dict__["_loop_symbols"] = made
        return made[1]


def sum_groups(value, positions: dict, native) -> tuple[list[SumGroup], object]:
    """Long runs of one template among the terms of ``value``, and the sum of the other terms.

    ``native`` maps an expression to a form SymEngine rebuilds by itself.  Floating-point
    constants (data captured from the closure) are lifted out of the templates into a
    table the loops read, so that terms differing only in their data share one template.
    """
    # a data row's y * (x . w) stays one term (not one per feature); a mean's 1/B * (...) is distributed
    terms = _terms(value, SUM_TERMS) if isinstance(value, (se.Add, se.Mul)) else []
    ranks, order = _ranked(terms, positions)
    terms, ranks = _by_datum(terms, ranks, order, positions)
    sizes = [len(row) for row in ranks]
    big_terms = len(terms) >= MIN_RUN and max(sizes) >= BIG_TERM
    entries = sum(k * (k + 1) // 2 for k in sizes)  # what differentiating term by term would write
    if len(terms) < SUM_TERMS and not big_terms and not (len(terms) >= MIN_RUN and entries >= SUM_ENTRIES):
        return [], value
    groups = defaultdict(list)
    rest = []
    # primitive calls (log1p, ...) made native in one pass when a term has them (the copies of a formula
    # share its calls: the first term tells, without a walk of the whole value), so that they rename together
    # (renaming a primitive call calls back into SymPy: 1.2 s for 500 terms)
    natives = list(native(packed(terms)).args) if atoms(terms[0], PyFunction) else terms
    templated = _renamed_templates(natives, ranks, order, positions)
    look = (False, False)
    if len(templated) < len(terms):  # terms to template one by one
        found = atoms(value, se.Function, se.RealDouble)  # one walk of the whole value: which questions
        look = (any(isinstance(a, se.RealDouble) for a in found),  # a term can need asked
                any(type(a).__name__ in SYMMETRIC for a in found if isinstance(a, se.Function)))
        if not any(isinstance(a, PyFunction) for a in found):  # no primitive calls: nothing to make native
            native = _same
    for done, term in enumerate(terms):
        progress.advance(done, len(terms))
        key, vector, numbers = templated.get(done) or _lifted_template(native(term), positions, look)
        if key is None:
            rest.append(term)
        else:
            groups[key].append((vector, term, numbers))
    found, offset = [], 0
    for key, members in groups.items():
        runs = _best_runs(members)
        if len(members) >= MIN_RUN and (len(runs) > MAX_RUNS or any(len(run) < MIN_RUN for run in runs)):
            runs = [sorted(members, key=lambda member: member[0])]  # one loop through tables of positions
        for run in runs:
            if len(run) < MIN_RUN:
                rest += [member[1] for member in run]
            else:
                found.append(_sum_group(key, run, offset))
                offset += len(run) * key[2]
    return found, se.Add(*rest)


def _same(expr):
    return expr


MERGED_TERMS = 4
"""Terms that read one datum are one term when at most this many do (a sample's terms)."""


def _ranked(terms, positions: dict):
    """Each term's symbols as their ranks in position order (a sorted integer array), and the
    symbols by rank: the searches below compare integers, not symbols (whose hashes are calls)."""
    order = sorted(positions, key=positions.__getitem__)
    rank = {symbol: k for k, symbol in enumerate(order)}
    return [np.sort(np.fromiter((rank[s] for s in term.free_symbols), np.int64)) for term in terms], order


def _by_datum(terms, ranks, order, positions: dict):
    """The terms that read the same data (``log(1 + exp(X[s] @ w))`` and ``-y[s] * (X[s] @ w)``:
    one sample's loss) added into one term, when few terms read it: one template per sample
    instead of two, and its loop reads the row once.  ``ranks``: see :func:`_ranked`."""
    is_datum = np.array([positions[s][0] == "p" for s in order], dtype=bool)
    if not ranks or not is_datum.any():
        return terms, ranks
    reader = np.repeat(np.arange(len(terms)), [len(row) for row in ranks])
    read = np.concatenate(ranks)
    kept = is_datum[read]
    reader, read = reader[kept], read[kept]
    by_datum = np.lexsort((reader, read))  # each datum's readers, the first one first
    reader, read = reader[by_datum], read[by_datum]
    starts = np.flatnonzero(np.r_[True, read[1:] != read[:-1]])
    first = np.repeat(reader[starts], np.diff(np.r_[starts, len(read)]))
    parent = list(range(len(terms)))

    def root(k):
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for k, other in np.unique(np.stack([reader, first], axis=1)[reader != first], axis=0).tolist():
        parent[root(k)] = root(other)
    members = defaultdict(list)
    for k in range(len(terms)):
        members[root(k)].append(k)
    if len(members) == len(terms):
        return terms, ranks
    merged, merged_ranks = [], []
    for group in members.values():
        if len(group) > MERGED_TERMS:  # a datum every term reads (a bias): the terms stay apart
            merged += [terms[k] for k in group]
            merged_ranks += [ranks[k] for k in group]
        else:
            merged.append(se.Add(*(terms[k] for k in group)))
            merged_ranks.append(np.unique(np.concatenate([ranks[k] for k in group])))
    return merged, merged_ranks


def _renamed_templates(terms, ranks, order, positions: dict) -> dict:
    """``{index: (key, vector, [])}`` as :func:`_lifted_template` gives them, for the terms whose
    template has no floating-point number, primitive call or odd or even call, renamed to their
    slots in one SymEngine pass per group of terms instead of one per term.

    A term names its symbols ``slot.0, slot.1, ...`` in position order.  The copies of one
    formula (``log(1 + exp(X[s] @ w))`` for every sample ``s``) share one renaming when no
    symbol takes two slots: a datum of one copy, or a variable every copy reads in the same place.
    ``ranks``, ``order``: see :func:`_ranked`.
    """
    arrays, indices = [positions[s][0] for s in order], [positions[s][1] for s in order]
    by_size = defaultdict(list)
    for index, row in enumerate(ranks):
        by_size[len(row)].append(index)
    found = {}
    for size, members in by_size.items():
        if not size:  # numbers: nothing to rename
            continue
        rows = np.stack([ranks[i] for i in members])
        keep = _one_slot_each(rows)
        members, rows = [i for i, kept in zip(members, keep) if kept], rows[keep]
        if not members:
            continue
        slots = _slots(size) * len(members)
        renaming = {order[r]: slot for r, slot in zip(rows.reshape(-1).tolist(), slots)}
        try:
            templates = packed([terms[i] for i in members]).xreplace(renaming).args
        except (RuntimeError, TypeError, NotImplementedError):
            continue
        plain = {template: _plain_template(template) for template in set(templates)}
        for index, row, template in zip(members, rows.tolist(), templates):
            if plain[template]:
                key = (template, tuple(arrays[r] for r in row), 0)
                found[index] = key, (0, *(indices[r] for r in row)), []
    return found


def _one_slot_each(ranks) -> np.ndarray:
    """Which rows (a term's symbols by rank, sorted) rename consistently: no symbol of theirs
    sits in another column of another row."""
    size = ranks.shape[1]
    flat, columns = ranks.reshape(-1), np.tile(np.arange(size), len(ranks))
    by_symbol = np.lexsort((columns, flat))
    flat, columns = flat[by_symbol], columns[by_symbol]
    clash = (flat[1:] == flat[:-1]) & (columns[1:] != columns[:-1])
    bad = np.unique(flat[1:][clash])
    return ~np.isin(ranks, bad).any(axis=1)


def _plain_template(template) -> bool:
    """No floating-point number to lift, primitive call to make native or odd or even call to sign."""
    return not any(isinstance(a, (se.RealDouble, PyFunction)) or type(a).__name__ in SYMMETRIC
                   for a in template.atoms(se.Function, se.RealDouble))


def _slots(count: int) -> list:
    """The first ``count`` slot symbols (templates name a term's variables by them, in order)."""
    while len(_SLOTS) < count:
        _SLOTS.append(se.Symbol(f"slot.{len(_SLOTS)}"))
    return _SLOTS[:count]


def _lifted_template(expr, positions: dict, look=(True, True)):
    """(key, index vector, lifted constants) of one native term; key None if it cannot be templated.
    ``look``: whether the value has floating-point numbers, odd or even calls at all (else skip them)."""
    found = atoms(expr, se.Function, se.RealDouble) if any(look) else ()  # one walk for both questions
    if look[1]:
        expr = _signs_fixed(expr, positions, calls=[a for a in found if isinstance(a, se.Function)])
    symbols = sorted(expr.free_symbols, key=positions.__getitem__)
    floats = any(isinstance(a, se.RealDouble) for a in found)
    numbers = list(dict.fromkeys(_floats(expr, positions))) if floats else []
    while len(_CONSTANTS) < len(numbers):
        _CONSTANTS.append(se.Symbol(f"const.{len(_CONSTANTS)}"))
    try:
        template = expr.xreplace({**dict(zip(symbols, _slots(len(symbols)))), **dict(zip(numbers, _CONSTANTS))})
    except (RuntimeError, TypeError, NotImplementedError):
        return None, None, None
    key = (template, tuple(positions[s][0] for s in symbols), len(numbers))
    return key, (0, *(positions[s][1] for s in symbols)), [float(v) for v in numbers]


def _floats(expr, positions: dict):
    """The floating-point numbers of ``expr`` in an order set by its structure and symbols only.

    (SymEngine orders the terms of a sum by hashes that involve the numbers themselves.)
    """
    if isinstance(expr, se.RealDouble):
        yield expr
        return
    args = expr.args
    if isinstance(expr, (se.Add, se.Mul)):
        args = sorted(args, key=lambda a: (sorted(positions[s] for s in a.free_symbols), type(a).__name__))
    for arg in args:
        yield from _floats(arg, positions)


_CONSTANTS = []

SYMMETRIC = {"tanh": -1, "sin": -1, "sinh": -1, "tan": -1, "asinh": -1, "atanh": -1, "erf": -1,
             "cot": -1, "coth": -1, "acoth": -1, "cos": 1, "cosh": 1}
"""Functions with ``f(-u) = sign * f(u)``, which SymEngine writes with the sign taken out of ``u``."""


def _signs_fixed(expr, positions: dict, memo=None, calls=None):
    """``expr`` with every odd or even call's argument signed by its data-independent part.

    SymEngine turns ``tanh(-u)`` into ``-tanh(u)`` when ``u`` "looks negative", which for a
    hidden unit ``tanh(X[s] @ w + b)`` depends on the data row ``X[s]``: rows would get
    different templates.  Here the argument's sign is set by its first exact coefficient
    (the bias's 1) instead, and the call is kept as an opaque function so that SymEngine
    does not undo it; :func:`_from_native` turns it back.
    """
    memo = {} if memo is None else memo
    calls = [call for call in (atoms(expr, se.Function) if calls is None else calls) if type(call).__name__ in SYMMETRIC]
    if not calls:
        return expr
    return expr.xreplace({call: _sign_fixed_call(call, positions, memo) for call in calls})


def _sign_fixed_call(call, positions: dict, memo: dict):
    fixed = memo.get(call)
    if fixed is None:
        name = type(call).__name__
        argument = _signs_fixed(call.args[0], positions, memo)
        opaque = se.Function("signed." + name)
        if _exact_sign(argument, positions) < 0:
            fixed = SYMMETRIC[name] * opaque(se.Add(*(-term for term in se.Add.make_args(argument))))
        else:
            fixed = opaque(argument)
        memo[call] = fixed
    return fixed


def _exact_sign(argument, positions: dict) -> int:
    """The sign of the first exact (not floating-point) coefficient of ``argument``'s terms in
    index order; 0 if every coefficient is data."""
    terms = sorted(se.Add.make_args(argument), key=lambda t: sorted(positions[s] for s in t.free_symbols))
    for term in terms:
        ((monomial, coefficient),) = term.as_coefficients_dict().items()
        coefficient = monomial if monomial.is_Number else coefficient
        if not isinstance(coefficient, se.RealDouble) and coefficient != 0:
            return 1 if coefficient > 0 else -1
    return 0


def _sum_group(key, run, offset: int) -> SumGroup:
    template, arrays, lifted = key
    table = tuple(value for member in run for value in member[2])
    positions = tuple(tuple(member[0][k + 1] for member in run) for k in range(len(arrays)))
    positions += tuple(tuple(offset + k + lifted * m for m in range(len(run))) for k in range(lifted))
    return SumGroup(_from_native(template), tuple(_SLOTS[:len(arrays)]) + tuple(_CONSTANTS[:lifted]),
                    arrays + ("c",) * lifted, positions, len(run), table, offset)


def _from_native(expr):
    """A native template with SymEngine function symbols turned back into symhess primitives."""
    classes = {("Abs_" if cls.__name__ == "Abs" else cls.__name__): cls for cls in ALL}
    calls = [call for call in atoms(expr, se.FunctionSymbol)
             if call.get_name() in classes or call.get_name().startswith("signed.")]
    if not calls:
        return expr

    def convert(call):
        name = call.get_name()
        if name.startswith("signed."):
            return getattr(se, name.removeprefix("signed."))(_from_native(call.args[0]))
        return se.sympify(classes[name](*(sp.sympify(_from_native(a)) for a in call.args)))

    return expr.xreplace({call: convert(call) for call in calls})
