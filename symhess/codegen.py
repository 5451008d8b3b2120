"""Stage 4, generate code: deterministic Python/Numba source for every evaluator.

A :class:`NumbaPrinter` prints SymEngine expressions, one ``_print_<Class>``
method per construct and one table of functions; every kernel is common
subexpression eliminated before printing.  The module is plain source text so
that it can be written to a file, imported and cached by Numba.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import symengine as se
from symengine.lib.symengine_wrapper import PyFunction

from . import llvm, progress
from . import native as native_tier  # codegen.native is a function of its own
from .differentiate import Derivatives, direction_slot
from .expressions import atoms, packed
from .loops import ROLL_ITEMS, VECTOR, Item, Loop, OuterProduct, Tables, index_text, kernel_items, loop_symbol, roll
from .tracing.primitives import codes as primitive_codes
from .version import __version__

FUNCTIONS = {
    "sin": "sin", "cos": "cos", "tan": "tan", "asin": "asin", "acos": "acos", "atan": "atan",
    "atan2": "atan2", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "asinh": "asinh",
    "acosh": "acosh", "atanh": "atanh", "log": "log", "erf": "erf", "Abs": "fabs",
    "floor": "floor", "ceiling": "ceil", "sign": "sign",
    # symhess primitives (SymPy functions carried by SymEngine as PyFunction): their ``code``; Abs as ``native`` names it
    **primitive_codes(), "Abs_": "fabs",
}
"""SymEngine function or symhess primitive -> three-address function (see symhess.llvm)."""

COMPARE_OPS = ("lt", "le", "gt", "ge", "eq", "ne")
"""Three-address comparison functions, indexed like ``primitives.COMPARISONS``."""


_PLACE = re.compile(r"(\w+)\[(\d+)")
"""An array element's name and first index in its text (``p[36 + 60*m]``: p, 36)."""

SUM_LANES = 16
TERMS_PER_LANE = 4
"""A long sum (a row of ``A @ x``) is added in up to SUM_LANES interleaved partial sums of at
least TERMS_PER_LANE terms: one chain of additions waits for each addition in turn (4 cycles),
several chains overlap ((A x)^4, n = 200: hvp 84 us with one chain, 63 with 4, 46 with 16)."""


class ThreeAddressPrinter:
    """Prints SymEngine expressions as three-address code: one operation per line.

    One ``_print_<Class>`` method per construct; each returns the name of the
    temporary (or the literal) holding the value and appends the lines it needs.
    """

    def __init__(self, names: dict):
        self.names = names          # Symbol -> "x[3]"-like array element, or a temporary
        self.lines: list[str] = []
        self.memo: dict = {}
        self.count = 0

    def new(self, text: str) -> str:
        name = f"t{self.count}"
        self.count += 1
        self.lines.append(f"    {name} = {text}")
        return name

    def doprint(self, expr) -> str:
        cached = self.memo.get(expr)
        if cached is not None:
            return cached
        method = getattr(self, "_print_" + type(expr).__name__, None)
        if method is None:
            if expr.is_Integer or expr.is_Rational or expr.is_Number:
                method = self._print_number
            elif expr.is_Function:
                method = self._print_function
            else:
                raise NotImplementedError(
                    f"symhess cannot generate code for {type(expr).__name__}: {expr}")
        result = method(expr)
        self.memo[expr] = result
        return result

    def _print_Symbol(self, expr):
        source = self.names[expr]
        return self.new(source) if "[" in source else source

    _print_Dummy = _print_Symbol  # noqa: N815 - SymPy printer naming

    def _print_number(self, expr):
        return _literal(float(expr))

    def _print_NaN(self, expr):  # SymEngine's nan: float() of it is not implemented
        return _literal(math.nan)

    def _print_Exp1(self, expr):
        return _literal(math.e)

    def _print_Pi(self, expr):
        return _literal(math.pi)

    def _print_Add(self, expr):
        terms = expr.args
        count = min(SUM_LANES, len(terms) // TERMS_PER_LANE)
        if count < 2:
            return self._sum(terms)
        terms = sorted(terms, key=self._place)  # in memory order: each step of the lanes reads neighbours
        lanes = [self._sum(terms[k::count]) for k in range(count)]
        while len(lanes) > 1:
            lanes = [self.new(f"{a} + {b}") for a, b in zip(lanes[::2], lanes[1::2])] + lanes[len(lanes) - len(lanes) % 2:]
        return lanes[0]

    def _place(self, term) -> tuple:
        """Where a term's first array element sits (``x[13]``: ("x", 13)); numbers and temporaries first."""
        places = [_PLACE.match(self.names.get(symbol, "")) for symbol in term.free_symbols]
        return min(((m.group(1), int(m.group(2))) for m in places if m), default=("", -1))

    def _sum(self, terms) -> str:
        """``terms`` added one after another."""
        result = None
        for term in terms:
            negated = _negated(term)
            if result is not None and negated is not None:
                result = self.new(f"{result} - {self.doprint(negated)}")
                continue
            text = self.doprint(term)
            result = text if result is None else self.new(f"{result} + {text}")
        return result

    def _print_Mul(self, expr):
        numerator, denominator = [], []
        for factor in expr.args:
            if factor.is_Pow and factor.args[1].is_Number and factor.args[1].is_negative:
                base, exponent = factor.args
                if exponent.is_Integer and exponent != -1:  # a power of 1 / base: no division of its own
                    numerator.append(factor)
                else:
                    denominator.append(base if exponent == -1 else se.Pow(base, -exponent))
            else:
                numerator.append(factor)
        negate = bool(numerator) and numerator[0] == -1
        if negate:
            numerator = numerator[1:]
        result = None
        for factor in numerator:
            text = self.doprint(factor)
            result = text if result is None else self.new(f"{result} * {text}")
        below = None
        for factor in denominator:
            text = self.doprint(factor)
            below = text if below is None else self.new(f"{below} * {text}")
        if below is not None:
            result = self.new(f"{result or '1.0'} / {below}")
        if result is None:
            result = "1.0"
        return self.new(f"-{result}") if negate else result

    def _print_Pow(self, expr):
        base, exponent = expr.args
        if base == se.E:
            half = _halved(exponent)
            if half is not None:  # exp(2a) = exp(a)², and exp(a) is usually needed too
                square = self._exp(half)
                return self.new(f"{square} * {square}")
            return self._exp(exponent)
        if exponent.is_Integer:
            return self._power(base, int(exponent))
        if exponent == se.Rational(1, 2):
            return self.new(f"sqrt({self.doprint(base)})")
        if exponent == se.Rational(-1, 2):
            return self.new(f"1.0 / {self.new(f'sqrt({self.doprint(base)})')}")
        return self.new(f"pow({self.doprint(base)}, {self.doprint(exponent)})")

    def _exp(self, exponent) -> str:
        """``exp(exponent)``, once per printed argument: ``exp(z)`` and the root of ``exp(2 z)`` reach one
        temporary by different expressions when CSE named ``z`` in one and not in the other (the
        logistic loss's hvp computed exp twice per sample)."""
        argument = self.doprint(exponent)
        key = ("exp", argument)
        known = self.memo.get(key)
        if known is None:
            known = self.memo[key] = self.new(f"exp({argument})")
        return known

    def _power(self, base, n: int) -> str:
        """``base**n`` for an integer ``n``: a product of the squares ``base**(2**k)``, which
        every power of ``base`` shares.  A negative ``n`` takes the squares of ``1 / base``: one
        division per base, however many of its powers divide (a division costs several products)."""
        result, k, bit = None, abs(n), 1 if n >= 0 else -1
        while k:
            if k & 1:
                factor = self._square_power(base, bit)
                result = factor if result is None else self.new(f"{result} * {factor}")
            k, bit = k >> 1, 2 * bit
        return result or "1.0"

    def _square_power(self, base, m: int) -> str:
        """``base**m`` for ``m`` = ±2**k, kept in the memo."""
        key = ("power", base, m)
        known = self.memo.get(key)
        if known is None:
            if m in (1, -1):
                known = self.doprint(base) if m == 1 else self.new(f"1.0 / {self.doprint(base)}")
            else:
                half = self._square_power(base, m // 2)
                known = self.new(f"{half} * {half}")
            self.memo[key] = known
        return known

    def _print_function(self, expr):
        name = expr.get_name() if type(expr).__name__ in ("PyFunction", "FunctionSymbol") else type(expr).__name__
        if name == "StopGradient":
            return self.doprint(expr.args[0])
        if name == "Compare":
            code, a, b = expr.args
            return self.new(f"{COMPARE_OPS[int(float(code))]}({self.doprint(a)}, {self.doprint(b)})")
        if name == "Abs" and type(expr).__name__ == "PyFunction":
            name = "Abs_"
        target = FUNCTIONS.get(name)
        if target is None:
            raise NotImplementedError(f"symhess has no code for the function {name}")
        args = ", ".join(self.doprint(a) for a in expr.args)
        return self.new(f"{target}({args})")


def _halved(exponent):
    """``exponent / 2`` when every term of ``exponent`` has an even integer coefficient, else None."""
    if exponent.is_Number:
        return None
    half = se.expand(exponent / 2)
    for term in (half.args if isinstance(half, se.Add) else (half,)):
        coefficient = term.args[0] if term.is_Mul and term.args[0].is_Number else (term if term.is_Number else None)
        if coefficient is not None and not coefficient.is_Integer:
            return None
    return half


def _literal(value: float) -> str:
    if value != value:
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def _negated(term):
    """``-term`` when ``term`` is a product with a negative number in front, else None."""
    if term.is_Mul and term.args[0].is_Number and term.args[0].is_negative:
        return -term
    return None


FACTOR_TERMS = 256
"""Sums with more terms are left as they are by :func:`factor_common` (its greedy step is quadratic)."""


def factor_common(expr, memo: dict):
    """``expr`` with the factors its sums' terms share taken out, greedily (``a*b*c + a*b*d -
    a*e`` becomes ``a*(b*(c + d) - e)``): fewer products for the code generator.  Derivatives
    of pair potentials are sums of such terms (a pair's ``(x_a - x_b) * q`` times several
    powers of its distance).  ``memo`` holds the subexpressions done so far."""
    known = memo.get(expr)
    if known is not None:
        return known
    args = tuple(factor_common(a, memo) for a in expr.args)
    if isinstance(expr, se.Add) and len(args) <= FACTOR_TERMS:
        result = _factored_sum(list(args))
    elif args == expr.args:
        result = expr
    elif isinstance(expr, (se.Add, se.Mul, se.Pow)):
        result = type(expr)(*args)
    else:  # a function call: its arguments replaced in place
        result = expr.xreplace(dict(zip(expr.args, args)))
    memo[expr] = result
    return result


def _factored_sum(terms: list):
    """The sum of ``terms``, the factor most of them share taken out, recursively."""
    shared = Counter(f for term in terms for f in set(_factors(term)) if not f.is_Number).most_common(1)
    if not shared or shared[0][1] < 2:
        return se.Add(*terms)
    factor = shared[0][0]
    inside, outside = [], []
    for term in terms:
        factors = list(_factors(term))
        if factor in factors:
            factors.remove(factor)
            inside.append(se.Mul(*factors))
        else:
            outside.append(term)
    return factor * _factored_sum(inside) + (_factored_sum(outside) if outside else 0)


def _factors(term) -> tuple:
    return term.args if isinstance(term, se.Mul) else (term,)


@dataclass(frozen=True)
class Kernel:
    """One generated function: its name, arguments, and what it writes and returns."""

    name: str
    arguments: tuple[str, ...]
    outputs: tuple[tuple[str, object], ...]  # (target like "g[3]", expression)
    returns: object                           # expression returned (the value)
    loops: tuple = ()                         # repeated terms' contributions, added after the outputs


def kernels(derivs: Derivatives, tables: Tables) -> tuple[Kernel, ...]:
    """The four evaluators every compiled function has (gradient and Hessian kernels return 0: unused)."""
    grad = tuple((f"g[{k}]", e) for k, e in enumerate(derivs.gradient))
    hess = tuple((f"h[{k}]", e) for k, e in enumerate(derivs.hessian.values()))
    hvp = tuple((f"hv[{k}]", e) for k, e in enumerate(derivs.hvp))
    value, gradient, hessian, product = sum_loops(derivs.sums, tables)
    zero = se.Integer(0)
    every = (  # "c": the lifted constants of repeated terms (CONSTANTS in the module), not an argument
        Kernel("value", ("x", "p", "c"), (), derivs.value, value),
        Kernel("gradient", ("x", "p", "g", "c"), grad, zero, gradient),
        Kernel("hessian", ("x", "p", "h", "c"), hess, zero, hessian),
        Kernel("hvp", ("x", "p", "v", "hv", "c"), hvp, derivs.value, value + product),
    )
    if not _writes_dense(derivs):
        return every
    n = len(derivs.variables)
    both = sorted({(i, j) for i, j in derivs.hessian} | {(j, i) for i, j in derivs.hessian})
    full = tuple((f"H[{i * n + j}]", derivs.hessian[min(i, j), max(i, j)]) for i, j in both)
    return (*every, Kernel("hessian_full", ("x", "p", "H", "c"), full, zero))


def _writes_dense(derivs: Derivatives) -> bool:
    return len(derivs.variables) <= DENSE_DIRECT_MAX and not derivs.sums


def constant_table(sums) -> list:
    """The lifted constants of the repeated terms, each group at its offset (one 0.0 if none)."""
    size = max([part.group.offset + len(part.group.constants) for part in sums], default=0)
    table = [0.0] * max(size, 1)
    for part in sums:
        table[part.group.offset:part.group.offset + len(part.group.constants)] = part.group.constants
    return table


def sum_loops(sums, tables: Tables) -> tuple[tuple, tuple, tuple, tuple]:
    """Loops adding the repeated terms (:class:`symhess.differentiate.SumDerivatives`) to the
    value, the gradient, the Hessian values and the Hessian-vector product; positions that are
    not evenly spaced are read from ``tables``."""
    memo: dict = {}
    value, gradient, hessian, product = [], [], [], []
    for part in sums:
        group = part.group
        count = group.count
        directions = {direction_slot(k): loop_symbol("v", *tables.index(group.positions[k])) for k, _ in part.hvp}
        expressions = [group.template, *(d for _, d in part.gradient), *(d for *_, d, _ in part.hessian),
                       *(d for _, d in part.hvp), *(e for block, _ in part.blocks for e in (block.weight, *block.vector))]
        bodies = iter(_at_loop(expressions, {**group.loop_symbols(tables), **directions}, memo))
        value.append(Loop(count, (("return", 0, 0, True, next(bodies)),)))
        gradient.append(Loop(count, tuple(("g", *tables.index(group.positions[k]), True, next(bodies))
                                          for k, _ in part.gradient)))
        stores = tuple(("h", *tables.index(positions), True, next(bodies)) for *_, positions in part.hessian)
        product.append(Loop(count, tuple(("hv", *tables.index(group.positions[k]), True, next(bodies))
                                         for k, _ in part.hvp)))
        hessian.append(Loop(count, stores, tuple(outer_product(group, block, placed, next(bodies), tables,
                                                               tuple(next(bodies) for _ in block.vector))
                                                 for block, placed in part.blocks)))
    return tuple(value), tuple(gradient), tuple(hessian), tuple(product)


def outer_product(group, block, placed, weight, tables: Tables, vector=()) -> OuterProduct:
    """A :class:`~symhess.differentiate.Block` as the loop prints it: its coefficients read at
    evenly spaced positions (a rank-one block's ``vector``: from its local array), its entries at
    ``row base + stride*j`` or from a table of positions."""
    at = np.full((len(block.rows), len(block.cols)), -1, dtype=np.int64)
    at[tuple(np.array(block.cells).T)] = placed
    if vector:
        target = _entry_text(at, block.triangle, tables)
        return OuterProduct(weight, at.shape[0], at.shape[1], f"{VECTOR}[0 + 1*k]", f"{VECTOR}[0 + 1*j]", target,
                            block.triangle, vector)
    left, right = _coefficient_text(group, block.left, "k", tables), _coefficient_text(group, block.right, "j", tables)
    if left is not None and right is None:  # the loop of one coefficient vector is j's
        at, left, right = at.T, right, _coefficient_text(group, block.left, "j", tables)
    target = _entry_text(at, block.triangle, tables)
    return OuterProduct(weight, at.shape[0], at.shape[1], left, right, target, block.triangle)


def _coefficient_text(group, data: tuple, variable: str, tables: Tables) -> str | None:
    """``p[17 + 40*m + 1*k]``: the coefficients ``data`` (slots evenly spaced in one array) read with
    ``variable``; None for a single coefficient (folded into the weight)."""
    if not data:
        return None
    first, second = group.slots.index(data[0]), group.slots.index(data[1])
    stride = group.positions[second][0] - group.positions[first][0]
    return f"{group.arrays[first]}[{index_text(*tables.index(group.positions[first]))} + {stride}*{variable}]"


def _entry_text(at: np.ndarray, triangle: bool, tables: Tables) -> str:
    """Where entry (k, j) goes: ``row base + stride*j`` when every row's positions are evenly spaced
    by one stride (a dense block), else a table of every entry's position."""
    rows, cols = at.shape
    first = [k if triangle else 0 for k in range(rows)]
    steps = {int(at[k, j + 1] - at[k, j]) for k in range(rows) for j in range(first[k], cols - 1)}
    if len(steps) <= 1:
        stride = steps.pop() if steps else 1
        bases = [int(at[k, first[k]]) - stride * first[k] for k in range(rows)]
        row = index_text(*tables.index(bases, "k"), "k") if rows > 1 else str(bases[0])
        return f"{row} + {stride}*j"
    offset = tables.place(np.maximum(at, 0).ravel().tolist())
    return f"int(c[{offset} + {cols}*k + 1*j])" if rows > 1 else f"int(c[{offset} + 1*j])"


def _at_loop(expressions: list, symbols: dict, memo: dict) -> list:
    """A repeated term's expressions with its slots as loop symbols, in one SymEngine pass (a
    term of many variables has thousands of Hessian entries); primitive calls made native."""
    replaced = packed(expressions).xreplace(symbols)
    if not atoms(expressions[0], PyFunction):  # none in the term: none in its derivatives
        return list(replaced.args)
    calls = atoms(replaced, PyFunction)
    return list(replaced.xreplace({call: _native_call(call, memo) for call in calls}).args)


def element_positions(names: dict) -> dict:
    """``{symbol: (array, index)}`` of ``{symbol: "x[3]"}``."""
    return {symbol: (text[:text.index("[")], int(text[text.index("[") + 1:-1])) for symbol, text in names.items()}


def symbol_positions(derivs: Derivatives) -> dict:
    """``{symbol: (array, index)}``: the variables in ``x``, the parameters in ``p``, the direction in ``v``."""
    positions = {s: ("x", k) for k, s in enumerate(derivs.variables)}
    positions.update({s: ("p", k) for k, s in enumerate(derivs.parameters)})
    positions.update({s: ("v", k) for k, s in enumerate(derivs.direction)})
    return positions


STRAIGHT_ITEMS = 4000   # kernels with more items are rolled without printing them straight to compare
COMPACT_LINES = 200     # a rolled body this short leaves the work to its loops: no comparison needed
LOOP_ADVANTAGE = 1.5    # loops run vectorised: rolled wins while it executes at most 1.5x the operations


def kernel_body(kernel: Kernel, names: dict, positions: dict | None = None) -> list[str]:
    """Three-address code of one kernel's body.

    Straight-line code (one CSE over the whole kernel) below ``ROLL_ITEMS`` items; loops
    over the repeated formulas (:mod:`symhess.loops`) for repeated terms of a sum and for
    large kernels.  Between, whichever executes fewer operations, loops counted with a
    ``LOOP_ADVANTAGE`` (chained Rosenbrock's loops run vectorised at n = 100; a cluster's
    pair loops repeat the work that straight code shares between pairs).
    """
    outputs, zeroed = kernel.outputs, {}
    if kernel.loops:  # repeated terms add to their entries: every entry zeroed first, the others set
        for target, _ in outputs:
            zeroed[target[:target.index("[")]] = zeroed.get(target[:target.index("[")], 0) + 1
        outputs = tuple((target, e) for target, e in outputs if e != 0)
    items = kernel_items(kernel.returns, outputs)
    if len(items) < ROLL_ITEMS and not kernel.loops:
        return straight_body(kernel, names)
    originals = {("return", 0): kernel.returns}
    originals.update({(t[:t.index("[")], int(t[t.index("[") + 1:-1])): e for t, e in outputs})
    rolled = rolled_body(items, names, kernel.loops, originals, zeroed, positions)
    if kernel.loops or len(rolled) <= COMPACT_LINES or len(items) > STRAIGHT_ITEMS:
        return rolled
    straight = straight_body(kernel, names)
    return rolled if executed_lines(rolled) <= LOOP_ADVANTAGE * executed_lines(straight) else straight


_LOOP = re.compile(r"^    for m in range\((\d+)\):$")


def executed_lines(body: list[str]) -> int:
    """Lines a call executes: a loop's body counts once per trip."""
    total, trips = 0, 1
    for line in body:
        loop = _LOOP.match(line)
        if loop is not None:
            trips = int(loop.group(1))
            continue
        trips = trips if line.startswith("        ") else 1
        total += trips
    return total


_VALUE_STORE = re.compile(r"^    h\[(\d+)\] = (\S+)$")


def dense_body(values_body: list[str], pairs: list, n: int) -> list[str] | None:
    """The dense kernel's body from the straight-line body of the Hessian values: each store
    ``h[k] = t`` becomes the stores of both triangles, with no second CSE of the same
    expressions.  None if the values' body has loops."""
    if any(line.lstrip().startswith("for ") for line in values_body):
        return None
    body = []
    for line in values_body:
        match = _VALUE_STORE.match(line)
        if match is None:
            body.append(line)
            continue
        (i, j), atom = pairs[int(match.group(1))], match.group(2)
        body += [f"    H[{i * n + j}] = {atom}"] + ([f"    H[{j * n + i}] = {atom}"] if i != j else [])
    return body


def kernel_source(kernel: Kernel, body: list[str]) -> list[str]:
    """A kernel's three-address code and its Numba wrapper."""
    arguments = ", ".join(kernel.arguments)
    outer = ", ".join(a for a in kernel.arguments if a != "c")
    inner = ", ".join("CONSTANTS" if a == "c" else a for a in kernel.arguments)
    code_name = kernel.name.upper() + "_CODE"
    return [f'{code_name} = """',
            f"def {kernel.name}({arguments}):", *body, '"""',
            f"_{kernel.name} = kernel({kernel.arguments!r}, {code_name})",
            "",
            "",
            "@numba.njit(**_JIT)",
            f"def {kernel.name}({outer}):",
            f"    return _{kernel.name}({inner})",
            "", ""]


def straight_body(kernel: Kernel, names: dict) -> list[str]:
    """One straight line of code for the whole kernel, common subexpressions shared throughout;
    printed as it is and with common factors taken out of its sums, the shorter of the two."""
    expressions = [kernel.returns] + [e for _, e in kernel.outputs]
    memo: dict = {}
    factored = [factor_common(e, memo) for e in expressions]
    bodies = [_straight_lines(kernel, names, expressions)]
    if factored != expressions:
        bodies.append(_straight_lines(kernel, names, factored))
    return min(bodies, key=len)


def _straight_lines(kernel: Kernel, names: dict, expressions: list) -> list[str]:
    replacements, reduced = se.cse(expressions)
    local = dict(names)
    printer = ThreeAddressPrinter(local)
    for temp, expr in replacements:
        local[temp] = printer.doprint(expr)
    for (target, _), expr in zip(kernel.outputs, reduced[1:]):
        printer.lines.append(f"    {target} = {printer.doprint(expr)}")
    printer.lines.append(f"    return {printer.doprint(reduced[0])}")
    return printer.lines


def rolled_body(items, names: dict, extra_loops=(), originals=None, zeroed=None, positions=None) -> list[str]:
    """Loops over the repeated formulas (see :mod:`symhess.loops`), straight-line code for the rest.

    ``extra_loops`` (repeated terms of a sum) add to targets the items have already set.
    ``originals`` (target, index) -> expression: a split sum none of whose terms rolled is
    printed as it was (splitting distributes products over sums, which costs operations).
    ``zeroed``: array -> length, set to zero first (one loop each).  ``positions``: each name's
    ``(array, index)``, read from ``names`` unless given (a module's kernels share them).
    """
    positions = positions or element_positions(names)
    straight, loops = roll(items, positions)
    if originals:
        straight = _unsplit(straight, loops, originals)
        rolled = _rolled(loops)
        items = straight + [item for item in items if item.accumulate and (item.target, item.index) in rolled]
    loops = _fuse(loops) + _fuse([loop for loop in extra_loops if loop.stores or loop.blocks])  # sets, then additions
    printer = ThreeAddressPrinter(dict(names))
    for array, size in (zeroed or {}).items():
        printer.lines += [f"    for m in range({size}):", f"        {array}[0 + 1*m] = 0.0"]
    accumulated = sorted({(i.target, i.index) for i in items if i.accumulate}
                         | {("return", 0) for loop in extra_loops for store in loop.stores if store[0] == "return"})
    printer.lines += [f"    {_target(t, k)} = 0.0" for t, k in accumulated]
    value = _emit(printer, _merged(straight), block=0)
    for number, loop in enumerate(loops, start=1):
        outside, start = dict(printer.memo), len(printer.lines)
        bodies = [store[4] for store in loop.stores] + [block.weight for block in loop.blocks]
        for symbol in packed(bodies).free_symbols:  # one pass over the loop's stores
            printer.names.setdefault(symbol, str(symbol))
        weights = [f"w{number}_{q}" for q in range(len(loop.blocks))]
        vectors = {}  # a rank-one product's weight -> its local array
        for weight, block in zip(weights, loop.blocks):
            if block.vector:
                vectors[weight] = f"vec{weight[1:]}"
                printer.lines.append(f"    {vectors[weight]} = zeros({len(block.vector)})")
        _emit(printer, [(_target(target, index_text(base, stride)), accumulate, body)
                        for target, base, stride, accumulate, body in loop.stores]
              + [(weight, False, block.weight) for weight, block in zip(weights, loop.blocks)]
              + [(f"{vectors[weight]}[{r}]", False, e) for weight, block in zip(weights, loop.blocks)
                 for r, e in enumerate(block.vector)], block=number)
        for weight, block in zip(weights, loop.blocks):
            printer.lines += _outer_product_lines(block, weight, vectors.get(weight))
        printer.lines[start:] = ["    " + line for line in printer.lines[start:]]
        printer.lines.insert(start, f"    for m in range({loop.count}):")
        printer.memo = outside
    returns_sum = ("return", 0) in accumulated
    if returns_sum and value is not None:
        printer.lines.append(f"    acc += {value}")
    printer.lines.append(f"    return {'acc' if returns_sum else value or '0.0'}")
    return printer.lines


def _outer_product_lines(block: OuterProduct, weight: str, vector: str | None = None) -> list[str]:
    """The nested loops of one outer product (in a loop body, before its indentation); ``vector``:
    the name of a rank-one product's local array."""
    lines, indent, scaled = [], "    ", weight
    left, right = (text.replace(VECTOR, vector) if vector and text else text for text in (block.left, block.right))
    if left is not None:
        lines += [f"    for k in range({block.rows}):", f"        {weight}k = {left}",
                  f"        {weight}s = {weight} * {weight}k"]
        indent, scaled = "        ", f"{weight}s"
    start = "k, " if block.triangle else ""
    return [*lines, f"{indent}for j in range({start}{block.cols}):", f"{indent}    {weight}j = {right}",
            f"{indent}    {weight}t = {scaled} * {weight}j", f"{indent}    h[{block.target}] += {weight}t"]


def _fuse(loops) -> list:
    """One loop per trip count, so that stores of the same iteration share subexpressions."""
    stores: dict = {}
    blocks: dict = {}
    for loop in loops:
        stores.setdefault(loop.count, []).extend(loop.stores)
        blocks.setdefault(loop.count, []).extend(loop.blocks)
    return [Loop(count, tuple(s), tuple(blocks[count])) for count, s in sorted(stores.items())]


def _rolled(loops) -> set:
    return {(target, base + stride * m) for loop in loops for target, base, stride, _, _ in loop.stores
            for m in range(loop.count)}


def _unsplit(straight, loops, originals) -> list:
    """Straight items, with the terms of a sum that stayed entirely straight put back as the original sum."""
    rolled = _rolled(loops)
    kept, whole = [], {}
    for item in straight:
        key = (item.target, item.index)
        if item.accumulate and key not in rolled:
            whole[key] = Item(item.target, item.index, False, originals[key])
        else:
            kept.append(item)
    return kept + list(whole.values())


def _merged(items) -> list:
    """Straight-line stores, one per target: the terms of a split sum that did not roll are summed again."""
    sums: dict = {}
    for item in items:
        sums.setdefault((item.target, item.index, item.accumulate), []).append(item.expr)
    return [(_target(target, index), accumulate, se.Add(*terms)) for (target, index, accumulate), terms in sums.items()]


def _target(target: str, index) -> str:
    return "acc" if target == "return" else f"{target}[{index}]"


def _emit(printer, stores, block: int):
    """Print ``target (+)= expr`` lines with common subexpressions shared; the returned value's temporary."""
    memo: dict = {}
    replacements, reduced = se.cse([factor_common(expr, memo) for _, _, expr in stores]) if stores else ([], [])
    # CSE names its temporaries x0, x1, ... in every block: rename them apart, in one pass
    unique = {temp: se.Symbol(f"cse{block}.{k}") for k, (temp, _) in enumerate(replacements)}
    expressions = [expr for _, expr in replacements] + list(reduced)
    if unique:
        expressions = list(packed(expressions).xreplace(unique).args)
    for (temp, _), expr in zip(replacements, expressions):
        printer.names[unique[temp]] = printer.doprint(expr)
    value = None
    for (target, accumulate, _), expr in zip(stores, expressions[len(replacements):]):
        text = printer.doprint(expr)
        if target == "acc" and not accumulate:
            value = text
        else:
            printer.lines.append(f"    {target} {'+=' if accumulate else '='} {text}")
    return value


DENSE = '''
@numba.njit(**_JIT)
def hessian_dense(x, p):
    """The dense symmetric Hessian in one call."""
    out = np.zeros((N, N))
{fill}
    return out
'''

SCATTER = '''
ROWS = np.array({rows}, dtype=np.int64)
COLS = np.array({cols}, dtype=np.int64)
TRIANGLE = {triangle}  # ROWS, COLS: the whole upper triangle row by row (scattered without them)


@numba.njit(**_JIT)
def scatter(h, out):
    """The upper triangle's values ``h`` into both triangles of the zeroed ``out``: a dense triangle
    by two nested loops (half the time of reading the tables: 5 against 10 us at N = 114)."""
    if TRIANGLE:
        k = 0
        for row in range(N):
            for col in range(row, N):
                out[row, col] = h[k]
                out[col, row] = h[k]
                k += 1
    else:
        for k in range(NNZ):
            out[ROWS[k], COLS[k]] = h[k]
            out[COLS[k], ROWS[k]] = h[k]


@numba.njit(parallel=True, **_BATCH)
def hessian_dense_batch(X, P):
    """Dense Hessians of a batch: each point's values in a small array of its own, which stays
    in cache for the scatter (one B x NNZ array was as large again as the output)."""
    out = np.empty((X.shape[0], N, N))
    for b in numba.prange(X.shape[0]):
        out[b] = 0.0  # zeroed by the thread that fills it, while in cache: one pass over memory
        values = np.empty(NNZ)
        _hessian(X[b], P[b % P.shape[0]], values, CONSTANTS)
        scatter(values, out[b])
    return out
'''

DIRECT = '''
@numba.njit(parallel=True, **_BATCH)
def hessian_dense_batch(X, P):
    out = np.empty((X.shape[0], N * N))
    for b in numba.prange(X.shape[0]):
        out[b] = 0.0  # zeroed by the thread that fills it, while in cache: one pass over memory
        _hessian_full(X[b], P[b % P.shape[0]], out[b], CONSTANTS)
    return out.reshape(X.shape[0], N, N)
'''

FILL_SCATTER = """
    h = np.empty(NNZ)  # the upper triangle's values, scattered to both triangles of the zeroed out
    _hessian({x}, {p}, h, CONSTANTS)
    scatter(h, out)"""

FILL_DIRECT = """
    _hessian_full({x}, {p}, out.reshape(N * N), CONSTANTS)  # the non-zeros of both triangles"""

POINT = '''
NO_PARAMETERS = np.zeros(0)


@numba.njit(**_JIT)
def hessian_into(x, out):
    """Entries of a function without parameters: few arguments for Numba to check, and the
    caller allocates ``out`` (zeros, N x N), which is cheaper than boxing a returned array.
    Compiled for contiguous float64 vectors; True when done."""
    if x.shape[0] != N:
        raise ValueError("x has the wrong length")
{fill}
    return True


@numba.njit(**_JIT)
def hvp_into(x, v, out):
    if x.shape[0] != N or v.shape[0] != N:
        raise ValueError("x or v has the wrong length")
    return _hvp(x, NO_PARAMETERS, v, out, CONSTANTS)
'''

DENSE_DIRECT_MAX = 128
"""Up to this many variables a kernel writes the dense Hessian's non-zeros itself (no values array, no scatter)."""


BATCHED = '''
@numba.njit(parallel=True, **_BATCH)
def {name}_batch(X, P, {outs}, values):
    for b in numba.prange(X.shape[0]):
        values[b] = {name}(X[b], P[b % P.shape[0]], {rows})
'''


@functools.cache
def backend_fingerprint() -> str:
    """Hash of the modules that turn three-address code into machine code (``llvm``, ``native``):
    in the module's header, so that machine code cached for a module (Numba's, tier 0's) is never
    reused by a symhess that would compile the same source differently."""
    digest = hashlib.sha256()
    for module in (llvm, native_tier):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


def header(n: int, nnz: int) -> list[str]:
    return [
        f"# Generated by symhess {__version__}. Do not edit: regenerated from the trace.",
        f"# Machine code by symhess's LLVM backend {backend_fingerprint()}.",
        "import math",
        "",
        "import numba",
        "import numpy as np",
        "",
        "from symhess.llvm import kernel",
        "",
        '_JIT = dict(cache=True, nogil=True, error_model="numpy")',
        '_BATCH = dict(cache=True, nogil=True, error_model="numpy")',
        f"N = {n}",
        f"NNZ = {nnz}",
        "",
    ]


def native(expr, memo: dict):
    """``expr`` with symhess's primitives (SymPy functions) as SymEngine's own function symbols.

    Same names, same printing; but SymEngine rebuilds them without calling back into
    SymPy, which makes CSE and the loop templates (:mod:`symhess.loops`) fast.
    ``memo`` holds the calls converted so far (the same calls recur in every derivative).
    """
    calls = atoms(expr, PyFunction)
    if not calls:
        return expr
    return expr.xreplace({call: _native_call(call, memo) for call in calls})


def _native_call(call, memo: dict):
    converted = memo.get(call)
    if converted is None:
        name = call.get_name()
        converted = memo[call] = se.Function("Abs_" if name == "Abs" else name)(
            *(native(a, memo) for a in call.args))
    return converted


def native_derivatives(derivs: Derivatives) -> Derivatives:
    """:func:`native` of every expression, in one pass over all of them (:func:`packed`)."""
    n, entries = len(derivs.gradient), len(derivs.hessian)
    expressions = native(packed([derivs.value, *derivs.gradient, *derivs.hessian.values(), *derivs.hvp]), {}).args
    return replace(derivs, value=expressions[0], gradient=tuple(expressions[1:1 + n]),
                   hessian=dict(zip(derivs.hessian, expressions[1 + n:1 + n + entries])),
                   hvp=tuple(expressions[1 + n + entries:]))


def generate(derivs: Derivatives) -> str:
    """The complete module source for ``derivs``."""
    derivs = native_derivatives(derivs)
    positions = symbol_positions(derivs)
    names = {symbol: f"{array}[{index}]" for symbol, (array, index) in positions.items()}
    lines = header(len(derivs.variables), len(derivs.hessian))
    tables = Tables(constant_table(derivs.sums))
    sources = []
    bodies = {}
    every = kernels(derivs, tables)
    for done, kernel in enumerate(every):
        progress.advance(done, len(every))
        body = None
        if kernel.name == "hessian_full":
            body = dense_body(bodies["hessian"], list(derivs.hessian), len(derivs.variables))
        bodies[kernel.name] = body or kernel_body(kernel, names, positions)
        sources += kernel_source(kernel, bodies[kernel.name])
    lines += [f"REPEATED_TERMS = {len(derivs.sums)}  # sums of one formula differentiated once (symhess.loops)",
              f"CONSTANTS = np.array({tables.values!r}, dtype=np.float64)  # their lifted data, then tables of positions",
              "", *sources]
    direct = _writes_dense(derivs)
    fill = (FILL_DIRECT if direct else FILL_SCATTER).strip("\n")
    rows, cols = [i for i, _ in derivs.hessian], [j for _, j in derivs.hessian]
    n = len(derivs.variables)
    triangle = len(rows) == n * (n + 1) // 2 and [tuple(a) for a in np.triu_indices(n)] == [tuple(rows), tuple(cols)]
    batch = DIRECT if direct else SCATTER.format(rows=rows, cols=cols, triangle=triangle)
    templates = [batch, DENSE.format(fill=fill.format(x="x", p="p"))]
    if not derivs.parameters:
        templates.append(POINT.format(fill=fill.format(x="x", p="NO_PARAMETERS")))
    for template in templates:
        lines += [*template.strip("\n").split("\n"), "", ""]
    for name, outs in (("value", ()), ("gradient", ("G",)), ("hessian", ("H",)),
                       ("hvp", ("V", "HV"))):
        out_args = ", ".join(outs) if outs else "_"
        rows = ", ".join(f"{o}[b]" for o in outs)
        call = BATCHED.format(name=name, outs=out_args, rows=rows)
        if not outs:
            call = call.replace("X[b], P[b % P.shape[0]], )", "X[b], P[b % P.shape[0]])")
        lines += [*call.strip("\n").split("\n"), ""]
    return "\n".join(lines) + "\n"


def generate_jacobian(outputs, variables, parameters, entries: dict) -> str:
    """A module with ``jacobian(x, p, y, j)``: output values and sparse Jacobian values."""
    names = {s: f"x[{k}]" for k, s in enumerate(variables)}
    names.update({s: f"p[{k}]" for k, s in enumerate(parameters)})
    stores = tuple((f"y[{k}]", e) for k, e in enumerate(outputs)) + tuple(
        (f"j[{k}]", e) for k, e in enumerate(entries.values()))
    kernel = Kernel("jacobian", ("x", "p", "y", "j"), stores, se.Integer(0))
    lines = header(len(variables), len(entries)) + kernel_source(kernel, kernel_body(kernel, names))
    return "\n".join(lines) + "\n"
