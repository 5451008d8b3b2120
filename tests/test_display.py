"""Notebook and terminal views: LaTeX, cut views of large problems, sparsity text and plot."""

import re
import sys

import numpy as np
import pytest
import sympy as sp
from scipy.optimize import rosen

import symhess
from symhess import display


def pow_reducer(x):
    return x.pow(3).sum()


@pytest.fixture(scope="module")
def small():
    return symhess.compile(pow_reducer, np.zeros((2, 2)))


@pytest.fixture(scope="module")
def large():
    return symhess.compile(rosen, np.zeros(70))


def balanced(latex: str) -> bool:
    return latex.count("{") == latex.count("}") and latex.count(r"\begin") == latex.count(r"\end")


def test_small_latex_is_whole(small):
    text = small.latex()
    assert "f = x_{0,0}^{3} + x_{0,1}^{3}" in text
    assert r"\nabla^2 f = \left[\begin{matrix}6 x_{0,0} & {\cdot}" in text
    assert r"\cdots" not in text and balanced(text)


def test_large_latex_is_cut_with_a_note(large):
    text = large.latex()
    assert r"\vdots" in text and r"\ddots" in text and "first 8 of 70 rows and columns" in text
    assert "x_{69}" not in text and balanced(text)
    whole = large.latex(full=True)
    assert "x_{69}" in whole and r"\ddots" not in whole and len(whole) > 5 * len(text)


def test_repr_latex_summarises(small, large):
    for f, n in ((small, 4), (large, 70)):
        text = f._repr_latex_()
        assert text.startswith(r"$\displaystyle \begin{aligned}") and text.endswith("$") and balanced(text)
        assert f"n = {n}" in text
    assert r"x \in \mathbb{R}^{2\times 2}" in small._repr_latex_()


def test_parameter_names_with_underscores_stay_valid_latex():
    x_data = sp.Symbol("x_data[0, 1]")
    assert display.latex_names(x_data**2)[x_data] == "{x_{data}}_{0,1}"


def test_long_sums_keep_their_first_terms_in_reading_order(large):
    shown = display.expression_view(large, display.UNICODE, full=False)
    text = display.pretty(shown.value, display.UNICODE, width=10**6)
    assert "…" in text
    assert text.index("x[0]") < text.index("x[2]") < text.index("x[5]") and "x[10]" not in text
    assert shown.note == "sums of more than 12 terms cut to their first 12"


def test_hessian_view_draws_zeros_and_elisions(large):
    matrix = display.hessian_view(large, display.UNICODE, full=False).value
    assert matrix.shape == (9, 9)
    assert str(matrix[0, 2]) == "·" and str(matrix[8, 8]) == "⋱" and str(matrix[0, 8]) == "⋯"
    x0, x1 = sp.symbols("x[0] x[1]")
    assert sp.expand(matrix[0, 0] - (1200 * x0**2 - 400 * x1 + 2)) == 0


def test_wide_matrices_become_one_entry_per_line(small):
    matrix = display.hessian_view(small, display.UNICODE, full=False).value
    names = [str(v) for v in small.variables]
    assert "⎡" in display.pretty_matrix(matrix, names, display.UNICODE, width=100)
    lines = display.pretty_matrix(matrix, names, display.UNICODE, width=20).splitlines()
    assert [line.split(" = ")[0].strip() for line in lines if "=" in line] == [
        f"∂²f/∂{n}²" for n in names]


def test_sparsity_text_small_names_rows(small):
    lines = display.sparsity_text(small).splitlines()
    assert lines[0].startswith("4×4, 4 structural non-zeros")
    assert lines[1:] == ["x[0, 0]  # · · ·", "x[0, 1]  · # · ·", "x[1, 0]  · · # ·", "x[1, 1]  · · · #"]


def test_sparsity_text_large_draws_blocks(large):
    lines = display.sparsity_text(large).splitlines()
    assert "bandwidth 1" in lines[0] and "2×2 block" in lines[1]
    picture = lines[2:]
    assert len(picture) == 35 and all(len(row) == 35 for row in picture)
    assert [row[k] for k, row in enumerate(picture)] == ["#"] * 35  # diagonal blocks of a tridiagonal
    assert picture[0][2] == "·" and picture[0][1] == "+"
    assert len(display.sparsity_text(large, full=True).splitlines()) == 1 + 70


def test_pattern_indices_match_sparsity(large):
    rows, cols = display.pattern_indices(large)
    assert (np.array(np.nonzero(large.sparsity)) == np.array([rows, cols])).all()


def test_stats_text_is_readable(small):
    text = display.stats_text({**small.stats, **display.operation_counts(small)})
    assert "4 structural non-zeros of 10 upper-triangle entries" in text
    assert re.search(r"operations\s+\d+ before CSE, \d+ after", text)
    assert re.search(r"total\s+[\d.]+ (µs|ms|s)$", text)
    assert display.seconds_text(2.5e-5) == "25 µs" and display.seconds_text(3.25) == "3.25 s"


def test_plot_sparsity_draws_the_pattern(small, monkeypatch):
    pytest.importorskip("matplotlib", reason="plotting needs matplotlib (the plot extra)")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import matplotlib.pyplot as plt

    ax = small.plot_sparsity()
    try:
        (line,) = [line for line in ax.lines if line.get_marker() == "s"]  # the others: boundaries between inputs
        assert list(line.get_xdata()) == [0, 1, 2, 3] == list(line.get_ydata())
        assert [t.get_text() for t in ax.get_xticklabels()] == [str(v) for v in small.variables]
        assert "4 structural non-zeros" in ax.get_title()
    finally:
        plt.close(ax.figure)


def test_plot_sparsity_without_matplotlib_says_what_to_install(small, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=re.escape('pip install "symhess[plot]"')):
        small.plot_sparsity()


def test_plot_sparsity_colours_repeated_terms_and_draws_blocks(monkeypatch):
    """Pairs of 6 atoms (15 copies of a 6 x 6 block) in their own colour, lines between atoms."""
    pytest.importorskip("matplotlib", reason="plotting needs matplotlib (the plot extra)")
    from symhess import loops, pipeline

    monkeypatch.setattr(pipeline, "_MEMORY", {})
    monkeypatch.setattr(loops, "SUM_TERMS", 10)

    def energy(P):
        s = ((P[:, None] - P[None]) ** 2).sum(-1)[np.triu_indices(6, 1)]
        return (s**-6 - s**-3).sum()

    P = np.stack([np.cos(np.arange(6.0)), np.sin(np.arange(6.0)), 0.3 * np.arange(6.0)], axis=1) * 1.5
    f = symhess.compile(energy, P, cache=False)
    figure = display.new_figure()
    ax = f.plot_sparsity(figure.add_subplot())
    (cells,) = [line for line in ax.lines if line.get_marker() == "s"]
    assert cells.get_label() == "15 copies of a 6×6 block" and len(cells.get_xdata()) == 18 * 18
    boundaries = [line for line in ax.lines if line.get_marker() != "s"]
    assert len(boundaries) == 2 * 5  # between the 6 atoms, across and down
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["15 copies of a 6×6 block"]
