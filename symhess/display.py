"""Readable views of a compiled function: terminal pictures, LaTeX, sparsity text and plot.

Small problems are shown whole. Large ones are shown as the first entries of the
gradient, the top-left corner of the Hessian and the first terms of long sums, with
a note saying what was left out, so that a terminal or a notebook never fills with
thousands of symbols. Zero Hessian entries are drawn as structure (``·``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import symengine as se
import sympy as sp

SHOW_ENTRIES = 8
"""Gradient entries and Hessian rows/columns shown unless ``full``."""
SHOW_TERMS = 12
"""Terms of a long sum shown unless ``full``."""
PICTURE_CELLS = 64
"""Widest sparsity picture in characters; larger patterns are drawn by blocks."""
LABELLED = 24
"""Sparsity pictures up to this size name each row's variable."""
PLOT_NAME_SIZE = 5.0
"""Sparsity plots label their axes with variable names when these fit at this font size (points)."""
PLOT_MISSING = 'plotting the sparsity pattern needs matplotlib: pip install "symhess[plot]"'


@dataclass(frozen=True)
class Style:
    """How one medium draws zeros and the marks of left-out entries and terms."""

    zero: str
    across: str
    down: str
    diagonal: str
    more: str

    def mark(self, name: str) -> sp.Symbol:
        return sp.Symbol(getattr(self, name))


UNICODE = Style(zero="·", across="⋯", down="⋮", diagonal="⋱", more="…")
ASCII = Style(zero="0", across="...", down=":", diagonal="\\", more="...")
LATEX = Style(zero=r"{\cdot}", across=r"\cdots", down=r"\vdots", diagonal=r"\ddots", more=r"\cdots")


class Elided(sp.Expr):
    """The first terms of a long sum, printed in order and followed by a ``…`` term."""

    def _print_terms(self, printer, *_):
        terms, mark = self.args
        return printer._print_Add(sp.Add(*terms, mark, evaluate=False), order="none")

    _pretty = _latex = _sympystr = _print_terms


@dataclass(frozen=True)
class View:
    """Something to show, and what was left out of it (empty when nothing was)."""

    value: object
    note: str = ""


# ----- expressions ------------------------------------------------------------------
def shorten(expr, style: Style, limit: int | None):
    """``expr`` with every sum of more than ``limit`` terms cut to its first ``limit``."""
    if limit is None or not expr.args:
        return expr
    if expr.is_Add and len(expr.args) > limit:
        terms = sorted(expr.args, key=reading_order)[:limit]
        return Elided(sp.Tuple(*(shorten(t, style, limit) for t in terms)), style.mark("more"))
    args = [shorten(a, style, limit) for a in expr.args]
    return expr.func(*args) if args != list(expr.args) else expr


def reading_order(term):
    """Terms of ``x[0]`` before those of ``x[1]``, ``x[2]`` before ``x[10]``: the order of the source's sum."""
    symbols = sorted(tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s.name))
                     for s in term.free_symbols)
    return symbols, sp.default_sort_key(term)


def count_cut_sums(expr) -> int:
    return sum(isinstance(e, Elided) for e in sp.preorder_traversal(expr))


def _terms_note(shown) -> str:
    cut = sum(count_cut_sums(e) for e in shown)
    return f"sums of more than {SHOW_TERMS} terms cut to their first {SHOW_TERMS}" if cut else ""


def _join(*notes) -> str:
    return "; ".join(n for n in notes if n)


def _derivatives(f):
    """The simplified SymEngine derivatives (derived again after a disk-cache hit)."""
    return f.shown_derivatives()


def expression_view(f, style: Style, full: bool) -> View:
    expr = shorten(f.expression, style, None if full else SHOW_TERMS)
    return View(expr, _terms_note([expr]))


def gradient_view(f, style: Style, full: bool) -> View:
    gradient = _derivatives(f).gradient
    n = len(gradient)
    k = n if full else min(n, SHOW_ENTRIES)
    limit = None if full else SHOW_TERMS
    entries = [shorten(g._sympy_(), style, limit) for g in gradient[:k]]
    note = f"first {k} of {n} entries" if k < n else ""
    if k < n:
        entries.append(style.mark("down"))
    return View(sp.ImmutableMatrix(entries), _join(note, _terms_note(entries)))


def hessian_view(f, style: Style, full: bool) -> View:
    derivs = _derivatives(f)
    n = len(derivs.variables)
    k = n if full else min(n, SHOW_ENTRIES)
    limit = None if full else SHOW_TERMS
    upper = {key: e for key, e in derivs.hessian.items() if key[0] < k and key[1] < k}
    shown = {key: shorten(e._sympy_(), style, limit) for key, e in upper.items()}
    zero = style.mark("zero")

    def entry(i, j):
        if i < k and j < k:
            return shown.get((min(i, j), max(i, j)), zero)
        if i < k or j < k:
            return style.mark("across" if j == k else "down")
        return style.mark("diagonal")

    size = k + (k < n)
    matrix = sp.ImmutableMatrix(size, size, entry)
    note = f"first {k} of {n} rows and columns" if k < n else ""
    return View(matrix, _join(note, _terms_note(shown.values())))


# ----- printing -----------------------------------------------------------------------
def latex_names(*exprs) -> dict:
    """``x[0, 1]`` -> ``x_{0,1}`` for every symbol of ``exprs``."""
    names = {}
    for expr in exprs:
        for symbol in getattr(expr, "free_symbols", ()):
            name, _, index = symbol.name.partition("[")
            if index:
                base = sp.latex(sp.Symbol(name))
                base = f"{{{base}}}" if "_" in base or "^" in base else base  # x_{data}: no double subscript
                names[symbol] = f"{base}_{{{index.rstrip(']').replace(' ', '')}}}"
    return names


def to_latex(expr) -> str:
    return sp.latex(expr, symbol_names=latex_names(expr))


def pretty(expr, style: Style, width: int = 100) -> str:
    return sp.pretty(expr, use_unicode=style is UNICODE, num_columns=width)


def pretty_matrix(matrix, names: list[str], style: Style, width: int) -> str:
    """A matrix as SymPy draws it, or, when that is wider than ``width``, one entry per line."""
    picture = pretty(matrix, style, width=10**6)
    if max(map(len, picture.splitlines())) <= width:
        return picture
    d, two = ("∂", "²") if style is UNICODE else ("d", "2")
    rows, cols = matrix.shape
    k = min(rows, len(names))
    if cols == 1:
        labelled = [(f"{d}f/{d}{names[i]}", matrix[i, 0]) for i in range(k)]
    else:
        labelled = [(f"{d}{two}f/{d}{names[i]}" + (two if i == j else f"{d}{names[j]}"), matrix[i, j])
                    for i in range(k) for j in range(i, k) if matrix[i, j] != style.mark("zero")]
    lines = [pretty(sp.Eq(sp.Symbol(label), entry, evaluate=False), style, width) for label, entry in labelled]
    if rows > k:
        lines.append(style.down)
    return "\n".join(lines)


def latex(f, full: bool = False, hint: str = "f.latex(full=True) shows all") -> str:
    """LaTeX lines ``f = …``, ``∇f = …``, ``∇²f = …`` (large problems cut, with a note)."""
    parts = (("f", expression_view), (r"\nabla f", gradient_view), (r"\nabla^2 f", hessian_view))
    lines, notes = [], []
    for name, view in parts:
        shown = view(f, LATEX, full)
        lines.append(f"{name} = {to_latex(shown.value)}")
        notes += [shown.note] if shown.note else []
    if notes:
        lines.append(rf"\text{{({_join(*dict.fromkeys(notes))}; {hint})}}")
    return r"\\ ".join(lines)


def repr_latex(f) -> str:
    """The notebook picture: a one-line summary above the (cut) expressions."""
    lines = latex(f).split(r"\\ ")
    aligned = r"\\ ".join(_align(line) for line in [summary_latex(f), *lines])
    return rf"$\displaystyle \begin{{aligned}}{aligned}\end{{aligned}}$"


def _align(line: str) -> str:
    return line.replace(" = ", " &= ", 1) if not line.startswith(r"\text") else "&" + line


def summary_latex(f) -> str:
    inputs = []
    for k, spec in enumerate(f._specs):
        space = r"\mathbb{R}" + ("^{" + r"\times ".join(map(str, spec.shape)) + "}" if spec.shape else "")
        role = "" if k in f.wrt else r"\ \text{(parameter)}"
        inputs.append(rf"{sp.latex(sp.Symbol(spec.name))} \in {space}{role}")
    stats = f.stats
    n, upper = stats["n"], stats["nonzeros"]
    listed = r",\ ".join(inputs)
    return (rf"\text{{symhess.Compiled: }} {listed}"
            rf"\quad n = {n},\ {upper}\ \text{{Hessian non-zeros (upper triangle)}}")


# ----- sparsity ------------------------------------------------------------------------
def pattern_indices(f) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of every structural non-zero (both triangles), in row-major order."""
    layout = f._built.layout
    off = layout.rows != layout.cols
    rows = np.concatenate([layout.rows, layout.cols[off]])
    cols = np.concatenate([layout.cols, layout.rows[off]])
    order = np.lexsort((cols, rows))
    return rows[order], cols[order]


def sparsity_summary(n: int, rows: np.ndarray, cols: np.ndarray) -> str:
    nnz, upper = len(rows), int(np.count_nonzero(rows <= cols))
    bandwidth = int(np.abs(rows - cols).max()) if nnz else 0
    density = 100.0 * nnz / (n * n) if n else 0.0
    return (f"{n}×{n}, {nnz} structural non-zeros ({upper} in the upper triangle), {density:.3g}% dense, "
            f"bandwidth {bandwidth}")


def sparsity_text(f, full: bool = False, style: Style = UNICODE) -> str:
    """The pattern as characters: one per entry when it fits, else one per block."""
    names = [str(v) for v in f.variables]
    n = len(names)
    rows, cols = pattern_indices(f)
    lines = [sparsity_summary(n, rows, cols)]
    filled, empty = "#", "." if style is ASCII else style.zero
    if n <= PICTURE_CELLS or full:
        grid = np.full((n, n), empty, dtype=object)
        grid[rows, cols] = filled
        if n <= LABELLED:
            width = max(map(len, names), default=0)
            return "\n".join(lines + [f"{name:>{width}}  {' '.join(row)}" for name, row in zip(names, grid)])
        return "\n".join(lines + ["".join(row) for row in grid])
    block = math.ceil(n / PICTURE_CELLS)
    cells = math.ceil(n / block)
    counts = np.zeros((cells, cells), dtype=np.int64)
    np.add.at(counts, (rows // block, cols // block), 1)
    sizes = np.diff(np.minimum(np.arange(cells + 1) * block, n))
    full_blocks = counts == np.outer(sizes, sizes)
    lines.append(f"each character is a {block}×{block} block: '#' all non-zero, '+' some, '{empty}' none")
    picture = np.where(full_blocks, "#", np.where(counts > 0, "+", empty))
    return "\n".join(lines + ["".join(row) for row in picture])


def sparsity_latex(f) -> str:
    """A LaTeX matrix of bullets for small patterns; large ones as a comment picture."""
    n = len(f.variables)
    if n > LABELLED:
        return "\n".join("% " + line for line in sparsity_text(f, style=ASCII).splitlines())
    grid = [[r"\cdot"] * n for _ in range(n)]
    for i, j in zip(*pattern_indices(f)):
        grid[i][j] = r"\bullet"
    body = r" \\ ".join(" & ".join(row) for row in grid)
    return rf"\left[\begin{{matrix}}{body}\end{{matrix}}\right]"


def plot_sparsity(f, ax=None):
    """Draw the Hessian's structural non-zeros (a spy plot) on ``ax`` or a new figure."""
    if ax is None:
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError(PLOT_MISSING) from None
        _, ax = plt.subplots()
    names = [str(v) for v in f.variables]
    n = len(names)
    box = ax.get_window_extent()
    cell = 0.9 * min(box.width, box.height) * 72 / ax.figure.dpi / max(n, 1)
    layout = f._built.layout
    total = 0
    for label, (rows, cols) in _filled_by(layout).items():
        total += len(rows)
        ax.plot(cols, rows, linestyle="none", marker="s", markersize=max(cell, 0.5), color=f"C{label}",
                label=_fill_name(layout, label))
    if layout.patterns:
        ax.legend(loc="upper right", fontsize="small", markerscale=max(4 / max(cell, 0.5), 1))
    for position, strength in _boundaries(f):
        for line in (ax.axhline, ax.axvline):
            line(position - 0.5, color="0.1" if strength else "0.45", linewidth=1.2 if strength else 0.6, zorder=3)
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_aspect("equal")
    size = min(10.0, 0.75 * min(box.width, box.height) * 72 / ax.figure.dpi / max(n, 1))
    if size >= PLOT_NAME_SIZE:  # the names fit
        ax.set_xticks(range(n), names, rotation=90, fontsize=size)
        ax.set_yticks(range(n), names, fontsize=size)
    else:
        from matplotlib.ticker import MaxNLocator

        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"Hessian sparsity: {n}×{n}, {total} structural non-zeros")
    return ax


def _filled_by(layout) -> dict:
    """``{label: (rows, cols)}`` of the non-zeros (both triangles) each repeated term fills (0: the others)."""
    fills = np.asarray(layout.fills, dtype=np.int64) if layout.fills else np.zeros(len(layout.rows), dtype=np.int64)
    groups = {}
    for label in np.unique(fills):
        chosen = fills == label
        rows, cols = layout.rows[chosen], layout.cols[chosen]
        off = rows != cols
        groups[int(label)] = (np.concatenate([rows, cols[off]]), np.concatenate([cols, rows[off]]))
    return groups


def _fill_name(layout, label: int) -> str:
    if label == 0:
        return "other terms"
    pattern = layout.patterns[label - 1]
    return f"{pattern['instances']} copies of a {pattern['variables']}×{pattern['variables']} block"


def _boundaries(f) -> list[tuple[int, bool]]:
    """Lines between the differentiated inputs (strong) and between the rows of an input of two or
    more dimensions, e.g. the atoms of an (N, 3) array of positions (light)."""
    lines = []
    for k, i in enumerate(f.wrt):
        start, shape = f._offsets[k], f._specs[i].shape
        if k:
            lines.append((start, True))
        if len(shape) >= 2 and shape[-1] > 1 and np.prod(shape) > shape[-1]:
            lines += [(start + r * shape[-1], False) for r in range(1, int(np.prod(shape[:-1])))]
    return lines


def new_figure():
    """A matplotlib figure not tied to pyplot's global state (for writing files)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(PLOT_MISSING) from None
    return Figure(figsize=(6, 6), layout="constrained")


# ----- stats and source -------------------------------------------------------------
def operation_counts(f) -> dict:
    """Operations of the value, gradient and Hessian together, before and after CSE."""
    derivs = _derivatives(f)
    expressions = [derivs.value, *derivs.gradient, *derivs.hessian.values()]
    replacements, reduced = se.cse(expressions)
    after = sum(se.count_ops(e) for _, e in replacements) + sum(se.count_ops(e) for e in reduced)
    return {"operations_before_cse": int(sum(se.count_ops(e) for e in expressions)),
            "operations_after_cse": int(after)}


def seconds_text(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def stats_text(stats: dict) -> str:
    """The stats dictionary as aligned lines, seconds in readable units."""
    n, nnz = stats["n"], stats["nonzeros"]
    upper = n * (n + 1) // 2
    lines = [f"variables        {n} (parameters: {stats['parameters']})",
             f"Hessian          {nnz} structural non-zeros of {upper} upper-triangle entries "
             f"({100.0 * nnz / max(upper, 1):.3g}%)",
             f"simplification   {stats['simplify']}",
             f"cache            {'hit: loaded from disk' if stats['cache_hit'] else 'miss: compiled now'}"]
    if "operations_before_cse" in stats:
        lines.append(f"operations       {stats['operations_before_cse']} before CSE, "
                     f"{stats['operations_after_cse']} after (value, gradient and Hessian)")
    for pattern in stats.get("patterns", ()):
        lines.append(f"repeated term    {pattern['instances']} copies of a {pattern['variables']} x "
                     f"{pattern['variables']} block ({pattern['hessian_entries']} non-zeros), differentiated once "
                     f"in {pattern['locals']} local variables: {pattern['formula']}")
    lines.append("seconds per stage")
    stages = sorted(stats["seconds"].items(), key=lambda item: item[0] == "total")  # the total last
    lines += [f"  {stage:<15}{seconds_text(s):>10}" for stage, s in stages]
    return "\n".join(lines)


def source_text(source: str, full: bool, limit: int = 300) -> View:
    lines = source.splitlines()
    if full or len(lines) <= limit:
        return View(source.rstrip("\n"))
    return View("\n".join(lines[:limit]), f"first {limit} of {len(lines)} lines")
