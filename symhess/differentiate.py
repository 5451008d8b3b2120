"""Stage 2, differentiate: gradient, sparse upper Hessian and Hessian-vector product.

Sparsity is exploited term by term: a sum is split into its terms and each term
is differentiated only with respect to the symbols it contains, so the cost grows
with the expression size and the number of structural non-zeros, not with n².
Only the upper triangle of the (symmetric) Hessian is differentiated.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import symengine as se
import sympy as sp
from symengine.lib.symengine_wrapper import PyFunction

from . import progress
from .expressions import atoms
from .tracing.primitives import ALL as PRIMITIVES

_PRIMITIVES = {cls.__name__: cls for cls in PRIMITIVES}
_CALL = PyFunction  # how SymEngine holds a SymPy function such as a primitive


@dataclass(frozen=True)
class Derivatives:
    """Value, gradient and Hessian of a scalar function of the flat variables ``x``."""

    variables: tuple           # flat wrt symbols, in input order
    parameters: tuple          # flat symbols of the non-differentiated inputs
    value: se.Basic
    gradient: tuple            # one expression per variable
    hessian: dict              # {(i, j): expr} for i <= j, structural non-zeros only
    direction: tuple           # symbols v[k] of the hvp direction
    hvp: tuple                 # H @ v, one expression per variable (never forms H)
    sums: tuple = ()           # SumDerivatives of repeated terms, added to all of the above by loops

    @property
    def rows(self) -> np.ndarray:
        return np.array([i for i, _ in self.hessian], dtype=np.int64)

    @property
    def cols(self) -> np.ndarray:
        return np.array([j for _, j in self.hessian], dtype=np.int64)


def terms(expr) -> tuple:
    """The terms of a sum (the expression itself otherwise)."""
    return expr.args if isinstance(expr, se.Add) else (expr,)


def sparse_gradient(expr, index: dict, lowest: int = 0) -> dict:
    """{k: d expr / d x_k} over the variables x_k (k >= lowest) that occur, term by term."""
    parts = defaultdict(list)
    for term in terms(expr):
        for symbol in term.free_symbols:
            k = index.get(symbol)
            if k is not None and k >= lowest:
                derivative = derivative_of(term, symbol)
                if derivative != 0:
                    parts[k].append(derivative)
    return {k: se.Add(*p) for k, p in parts.items()}


def derivative_of(expr, symbol):
    """``d expr / d symbol``: SymEngine's rules, and the chain rule through symhess's primitives.

    SymEngine would differentiate a primitive (a SymPy function) by calling back into
    SymPy, about a thousand times slower; here each primitive call is replaced by a
    stand-in symbol and its derivative comes from a template made once per primitive.
    """
    calls = atoms(expr, _CALL)
    if not calls:
        return expr.diff(symbol)
    stand_ins = {call: se.Symbol(f"call.{k}") for k, call in enumerate(calls)}
    back = {stand_in: call for call, stand_in in stand_ins.items()}
    reduced = expr.xreplace(stand_ins)
    result = reduced.diff(symbol).xreplace(back)
    for call, stand_in in stand_ins.items():
        if call.has(symbol):
            outer = reduced.diff(stand_in)
            if outer != 0:  # substituted back before multiplying: xreplace would rebuild calls through SymPy
                result += outer.xreplace(back) * _call_derivative(call, symbol)
    return result


def _call_derivative(call, symbol):
    cls, args = _PRIMITIVES[call.get_name()], call.args
    total = se.Integer(0)
    for k, arg in enumerate(args):
        inner = derivative_of(arg, symbol)
        if inner != 0:
            outer, template_call = _derivative_template(cls, len(args), k)
            total += outer.xreplace({template_call: call, **dict(zip(_ARGUMENTS, args))}) * inner
    return total


_ARGUMENTS = tuple(se.Symbol(f"arg.{k}") for k in range(64))


@functools.cache
def _derivative_template(cls, arity: int, k: int):
    """(d cls(arg.0, ...) / d arg.k, the call cls(arg.0, ...)) in SymEngine, made once."""
    call = cls(*(sp.Symbol(f"arg.{i}") for i in range(arity)))
    return se.sympify(call.fdiff(k + 1)), se.sympify(call)


def directional_derivative(expr, tangent: dict, memo: dict | None = None):
    """``d/de expr(x + e t)`` at ``e = 0`` for ``tangent = {x_k: t_k}``: forward mode.

    The chain rule leaves shared factors unexpanded (``d tanh(z) = (1 - tanh(z)**2) dz`` with
    ``dz`` once), so the gradient of the result, the Hessian-vector product, costs a few
    gradients; ``sum_j H_ij t_j`` costs the Hessian's non-zeros (n² on a dense problem).
    """
    memo = {} if memo is None else memo
    known = memo.get(expr)
    if known is None:
        known = memo[expr] = _directional(expr, tangent, memo)
    return known


def _directional(expr, tangent: dict, memo: dict):
    if isinstance(expr, se.Symbol):
        return tangent.get(expr, se.Integer(0))
    if not expr.args:
        return se.Integer(0)
    parts = [directional_derivative(a, tangent, memo) for a in expr.args]  # (free_symbols would cost n² in all)
    if all(d == 0 for d in parts):
        return se.Integer(0)
    if isinstance(expr, se.Add):
        return se.Add(*parts)
    if isinstance(expr, se.Mul):
        return se.Add(*(d * se.Mul(*expr.args[:k], *expr.args[k + 1:]) for k, d in enumerate(parts) if d != 0))
    if isinstance(expr, se.Pow):
        (base, exponent), (d_base, d_exponent) = expr.args, parts
        if d_exponent == 0:
            return exponent * base ** (exponent - 1) * d_base
        return expr * (d_exponent * se.log(base) + exponent * d_base / base)
    if isinstance(expr, _CALL):
        cls = _PRIMITIVES[expr.get_name()]
        return se.Add(*(_primitive_partial(expr, cls, k) * d for k, d in enumerate(parts) if d != 0))
    return se.Add(*(_builtin_partial(expr, k) * d for k, d in enumerate(parts) if d != 0))


def _primitive_partial(call, cls, k: int):
    outer, template_call = _derivative_template(cls, len(call.args), k)
    return outer.xreplace({template_call: call, **dict(zip(_ARGUMENTS, call.args))})


def _builtin_partial(call, k: int):
    """``d f(u_0, ...) / d u_k`` of one of SymEngine's own functions, by SymEngine, in stand-ins for
    every argument: SymEngine differentiating ``atan2(-tanh(LogSumExp(a)), u)`` in ``u`` went into
    the primitive call of the other argument and crashed the interpreter (a segmentation fault)."""
    args = call.args
    stand_ins = _ARGUMENTS[:len(args)] if len(args) <= len(_ARGUMENTS) else \
        tuple(se.Symbol(f"arg.{i}") for i in range(len(args)))
    return type(call)(*stand_ins).diff(stand_ins[k]).xreplace(dict(zip(stand_ins, args)))


def differentiate(value, variables, parameters=()) -> Derivatives:
    """All derivatives of ``value`` with respect to the flat ``variables``."""
    variables = tuple(variables)
    index = {s: k for k, s in enumerate(variables)}
    gradient_parts = sparse_gradient(value, index)
    gradient = tuple(gradient_parts.get(k, se.Integer(0)) for k in range(len(variables)))
    hessian = {}
    for done, (i, g) in enumerate(sorted(gradient_parts.items())):
        progress.advance(done, len(gradient_parts))
        for j, entry in sparse_gradient(g, index, lowest=i).items():
            hessian[(i, j)] = entry
    hessian = dict(sorted(hessian.items()))
    # "hvp.v" cannot be the name of an input (inputs are Python identifiers)
    direction = tuple(se.Symbol(f"hvp.v[{k}]") for k in range(len(variables)))
    return Derivatives(variables, tuple(parameters), value, gradient, hessian, direction,
                       hessian_vector_product(value, variables, direction))


def hessian_vector_product(value, variables, direction) -> tuple:
    """``H @ v`` as the gradient of the directional derivative ``grad(value) . v``: never forms H."""
    index = {s: k for k, s in enumerate(variables)}
    parts = sparse_gradient(directional_derivative(value, dict(zip(variables, direction))), index)
    return tuple(parts.get(k, se.Integer(0)) for k in range(len(variables)))


def jacobian(outputs, variables) -> dict:
    """{(row, k): d output_row / d x_k} for a flat tuple of output expressions."""
    index = {s: k for k, s in enumerate(variables)}
    entries = {}
    for row, expr in enumerate(outputs):
        for k, d in sparse_gradient(expr, index).items():
            entries[(row, k)] = d
    return dict(sorted(entries.items()))


@dataclass(frozen=True)
class SumDerivatives:
    """Derivatives of one repeated term (:class:`symhess.loops.SumGroup`) with respect to its slots.

    ``gradient``: ``(slot, d template / d slot)`` for the differentiated slots;
    ``hessian``: ``(slot_a, slot_b, second derivative, positions)`` for ``a <= b``, non-zero,
    where ``positions[m]`` is the position of copy ``m``'s entry in the upper-triangle values;
    ``hvp``: ``(slot, d (template's directional derivative) / d slot)``, in the slots and
    :func:`direction_slot` ``k``, which is ``v`` at slot ``k``'s position; ``blocks``: the Hessian
    entries written as outer products (:class:`Block`), in addition to ``hessian``.
    """

    group: object
    gradient: tuple
    hessian: tuple
    hvp: tuple
    locals: int = 0  # local variables it was differentiated in (0: its variables themselves)
    blocks: tuple = ()  # (Block, its entries' positions in the upper-triangle values, row by row)


_DIRECTION_SLOTS: list = []


def direction_slot(k: int):
    while len(_DIRECTION_SLOTS) <= k:
        _DIRECTION_SLOTS.append(se.Symbol(f"direction.{len(_DIRECTION_SLOTS)}"))
    return _DIRECTION_SLOTS[k]


LOCAL_SLOTS = 16
"""A repeated term of at least this many variables is differentiated in its local variables."""


def _in_slots(group, slots):
    """The repeated term's gradient, Hessian pairs and hvp, differentiated in each of its slots."""
    first = {k: derivative_of(group.template, group.slots[k]) for k in slots}
    gradient = tuple((k, d) for k, d in first.items() if d != 0)
    tangent = {group.slots[k]: direction_slot(k) for k in slots}
    directional = directional_derivative(group.template, tangent)
    product = tuple((k, d) for k in slots if (d := derivative_of(directional, group.slots[k])) != 0)
    pairs = []
    for a, k in enumerate(slots):
        for j in slots[a:]:
            second = derivative_of(first[k], group.slots[j])
            if second != 0:
                pairs.append((k, j, second))
    return gradient, pairs, product


def linear_forms(template, variables):
    """``(reduced, forms)``: the sums in ``template`` that are linear in ``variables`` (``X[s] @ w + b``,
    ``A[i] @ x``), each replaced by a local symbol, ``forms`` mapping each local to its sum; or None
    when that leaves as many local variables as there are variables (nothing to gain)."""
    wanted = set(variables)
    forms: dict = {}

    def linear(node) -> bool:
        if not isinstance(node, se.Add):
            return False
        count = 0
        for term in node.args:
            inside = term.free_symbols & wanted
            if len(inside) > 1:
                return False
            if inside:
                (variable,) = inside
                coefficient = se.expand(term / variable)
                if coefficient.free_symbols & wanted:
                    return False
                count += 1
        return count > 1

    stack = [template]
    seen = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if linear(node):
            forms.setdefault(node, se.Symbol(f"local.{len(forms)}"))
        else:
            stack.extend(node.args)
    if not forms:
        return None
    reduced = template.xreplace(forms)
    direct = [v for v in variables if v in reduced.free_symbols]
    if len(forms) + len(direct) >= len(variables):
        return None
    return reduced, {local: form for form, local in forms.items()}, direct


VECTOR_SLOTS = 4
"""A local variable's coefficients on at least this many variables, evenly spaced data (a row of
``X`` or ``A``), are read by a loop: its pairs with other locals write their Hessian entries as
outer products, not one expression per entry."""


@dataclass(frozen=True)
class Block:
    """``weight * left[r] * right[s]`` added to the Hessian entry of slots ``rows[r]`` and ``cols[s]``
    (only ``s >= r`` when ``triangle``): the outer product of a pair of local variables' coefficients.
    ``left`` or ``right`` is () for a single coefficient, which is folded into ``weight``.

    ``vector``: a rank-one block's coefficients, one expression per row (then ``rows == cols``,
    ``left == right == ()``): ``weight * vector[r] * vector[s]``, the copy's gradient outer product."""

    weight: object
    rows: tuple
    left: tuple
    cols: tuple
    right: tuple
    triangle: bool
    vector: tuple = ()

    @property
    def cells(self) -> list[tuple[int, int]]:
        """The (row, column) indices into ``rows`` and ``cols`` it writes, row by row."""
        return [(r, s) for r in range(len(self.rows)) for s in range(r if self.triangle else 0, len(self.cols))]

    @property
    def entries(self) -> list[tuple[int, int]]:
        """The (row slot, column slot) pairs it writes, row by row."""
        return [(self.rows[r], self.cols[s]) for r, s in self.cells]


def _pieces(group, coefficients: dict):
    """A local variable's coefficients cut for outer products: ``(slots, data slots, factor)`` with the
    coefficients that are evenly spaced data in one array as one piece, each other one alone (its
    coefficient the ``factor``); None when the copies differentiate different variables."""
    slots = sorted(coefficients)
    if any(len(set(group.positions[k])) != 1 for k in slots):
        return None
    index = {slot: k for k, slot in enumerate(group.slots)}
    data = {k: index.get(coefficients[k]) for k in slots}
    run = [k for k in slots if data[k] is not None and group.arrays[data[k]] != "x"]
    if len(run) >= VECTOR_SLOTS and len({group.arrays[data[k]] for k in run}) == 1:
        at = np.array([group.positions[data[k]] for k in run], dtype=np.int64)
        steps = at - at[0]
        if not (steps == steps[1, 0] * np.arange(len(run))[:, None]).all():
            run = []
    else:
        run = []
    vector = [(tuple(run), tuple(group.slots[data[k]] for k in run), se.Integer(1))] if run else []
    return vector + [((k,), (), coefficients[k]) for k in slots if k not in run]


def _blocks(group, second, jacobian, locals_, order):
    """The pairs of local variables' Hessian entries as outer products (:class:`Block`), the entries
    of single coefficients ``(slot, slot, expression)``, and the second derivatives left to expand
    entry by entry (both orders of a pair, as the chain rule sums them)."""
    pieces = {a: _pieces(group, jacobian[a]) for a in locals_}
    blocks, entries, rest = [], [], {}
    for i, a in enumerate(locals_):
        for b in locals_[i:]:
            d = second.get((a, b))
            if d is None:
                continue
            if pieces[a] is None or pieces[b] is None or (a != b and jacobian[a].keys() & jacobian[b].keys()):
                rest[(a, b)] = rest[(b, a)] = d
                continue
            for p, (rows, left, c_rows) in enumerate(pieces[a]):
                for cols, right, c_cols in pieces[b][p if a == b else 0:]:
                    if left or right:
                        blocks.append(Block(d * c_rows * c_cols, rows, left, cols, right, a == b and rows == cols))
                    else:
                        k, j = sorted((rows[0], cols[0]), key=order.__getitem__)
                        entries.append((k, j, d * c_rows * c_cols))
    return blocks, entries, rest


RANK_ONE_LOCALS = 8
"""A repeated term of at least this many local variables is tried as ``F(S)``, ``S`` a sum whose
terms each hold few of them (an MLP's output, a softmax's denominator): see :func:`_composite`."""


def _all_pairs(reduced, locals_, derivative, back):
    """First derivatives in the locals, and every non-zero pair of second derivatives (both orders)."""
    first = {a: derivative(reduced, a) for a in locals_}
    second = {}
    for i, a in enumerate(locals_):
        if first[a] == 0:
            continue
        for b in locals_[i:]:
            d = derivative(first[a], b)
            if d != 0:
                second[(a, b)] = second[(b, a)] = d.xreplace(back)
    return first, second, None


def _composite(reduced, locals_, derivative, group, jacobian):
    """``(S, F'(S), F''(S))`` when ``reduced`` is ``F(S)`` with ``S`` a sum holding every local, whose
    terms each hold few of them, so that the Hessian in the locals is ``F'' dS dS^T + F' d2S`` with
    ``d2S`` sparse (pairs within a term): one rank-one block instead of a block per pair of locals
    (the output of an MLP: 101 locals, 5151 pairs, 100 of them within a term).  None otherwise, or
    when the copies do not all differentiate the same variables (the block's entries are fixed)."""
    wanted = set(locals_)
    if len(locals_) < RANK_ONE_LOCALS:
        return None
    if any(len(set(group.positions[k])) != 1 for a in locals_ for k in jacobian[a]):
        return None
    inner = _smallest_sum_of(reduced, wanted)
    if inner is None:
        return None
    within = sum(len(term.free_symbols & wanted) ** 2 for term in inner.args)
    if 4 * within >= len(locals_) ** 2:
        return None
    stand_in = se.Symbol("inner.sum")
    outer = reduced.xreplace({inner: stand_in})
    if outer.free_symbols & wanted:
        return None
    first = derivative(outer, stand_in)
    return inner, first.xreplace({stand_in: inner}), derivative(first, stand_in).xreplace({stand_in: inner})


def _smallest_sum_of(node, wanted: set):
    """The deepest sum in ``node`` whose free symbols include every one of ``wanted``, the same
    one wherever it occurs (``softplus(S) - y*S``), or None."""
    holders = [arg for arg in node.args if wanted <= arg.free_symbols]
    found = {_smallest_sum_of(holder, wanted) for holder in holders}
    if len(found) == 1 and None not in found:
        return found.pop()
    return node if isinstance(node, se.Add) and not holders else None


@dataclass(frozen=True)
class RankOne:
    """The rank-one part of a composite's Hessian: ``weight * g g^T``, ``inner`` the inner sum's
    gradient in the locals (back-substituted), ``block`` the same over the slots."""

    weight: object
    inner: dict
    block: Block


def _rank_one(composite, locals_, derivative, back, jacobian, group):
    """First derivatives, the sparse second derivatives (``F' d2S``, within the inner sum's terms)
    and the rank-one part (``F'' dS dS^T``) of a composite ``F(S)``."""
    inner, outer_first, outer_second = composite
    position = {a: k for k, a in enumerate(locals_)}
    inner_first: dict = {}
    second: dict = {}
    for term in inner.args:
        held = sorted(term.free_symbols & set(locals_), key=position.__getitem__)
        firsts = {a: derivative(term, a) for a in held}
        for a, d in firsts.items():
            inner_first[a] = inner_first.get(a, 0) + d
        for i, a in enumerate(held):
            for b in held[i:]:
                d = derivative(firsts[a], b)
                if d != 0:
                    second[(a, b)] = second.get((a, b), 0) + d
    outer_first_b, weight = outer_first.xreplace(back), outer_second.xreplace(back)
    second = {pair: outer_first_b * d.xreplace(back) for pair, d in second.items()}
    second.update({(b, a): d for (a, b), d in list(second.items())})
    first = {a: outer_first * inner_first[a] if a in inner_first else se.Integer(0) for a in locals_}
    gradient = {a: d.xreplace(back) for a, d in inner_first.items() if d != 0}
    coefficients: dict = {}
    for a, d in gradient.items():
        for k, c in jacobian[a].items():
            coefficients[k] = coefficients.get(k, 0) + d * c
    if weight == 0:  # F linear: no rank-one part
        return first, second, None
    slots = sorted(coefficients, key=lambda k: group.positions[k][0])  # variable order: rows of the triangle
    block = Block(weight, tuple(slots), (), tuple(slots), (), True, tuple(coefficients[k] for k in slots))
    return first, second, RankOne(weight, gradient, block)


def _through_locals(group, slots, reduced, forms, direct):
    """The repeated term's derivatives by the chain rule through its local variables: the linear
    forms ``u = sum c_k x_k`` and the variables used directly.  ``d2/dx_k dx_j = sum_ab G_ab J_ak J_bj``
    with ``G`` the (small) Hessian in the locals and ``J`` the forms' coefficients, so the term is
    differentiated in a few locals instead of every variable (a data row of an MLP, ``(A[i] @ x)**4``);
    a pair of locals with many coefficients writes its entries as an outer product (:class:`Block`)."""
    slot_of = {group.slots[k]: k for k in slots}
    locals_ = list(forms) + direct
    jacobian = {}  # local -> {slot k: coefficient}
    for local, form in forms.items():
        jacobian[local] = {slot_of[next(iter(term.free_symbols & slot_of.keys()))]:
                           se.expand(term / next(iter(term.free_symbols & slot_of.keys())))
                           for term in form.args if term.free_symbols & slot_of.keys()}
    for variable in direct:
        jacobian[variable] = {slot_of[variable]: se.Integer(1)}
    back = dict(forms)
    derivative = derivative_of if atoms(reduced, _CALL) else (lambda expr, symbol: expr.diff(symbol))
    composite = _composite(reduced, locals_, derivative, group, jacobian)
    if composite is not None:
        first, second, rank_one = _rank_one(composite, locals_, derivative, back, jacobian, group)
    else:
        first, second, rank_one = _all_pairs(reduced, locals_, derivative, back)
    gradient_terms: dict = {}
    for a in locals_:
        if first[a] != 0:
            outer = first[a].xreplace(back)
            for k, c in jacobian[a].items():
                gradient_terms.setdefault(k, []).append(outer * c)
    order = {k: position for position, k in enumerate(slots)}
    blocks, entries, expanded = _blocks(group, second, jacobian, locals_, order)
    if rank_one is not None:
        blocks.append(rank_one.block)
    hessian_terms: dict = {}
    for k, j, d in entries:
        hessian_terms.setdefault((k, j), []).append(d)
    for (a, b), d in expanded.items():
        for k, ck in jacobian[a].items():
            for j, cj in jacobian[b].items():
                if order[k] <= order[j]:
                    hessian_terms.setdefault((k, j), []).append(d * ck * cj)
    along = {a: se.Add(*(c * direction_slot(k) for k, c in jacobian[a].items())) for a in locals_}
    weighted = {a: se.Add(*(second[(a, b)] * along[b] for b in locals_ if (a, b) in second)) for a in locals_}
    if rank_one is not None:  # weight * (g . v) * g, g the inner sum's gradient in the locals
        along_inner = rank_one.weight * se.Add(*(rank_one.inner[a] * along[a] for a in rank_one.inner))
        weighted = {a: weighted[a] + along_inner * rank_one.inner[a] if a in rank_one.inner else weighted[a]
                    for a in locals_}
    product_terms: dict = {}
    for a in locals_:
        if weighted[a] != 0:
            for k, c in jacobian[a].items():
                product_terms.setdefault(k, []).append(weighted[a] * c)
    gradient = tuple((k, se.Add(*gradient_terms[k])) for k in slots if k in gradient_terms)
    pairs = [(k, j, se.Add(*hessian_terms[(k, j)])) for k in slots for j in slots[order[k]:] if (k, j) in hessian_terms]
    product = tuple((k, se.Add(*product_terms[k])) for k in slots if k in product_terms)
    return gradient, pairs, product, blocks


def with_sums(derivs: Derivatives, groups) -> Derivatives:
    """``derivs`` (of the other terms) plus the repeated terms' derivatives, each differentiated once
    in its slots (element assembly: its copies scatter into the positions they occupy)."""
    parts = []
    keys = set(derivs.hessian)
    for done, group in enumerate(groups):
        progress.advance(done, len(groups))
        slots = [k for k, array in enumerate(group.arrays) if array == "x"]
        found = linear_forms(group.template, [group.slots[k] for k in slots]) if len(slots) >= LOCAL_SLOTS else None
        gradient, pairs, product, blocks = (_through_locals(group, slots, *found) if found is not None
                                            else (*_in_slots(group, slots), []))
        count = len(found[1]) + len(found[2]) if found is not None else 0
        at = {k: np.asarray(group.positions[k], dtype=np.int64) for k in slots}  # each slot's positions, once
        rows = [np.minimum(at[k], at[j]) for k, j, _ in pairs]
        cols = [np.maximum(at[k], at[j]) for k, j, _ in pairs]
        for r, c in zip(rows, cols):
            keys.update(zip(r.tolist(), c.tolist()))
        for block in blocks:  # the same variables in every copy: one key per entry
            keys.update(_upper(at, block.entries))
        parts.append((group, gradient, pairs, rows, cols, product, count, blocks, at))
    position = {key: k for k, key in enumerate(sorted(keys))}
    sums = []
    for group, gradient, pairs, rows, cols, product, count, blocks, at in parts:
        hessian = tuple((k, j, second, tuple(position[key] for key in zip(r.tolist(), c.tolist())))
                        for (k, j, second), r, c in zip(pairs, rows, cols))
        placed = tuple((block, tuple(position[key] for key in _upper(at, block.entries))) for block in blocks)
        sums.append(SumDerivatives(group, gradient, hessian, product, count, placed))
    zero = se.Integer(0)
    hessian = {key: derivs.hessian.get(key, zero) for key in sorted(keys)}
    return Derivatives(derivs.variables, derivs.parameters, derivs.value, derivs.gradient, hessian,
                       derivs.direction, derivs.hvp, tuple(sums))


def _upper(at: dict, entries) -> list[tuple[int, int]]:
    """The upper-triangle (row, column) of each (slot, slot) entry of a block (its first copy's)."""
    return [(min(at[k][0], at[j][0]), max(at[k][0], at[j][0])) for k, j in entries]
