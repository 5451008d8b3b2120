"""Loops over repeated structure (symhess.loops): same numbers as fully unrolled code."""

import itertools
import math
import re

import numpy as np
import pytest
import symengine as se

import symhess
from symhess import codegen, loops, pipeline


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def logistic_nll(w, X, y):
    z = X @ w
    return (np.logaddexp(0, z) - y * z).sum() + 0.5 * (w**2).sum()


def pair_energy(r):
    d = r[:, None, :] - r[None, :, :]
    s = (d**2).sum(axis=-1) + np.eye(r.shape[0])
    return (np.triu(s**-6 - s**-3, 1)).sum() + np.abs(r).sum() + np.maximum(r, 0.1).sum()


@pytest.fixture(params=["derivative items", "repeated terms of the sum"])
def rolled(monkeypatch, request):
    """Compile with every kernel rolled into loops, without caches that hold unrolled kernels.

    Either the derivatives' items are rolled (loops.roll), or the value's repeated terms are
    differentiated once each (loops.sum_groups, differentiate.with_sums).
    """
    def compile_rolled(func, *inputs, **options):
        monkeypatch.setattr(pipeline, "_MEMORY", {})
        monkeypatch.setattr(codegen, "ROLL_ITEMS", 0)
        monkeypatch.setattr(codegen, "LOOP_ADVANTAGE", math.inf)
        monkeypatch.setattr(loops, "MIN_RUN", 3)
        monkeypatch.setattr(loops, "SUM_TERMS", 10 if request.param == "repeated terms of the sum" else 10**9)
        return symhess.compile(func, *inputs, cache=False, **options)
    compile_rolled.mode = request.param
    return compile_rolled


DATA = np.cos(np.arange(40.0)).reshape(10, 4)


def logistic_with_captured_data(w):
    """The data are constants of the trace: lifted into a table so that the rows share one template."""
    z = DATA @ w
    return (np.logaddexp(0, z) - (np.arange(10.0) % 2) * z).sum()


CASES = {
    "logistic (data captured as constants)": (logistic_with_captured_data, (np.linspace(-0.5, 0.5, 4),), {}),
    "rosenbrock": (rosenbrock, (np.linspace(-1, 1, 12),), {}),
    "logistic (data as parameters)": (
        logistic_nll, (np.linspace(-0.5, 0.5, 4), np.cos(np.arange(40.0)).reshape(10, 4), np.arange(10.0) % 2),
        {"wrt": 0}),
    "pairs with abs and maximum": (pair_energy, (np.cos(np.arange(15.0)).reshape(5, 3) * 2,), {}),
}


@pytest.mark.parametrize("name", CASES)
def test_rolled_kernels_agree_with_unrolled(name, rolled):
    func, inputs, options = CASES[name]
    if "captured" in name and rolled.mode == "derivative items":
        pytest.skip("constants are lifted out of repeated terms of the value only, not out of derivative items")
    reference = symhess.compile(func, *inputs, **options)
    f = rolled(func, *inputs, **options)
    assert f.stats["loops"] > 0 and reference.source != f.source
    assert (f.stats["repeated_terms"] > 0) == (loops.SUM_TERMS < 10**9)
    rng = np.random.default_rng(0)
    for _ in range(2):
        x = inputs[0] + 0.1 * rng.standard_normal(inputs[0].shape)
        args = (x, *inputs[1:])
        v = rng.standard_normal(x.shape)
        np.testing.assert_allclose(f.value(*args), reference.value(*args), rtol=1e-12)
        np.testing.assert_allclose(f.gradient(*args), reference.gradient(*args), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(f.hessian(*args), reference.hessian(*args), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(f.hvp(*args, v=v)[1], reference.hvp(*args, v=v)[1], rtol=1e-10, atol=1e-12)


def test_runs_follow_constant_strides(monkeypatch):
    monkeypatch.setattr(loops, "MIN_RUN", 3)
    x = se.symbols("x0:6")
    positions = {s: ("x", k) for k, s in enumerate(x)}
    items = [loops.Item("h", k, False, x[k] * x[k + 1]) for k in range(5)] + [loops.Item("h", 9, False, x[0] ** 3)]
    straight, rolled = loops.roll(items, positions)
    assert [item.expr for item in straight] == [x[0] ** 3]
    (loop,) = rolled
    assert loop.count == 5
    (target, base, stride, accumulate, body) = loop.stores[0]
    assert (target, base, stride, accumulate) == ("h", 0, 1, False)
    assert body == loops.loop_symbol("x", 0, 1) * loops.loop_symbol("x", 1, 1)


def test_broken_strides_stay_unrolled():
    x = se.symbols("x0:40")
    positions = {s: ("x", k) for k, s in enumerate(x)}
    squares = [k * k for k in range(6)]  # indices 0, 1, 4, 9, ...: no constant stride
    items = [loops.Item("g", k, False, se.sin(x[i])) for k, i in enumerate(squares)]
    straight, rolled = loops.roll(items, positions)
    assert rolled == [] and len(straight) == len(items)


def test_large_sums_are_accumulated_term_by_term():
    x = se.symbols("x0:20")
    total = se.Add(*[se.exp(s) for s in x])
    items = loops.kernel_items(total, (("g[0]", se.sin(x[0])),))
    assert sum(item.accumulate for item in items) == 20
    assert [item.target for item in items if not item.accumulate] == ["g"]


def test_a_shared_sum_is_distributed_once():
    """Distributing a sum wherever it occurs copies it: 2^depth terms for a nested function."""
    b, c = se.symbols("b c")
    shared = se.Add(*se.symbols(f"s0:{loops.SPLIT_TERMS + 2}"))
    expr = b * shared + c * shared
    terms = loops._terms(expr)
    assert len(terms) == len(shared.args) + 1 and se.expand(se.Add(*terms) - expr) == 0


def test_runs_are_found_along_columns_when_rows_are_short():
    """y[k] * X[k, j] * w[j]: sorted by X's index, runs have 4 members (one row); by w's, 10 (one column)."""
    members = [((0, 4 * k + j, 40 + k, j), None) for k in range(10) for j in range(4)]
    runs = loops._best_runs(members)
    assert len(runs) == 4 and all(len(run) == 10 for run in runs)


def tanh_network_loss(theta):
    """An MLP's loss over 12 data rows: SymEngine writes tanh(-u) as -tanh(u), row by row as the data's signs fall."""
    inputs = np.hstack([np.cos(np.arange(1.0, 25.0)).reshape(12, 2) * 3, np.ones((12, 1))])
    hidden = np.tanh(inputs @ theta[:9].reshape(3, 3).T)
    return ((hidden @ theta[9:12] + theta[12] - np.sin(np.arange(1.0, 13.0))) ** 2).sum()


def test_rows_with_odd_functions_of_either_sign_share_one_template(monkeypatch):
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    monkeypatch.setattr(loops, "BIG_TERM", 4)
    theta = np.linspace(-1, 1, 13)
    f = symhess.compile(tanh_network_loss, theta, cache=False)
    reference = symhess.compile(tanh_network_loss, theta, cache=False, simplify="none")
    assert f.stats["repeated_terms"] == 1
    signs = {len(re.findall(r"-theta\[\d+\]\*tanh", str(term))) for term in symhess.trace(tanh_network_loss, theta).args}
    assert len(signs) > 1, "the example no longer has rows of both signs"
    v = np.cos(np.arange(13.0))
    np.testing.assert_allclose(f.hessian(theta), reference.hessian(theta), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(f.hvp(theta, v=v)[1], reference.hvp(theta, v=v)[1], rtol=1e-12, atol=1e-12)


def test_a_data_rows_products_stay_whole_terms_of_the_value():
    """``y_k * (x_k . w)`` with runtime data is one term per row, not one per feature (the
    value's terms are templated one by one: 10,000 rows of 10 features took 5 s more)."""
    w = se.symbols("w0:12")
    rows = [(se.symbols(f"X{k}_0:12"), se.Symbol(f"y{k}")) for k in range(30)]
    z = [se.Add(*(a * b for a, b in zip(X, w))) for X, _ in rows]
    value = se.Add(*(se.log(1 + se.exp(zk)) - y * zk for zk, (_, y) in zip(z, rows)))
    assert len(loops._terms(value, loops.SUM_TERMS)) == 2 * len(rows)
    mean = se.Add(*(zk**2 for zk in z)) / len(rows)  # a number in front: distributed over the rows
    assert len(loops._terms(mean, loops.SUM_TERMS)) == len(rows)


def test_positions_that_are_not_evenly_spaced_go_to_a_table():
    tables = loops.Tables([0.5])
    assert tables.index([3, 5, 7]) == (3, 2) and tables.values == [0.5]
    assert tables.index([4, 1, 9]) == ("int(c[1 + 1*m])", None)
    assert tables.index([4, 1, 9]) == ("int(c[1 + 1*m])", None) and tables.values == [0.5, 4.0, 1.0, 9.0]


def cluster_energy(x):
    """Lennard-Jones energy of 8 atoms written as users do: every pair, through np.triu_indices."""
    P = x.reshape(-1, 3)
    D = P[:, None] - P[None]
    s = (D**2).sum(-1)[np.triu_indices(P.shape[0], 1)]
    return (4 * (s**-6 - s**-3)).sum()


def cluster_hessian(x):
    """The same energy's Hessian by hand: pair blocks 2 phi'(s) I + 4 phi''(s) r r^T."""
    P = x.reshape(-1, 3)
    H = np.zeros((x.size, x.size))
    for i, j in zip(*np.triu_indices(P.shape[0], 1)):
        r = P[i] - P[j]
        s = r @ r
        block = 2 * 4 * (-6 * s**-7 + 3 * s**-4) * np.eye(3) + 4 * 4 * (42 * s**-8 - 12 * s**-5) * np.outer(r, r)
        for a, b, sign in ((i, i, 1), (j, j, 1), (i, j, -1), (j, i, -1)):
            H[3 * a:3 * a + 3, 3 * b:3 * b + 3] += sign * block
    return H


def test_every_pair_of_a_cluster_is_one_loop_through_tables(monkeypatch):
    """Pairs (i, j) are not evenly spaced: once a loop for each run of a row, now one loop reading
    positions from tables, and the pair's formula differentiated once (element assembly)."""
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    monkeypatch.setattr(loops, "SUM_TERMS", 20)
    x = (np.stack(np.meshgrid(*[np.arange(2)] * 3), -1).reshape(-1, 3) * 1.1).reshape(-1)
    x = x + 0.03 * np.sin(np.arange(x.size))
    f = symhess.compile(cluster_energy, x, cache=False)
    assert f.stats["repeated_terms"] == 1 and "x[int(c[" in f.source and "h[int(c[" in f.source
    H = cluster_hessian(x)
    np.testing.assert_allclose(f.hessian(x), H, rtol=1e-11, atol=1e-9 * np.abs(H).max())
    v = np.cos(np.arange(x.size))
    np.testing.assert_allclose(f.hvp(x, v=v)[1], H @ v, rtol=1e-11, atol=1e-9 * np.abs(H @ v).max())
    f.wait_for_jit()  # the Numba kernels read the same tables
    np.testing.assert_allclose(f.hessian(x), H, rtol=1e-11, atol=1e-9 * np.abs(H).max())
    values = f.hessian_values(np.stack([x, x]))
    np.testing.assert_allclose(values[1], H[f.hessian_structure()], rtol=1e-11, atol=1e-9 * np.abs(H).max())


def test_terms_of_many_variables_are_found_beside_small_ones():
    """sum((A x)**4) + sum(x**2): the rows' terms are looked for even when the first term is x0**2."""
    x = se.symbols("x0:20")
    a = [se.symbols(f"a{i}_0:20") for i in range(20)]
    value = se.Add(*(s**2 for s in x)) + se.Add(*(se.Add(*(c * s for c, s in zip(row, x))) ** 4 for row in a))
    positions = {s: ("x", k) for k, s in enumerate(x)}
    positions.update({c: ("p", 20 * i + k) for i, row in enumerate(a) for k, c in enumerate(row)})
    groups, _ = loops.sum_groups(value, positions, lambda expr: expr)
    assert sorted(len(group.slots) for group in groups) == [1, 40] and all(group.count == 20 for group in groups)


def test_stats_name_the_repeated_terms(monkeypatch):
    """f.stats and the stats text show each pattern: copies, block, locals, formula."""
    from symhess import display

    monkeypatch.setattr(pipeline, "_MEMORY", {})
    monkeypatch.setattr(loops, "SUM_TERMS", 20)
    x = (np.stack(np.meshgrid(*[np.arange(2)] * 3), -1).reshape(-1, 3) * 1.1).reshape(-1)
    f = symhess.compile(cluster_energy, x + 0.01 * np.cos(np.arange(24.0)), cache=False)
    (pattern,) = f.stats["patterns"]
    assert pattern["instances"] == 28 and pattern["variables"] == 6 and pattern["hessian_entries"] == 21
    assert "u0 - u3" in pattern["formula"] and pattern["data"] == 0
    assert "28 copies of a 6 x 6 block (21 non-zeros)" in display.stats_text(f.stats)


def test_terms_renamed_together_get_the_templates_of_terms_renamed_alone(monkeypatch):
    """One renaming for all copies of a formula (one SymEngine pass) finds exactly the groups that
    templating each term alone finds: logistic rows that share w, a chain whose neighbours take
    two slots (x1 is slot 1 of x0*x1 and slot 0 of x1*x2: templated alone), data in tanh (signed
    alone) and floating-point numbers (lifted alone)."""
    w, x = se.symbols("w0:6"), se.symbols("x0:40")
    rows = [se.symbols(f"d{k}_0:6") for k in range(30)]
    z = [se.Add(*(a * b for a, b in zip(row, w))) for row in rows]
    values = [se.Add(*(se.log(1 + se.exp(zk)) + y * zk for zk, y in zip(z, se.symbols("y0:30")))),
              se.Add(*(a * b for a, b in itertools.pairwise(x))) + se.Add(*(se.tanh(zk) for zk in z)),
              se.Add(*(0.25 * (k + 1) * zk**2 for k, zk in enumerate(z)))]
    positions = {s: ("w", k) for k, s in enumerate(w)}
    positions.update({s: ("x", k) for k, s in enumerate(x)})
    positions.update({s: ("d", 6 * k + j) for k, row in enumerate(rows) for j, s in enumerate(row)})
    positions.update({s: ("y", k) for k, s in enumerate(se.symbols("y0:30"))})

    def groups_of(value):
        found, rest = loops.sum_groups(value, positions, lambda expr: expr)
        return sorted((str(g.template), g.arrays, g.positions, g.count, g.constants) for g in found), rest

    terms = [loops._terms(value, loops.SUM_TERMS) for value in values]
    renamed = [loops._renamed_templates(t, *loops._ranked(t, positions), positions) for t in terms]
    assert [len(r) for r in renamed] == [60, 0, 0]  # the logistic rows together; the others each alone
    for value in values:
        together = groups_of(value)
        calls = []
        monkeypatch.setattr(loops, "_renamed_templates", lambda *args, calls=calls: calls.append(1) or {})
        assert groups_of(value) == together and together[0] and calls
        monkeypatch.undo()


def test_one_samples_terms_are_one_term_unless_every_term_reads_the_datum():
    """``log(1 + exp(z_s)) - y_s z_s`` is one template per sample (its loop reads X[s] once); a datum
    that every sample's terms read (a shared bias vector) does not fuse the whole sum into one."""
    w = se.symbols("w0:16")  # terms of 16 variables are searched for copies (BIG_TERM)
    rows, y, bias = [se.symbols(f"d{k}_0:16") for k in range(12)], se.symbols("y0:12"), se.symbols("b0:2")
    positions = {s: ("x", k) for k, s in enumerate(w)}
    positions.update({s: ("p", 16 * k + j) for k, row in enumerate(rows) for j, s in enumerate(row)})
    positions.update({s: ("p", 200 + k) for k, s in enumerate((*y, *bias))})
    z = [se.Add(*(a * b for a, b in zip(row, w))) for row in rows]
    samples = se.Add(*(se.log(1 + se.exp(zk)) - yk * zk for zk, yk in zip(z, y)))
    groups, rest = loops.sum_groups(samples, positions, lambda expr: expr)
    assert [group.count for group in groups] == [12] and rest == 0
    shared = se.Add(*(se.log(1 + se.exp(zk + bias[0])) + bias[1] * zk**2 for zk in z))
    terms = loops._terms(shared, loops.SUM_TERMS)
    merged, _ = loops._by_datum(terms, *loops._ranked(terms, positions), positions)
    assert len(merged) == len(terms) == 24


def test_terms_without_symbols_are_not_renamed():
    """A number among the terms (a sum's constant) has no slots: it is left to the per-term path."""
    x = se.symbols("x0:3")
    terms = [se.Integer(3), x[0] * x[1], x[1] * x[2]]
    positions = {s: ("x", k) for k, s in enumerate(x)}
    found = loops._renamed_templates(terms, *loops._ranked(terms, positions), positions)
    assert 0 not in found
