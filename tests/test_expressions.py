"""Walks over expression graphs: each shared subexpression once, however deep the nesting."""

import symengine as se

from symhess import expressions
from symhess.expressions import atoms, exact_text, nodes


def nested(depth: int):
    """``y = sin(y) * b + c * y``, ``depth`` times: a graph of ~5 nodes per level, a tree of 2^depth."""
    a, b, c = se.symbols("a b c")
    y = a
    for _ in range(depth):
        y = se.sin(y) * b + c * y
    return y


def test_nodes_visits_a_shared_subexpression_once_after_its_operands():
    y = nested(40)  # as a tree 2^40 nodes: a walk of the tree would not end
    order = nodes(y)
    assert len(order) == len(set(order)) < 6 * 40
    position = {node: k for k, node in enumerate(order)}
    assert all(position[arg] < position[node] for node in order for arg in node.args)
    assert order[-1] == y


def test_nodes_goes_deeper_than_pythons_recursion_limit():
    x = se.Symbol("x")
    y = x
    for k in range(5000):
        y = y * x + k  # nested 5000 deep
    assert len(nodes(y)) > 5000


def test_nodes_can_stop_at_chosen_subexpressions():
    a, b = se.symbols("a b")
    assert set(nodes(se.sin(a + b) * a, inner=lambda node: node.args if isinstance(node, se.Mul) else ())) == {
        se.sin(a + b) * a, se.sin(a + b), a}


def test_atoms_agree_with_symengines_on_small_and_large_trees(monkeypatch):
    y = nested(6)
    expected = y.atoms(se.Function), y.atoms(se.Symbol, se.Pow)
    assert (atoms(y, se.Function), atoms(y, se.Symbol, se.Pow)) == expected  # SymEngine's own walk
    monkeypatch.setattr(expressions, "TREE_WALK_OPS", 0)
    assert (atoms(y, se.Function), atoms(y, se.Symbol, se.Pow)) == expected  # the graph walk
    assert len(atoms(nested(40), se.Function)) == 40


def test_exact_text_tells_expressions_apart_and_is_linear_in_the_graph(monkeypatch):
    a, b = se.symbols("a b")
    assert exact_text(se.sin(a) * b) == str(se.sin(a) * b)  # small: SymEngine's text
    monkeypatch.setattr(expressions, "TEXT_OPS", 0)
    texts = {exact_text(e) for e in (se.sin(a) * b, se.cos(a) * b, se.sin(b) * a, se.sin(a) + b, a**2 * b, a**3 * b)}
    assert len(texts) == 6
    assert exact_text(se.sin(a) * b) == exact_text(se.sin(a) * b)
    assert len(exact_text(nested(40)).splitlines()) < 6 * 40


def test_constants_one_bit_apart_are_compiled_apart():
    """The cache key writes floating-point constants exactly: ``str`` keeps about 16 digits, so
    0.1 and the next double shared a key, and the second function ran with the first's constant."""
    import numpy as np

    import symhess

    x = np.ones(2)
    for a in (0.1, 1e-10):  # SymEngine writes 1e-10 without a dot
        b = float(np.nextafter(a, 1.0))
        assert str(se.RealDouble(a)) == str(se.RealDouble(b)), "str now tells them apart"
        fa = symhess.compile(lambda x, a=a: a * (x ** 2).sum(), x)
        fb = symhess.compile(lambda x, b=b: b * (x ** 2).sum(), x)
        assert fa.value(x) == 2 * a
        assert fb.value(x) == 2 * b
