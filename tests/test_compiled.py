"""Compile once, evaluate many: values, wrt/parameters, batches, pickling, inspection."""

import pickle

import numpy as np
import pytest
import scipy.optimize as so
import sympy as sp

import symhess


def quadratic_form(x, A):
    return (x @ A @ x) / 2 + np.sin(x).sum()


@pytest.fixture(scope="module")
def compiled_form():
    return symhess.compile(quadratic_form, np.ones(3), np.eye(3), wrt=0)


def test_parameters_change_without_recompiling(compiled_form, rng):
    x = rng.standard_normal(3)
    for _ in range(2):
        A = rng.standard_normal((3, 3))
        A = A + A.T
        np.testing.assert_allclose(compiled_form.hessian(x, A), A - np.diag(np.sin(x)), atol=1e-12)
        np.testing.assert_allclose(compiled_form.gradient(x, A), A @ x + np.cos(x), atol=1e-12)
        assert compiled_form.value(x, A) == pytest.approx(quadratic_form(x, A))


def test_batched_evaluation_matches_pointwise(compiled_form, rng):
    X = rng.standard_normal((4, 5, 3))
    A = np.eye(3)
    H = compiled_form.hessian(X, A)
    assert H.shape == (4, 5, 3, 3)
    np.testing.assert_allclose(H[2, 3], compiled_form.hessian(X[2, 3], A))
    assert compiled_form.value(X, A).shape == (4, 5)
    assert compiled_form.gradient(X, A).shape == (4, 5, 3)
    value, product = compiled_form.hvp(X, A, v=np.ones(3))
    assert value.shape == (4, 5) and product.shape == (4, 5, 3)
    np.testing.assert_allclose(product[1, 1], H[1, 1] @ np.ones(3))


@pytest.mark.parametrize("shape", [(), (3,), (2, 2)], ids=["scalar", "vector", "matrix"])
def test_batches_of_one_input_match_pointwise_whatever_their_layout(shape, rng):
    """One float64 input: batches go to the kernels without being copied when they can."""
    f = symhess.compile(lambda x: (x**3).sum() + x.reshape(-1)[0] * x.reshape(-1)[-1], np.ones(shape))
    wide = rng.standard_normal((4, 5, *shape[:-1], 2 * shape[-1])) if shape else rng.standard_normal((4, 10))
    batches = {"contiguous": rng.standard_normal((4, 5, *shape)),
               "strided": wide[..., ::2],
               "read-only": np.require(rng.standard_normal((4, 5, *shape)), requirements="C")}
    batches["read-only"].flags.writeable = False
    batches["integers"] = np.arange(20 * int(np.prod(shape))).reshape(4, 5, *shape) % 3
    for name, X in batches.items():
        H, G = f.hessian(X), f.gradient(X)
        value, product = f.hvp(X, v=np.ones(shape))
        assert H.shape == (4, 5, *shape, *shape) and value.shape == (4, 5), name
        for b in ((0, 0), (3, 4)):
            np.testing.assert_allclose(H[b], f.hessian(X[b]), rtol=1e-14, err_msg=name)
            np.testing.assert_allclose(G[b], f.gradient(X[b]), rtol=1e-14, err_msg=name)
            np.testing.assert_allclose(product[b], f.hvp(X[b], v=np.ones(shape))[1], rtol=1e-14, err_msg=name)
            np.testing.assert_allclose(f.hvp(X, v=X)[1][b], f.hvp(X[b], v=X[b])[1], rtol=1e-14, err_msg=name)
            assert f.value(X)[b] == pytest.approx(f.value(X[b]), rel=1e-14)
    assert f.hessian(np.ones((0, *shape))).shape == (0, *shape, *shape)


def test_batched_parameters_broadcast(compiled_form, rng):
    x = rng.standard_normal(3)
    As = rng.standard_normal((6, 3, 3))
    H = compiled_form.hessian(x, As)
    assert H.shape == (6, 3, 3)
    np.testing.assert_allclose(H[4], compiled_form.hessian(x, As[4]))


def test_hvp_without_forming_the_hessian(rng):
    f = symhess.compile(so.rosen, np.ones(30))
    assert "h[" not in f.source.split("HVP_CODE")[1].split('"""')[1]
    x, v = rng.standard_normal(30), rng.standard_normal(30)
    np.testing.assert_allclose(f.hvp(x, v=v)[1], so.rosen_hess_prod(x, v), rtol=1e-12)
    np.testing.assert_allclose(f.vhp(x, v=v)[1], so.rosen_hess_prod(x, v), rtol=1e-12)


def test_multiple_inputs_give_nested_blocks(rng):
    f = symhess.compile(lambda x, y: (x[:, None] * y).sum() ** 2, np.ones(2), np.ones(3))
    H = f.hessian(rng.random(2), rng.random(3))
    assert [[b.shape for b in row] for row in H] == [[(2, 2), (2, 3)], [(3, 2), (3, 3)]]
    g = f.gradient(np.ones(2), np.ones(3))
    assert isinstance(g, tuple) and g[0].shape == (2,) and g[1].shape == (3,)
    f1 = symhess.compile(lambda x, y: (x[:, None] * y).sum() ** 2, np.ones(2), np.ones(3), wrt=(1,))
    assert isinstance(f1.hessian(np.ones(2), np.ones(3)), tuple)


def test_pickle_round_trip(compiled_form, rng):
    restored = pickle.loads(pickle.dumps(compiled_form))
    x, A = rng.standard_normal(3), np.eye(3)
    np.testing.assert_allclose(restored.hessian(x, A), compiled_form.hessian(x, A))
    assert restored.expression == compiled_form.expression


def test_inspection_attributes():
    f = symhess.compile(lambda x: (x[0] - 1) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2, np.zeros(2))
    assert [str(s) for s in f.symbols[0]] == ["x[0]", "x[1]"]
    x0, x1 = sp.symbols("x[0] x[1]")
    assert sp.simplify(f.expression - ((x0 - 1) ** 2 + 100 * (x1 - x0**2) ** 2)) == 0
    assert f.gradient_expression.shape == (2, 1)
    expected = sp.hessian((x0 - 1) ** 2 + 100 * (x1 - x0**2) ** 2, (x0, x1))
    assert sp.simplify(f.hessian_expression - expected) == sp.zeros(2, 2)
    assert f.sparsity.dtype == bool and f.sparsity.all()
    assert "def hessian(x, p, h):" in f.source
    stats = f.stats
    assert stats["n"] == 2 and stats["nonzeros"] == 3
    assert set(stats["seconds"]) >= {"trace", "total"}
    assert r"\nabla^2 f" in f.latex() and "x_{0}" in f.latex()
    assert f._repr_latex_().startswith("$")


def test_sparse_problem_has_sparse_pattern():
    f = symhess.compile(so.rosen, np.ones(20))
    assert f.stats["nonzeros"] == 20 + 19
    assert f.sparsity.sum() == 20 + 2 * 19


def test_bad_arguments_are_explained():
    f = symhess.compile(lambda x: (x**2).sum(), np.ones(3))
    with pytest.raises(ValueError, match=r"input 'x' has shape \(4,\); compiled for \(3,\)"):
        f.hessian(np.ones(4))
    with pytest.raises(TypeError, match=r"expected 1 input\(s\) \(x\), got 2"):
        f.hessian(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="simplify='fastest' is not one of"):
        symhess.compile(lambda x: x.sum(), np.ones(2), simplify="fastest")
    with pytest.raises(ValueError, match="wrt=5: 5 is not the index of one of the 1 inputs"):
        symhess.compile(lambda x: x.sum(), np.ones(2), wrt=5)
    with pytest.raises(RuntimeError, match="single-element tensor"):
        symhess.compile(lambda x: x * 2, np.ones(2))


def test_nan_and_infinity_propagate():
    f = symhess.compile(lambda x: (np.log(x) + x**2).sum(), np.ones(2))
    value = f.value(np.array([-1.0, 1.0]))
    assert np.isnan(value)
    assert np.isinf(f.value(np.array([0.0, 1.0])))
    assert np.isinf(f.hessian(np.array([0.0, 1.0]))[0, 0])


@pytest.mark.parametrize("mode", ["none", "fast", "full", "auto"])
def test_simplify_modes_agree_numerically(mode, rng):
    f = symhess.compile(lambda x: np.exp(x[0] * x[1]) / (1 + x[0] ** 2), np.ones(2), simplify=mode)
    x = rng.standard_normal(2)
    reference = symhess.compile(lambda x: np.exp(x[0] * x[1]) / (1 + x[0] ** 2), np.ones(2), simplify="none")
    np.testing.assert_allclose(f.hessian(x), reference.hessian(x), rtol=1e-12)


def test_float32_inputs_give_float32_values_gradients_and_hessians():
    f = symhess.compile(lambda x: (x**3).sum(), np.ones(3, dtype=np.float32))
    x = np.arange(3, dtype=np.float32)
    assert f.value(x).dtype == np.float32 and f.value(np.stack([x, x])).dtype == np.float32
    assert f.gradient(x).dtype == np.float32 and f.hessian(x).dtype == np.float32
    value, product = f.hvp(x, v=x)
    assert value.dtype == np.float32 and product.dtype == np.float32
    assert value == np.float32(9.0)


def _variants(x):
    """``x`` as inputs the per-call entries decline: strided, read-only, a list, integers, float32."""
    strided = np.empty(2 * x.size)
    strided[::2] = x
    read_only = x.copy()
    read_only.setflags(write=False)
    return strided[::2], read_only, x.tolist(), np.round(x * 4).astype(np.int64), np.float32(x)


def test_inputs_the_per_call_entries_decline_take_the_general_path(rng):
    """The entries take contiguous writeable float64 vectors of length n; the rest is converted (or
    refused by the general path), in both tiers, and Numba never compiles another specialisation."""
    f = symhess.compile(so.rosen, np.ones(5))
    x, v = rng.standard_normal(5), rng.standard_normal(5)
    H = so.rosen_hess(x)
    for tier in ("first", "numba"):
        if tier == "numba":
            assert f.wait_for_jit(60)
        for variant in _variants(x):
            point = np.asarray(variant, dtype=float)
            assert f.value(variant) == pytest.approx(so.rosen(point), rel=1e-6)
            np.testing.assert_allclose(f.gradient(variant), so.rosen_der(point), rtol=1e-6)
            expected = so.rosen_hess(point)
            np.testing.assert_allclose(f.hessian(variant), expected, rtol=1e-6)
            np.testing.assert_allclose(f.hvp(variant, v=v)[1], expected @ v, rtol=1e-6)
            np.testing.assert_allclose(f.hvp(x, v=variant)[1], H @ np.asarray(variant, dtype=float), rtol=1e-6)
        np.testing.assert_allclose(f.hessian(np.stack([x, x])), np.stack([H, H]), rtol=1e-12)
        for method in (f.value, f.gradient, f.hessian):
            with pytest.raises(ValueError, match=r"shape \(6,\); compiled for \(5,\)"):
                method(np.ones(6))
        with pytest.raises(ValueError, match="v"):
            f.hvp(x, v=np.ones(6))
    assert [len(entry.overloads) for entry in f._entries] == [1, 1]
    for call in (f.hessian, lambda *args: f.hvp(*args, v=v)):
        with pytest.raises(TypeError, match=r"expected 1 input\(s\) \(x\), got 0"):
            call()
        with pytest.raises(TypeError, match="got 2"):
            call(x, x)
    assert isinstance(f.hvp(x, v=v)[0], np.float64) and isinstance(f.value(x), np.float64)
    assert f.hessian.__doc__ == symhess.Compiled.hessian.__doc__


def test_a_function_with_lifted_data_has_lean_per_call_paths_that_read_its_own_data(rng):
    """One vector in, only lifted data as parameters: value, gradient, hessian and hvp call the
    kernels with the data directly; other inputs take the general path; a copy bound to other
    data (the drop-in API's next batch) reads its own, in both tiers."""
    X = rng.standard_normal((30, 4))

    def nll(w, X=X):
        return np.logaddexp(0.0, X @ w).sum()

    def exact(w, X):
        s = 1 / (1 + np.exp(-(X @ w)))
        return np.logaddexp(0.0, X @ w).sum(), X.T @ s, X.T @ (X * (s * (1 - s))[:, None])

    f = symhess.compile(nll, np.zeros(4))
    assert f._data.size == X.size and {"value", "gradient", "hessian", "hvp"} <= f.__dict__.keys()  # the lean paths
    other = f.with_data([2 * X])
    w, v = rng.standard_normal(4), rng.standard_normal(4)
    for tier in ("first", "numba"):
        if tier == "numba":
            assert f.wait_for_jit(60)
        for compiled, data in ((f, X), (other, 2 * X)):
            for variant in (*_variants(w), w):
                point = np.asarray(variant, dtype=float)
                tolerance = 1e-6 if np.asarray(variant).dtype == np.float32 else 1e-10
                value, gradient, hessian = exact(point, data)
                assert compiled.value(variant) == pytest.approx(value, rel=tolerance)
                np.testing.assert_allclose(compiled.gradient(variant), gradient, rtol=tolerance)
                np.testing.assert_allclose(compiled.hessian(variant), hessian, rtol=tolerance)
                np.testing.assert_allclose(compiled.hvp(variant, v=v)[1], hessian @ v, rtol=tolerance)
            assert isinstance(compiled.hvp(w, v=v)[0], np.float64) and isinstance(compiled.value(w), np.float64)
    assert all(len(getattr(f._kernels, name).overloads) == 1 for name in ("value", "gradient", "hessian_dense", "hvp"))
    assert f.hessian.__doc__ == symhess.Compiled.hessian.__doc__


def test_the_drop_in_api_takes_read_only_arrays(rng):
    x = rng.standard_normal(5)
    x.setflags(write=False)
    np.testing.assert_allclose(symhess.hessian(so.rosen, x), so.rosen_hess(x), rtol=1e-12)
    np.testing.assert_allclose(symhess.hvp(so.rosen, x, x)[1], so.rosen_hess(x) @ x, rtol=1e-12)


def test_small_problems_write_the_dense_hessian_directly(monkeypatch, rng):
    from symhess import codegen, pipeline

    def func(x):
        return (x**3).sum() + x[0] * x[4] + np.sin(x[1] * x[2])

    x = rng.standard_normal(6)
    direct = symhess.compile(func, x, cache=False)
    monkeypatch.setattr(codegen, "DENSE_DIRECT_MAX", 0)
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    scatter = symhess.compile(func, x, cache=False)
    assert "def hessian_full" in direct.source and "def hessian_full" not in scatter.source
    X = rng.standard_normal((3, 6))
    np.testing.assert_array_equal(direct.hessian(x), scatter.hessian(x))
    np.testing.assert_array_equal(direct.hessian(X), scatter.hessian(X))
    assert direct.hessian(x)[0, 5] == 0 and direct.hessian(x)[0, 4] == 1


def test_random_functions_are_refused_and_cached_traces_are_not_traced_twice(monkeypatch, tmp_path):
    from symhess import pipeline
    from symhess.tracing import TraceError

    def noisy(x):
        return (x**2).sum() * (1 + np.random.rand())

    with pytest.raises(TraceError, match="different expressions on two calls"):
        symhess.compile(noisy, np.ones(2))
    monkeypatch.setenv("SYMHESS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    calls = []

    def counted(x):
        calls.append(x)
        return (x**3).sum()

    symhess.compile(counted, np.ones(2))
    assert len(calls) == 2  # compiled from scratch: traced twice, to check that func is deterministic
    symhess.compile(counted, np.ones(2))
    assert len(calls) == 3  # a cache hit: this trace was checked when it was compiled


def test_auto_compiles_the_fast_form_and_shows_the_simplified_one(monkeypatch):
    from symhess import pipeline

    monkeypatch.setattr(pipeline, "_MEMORY", {})

    def quotient(x):
        return ((x**2 - 1) / (x - 1)).sum()

    f = symhess.compile(quotient, np.full(2, 3.0), cache=False)
    assert f.stats["simplify"] == "fast"  # the code: no SymPy simplify at compile time
    assert f.gradient_expression == sp.ImmutableMatrix([1, 1])  # SymPy's simplify, when asked
    np.testing.assert_allclose(f.gradient(np.array([2.0, 5.0])), [1.0, 1.0], rtol=1e-14)


def test_a_non_tensor_argument_is_a_type_error_naming_its_type():
    """API.md: a TypeError naming the type (was NumPy's ValueError for a string, a Hessian of NaN for None)."""
    f = symhess.compile(lambda x: (x**3).sum(), np.ones(3))
    for value, name in (("abc", "str"), (None, "NoneType"), (object(), "object"), (["a", "b", "c"], "list"),
                        ({"x": 1}, "dict")):
        for method in (f.hessian, f.gradient, f.value):
            with pytest.raises(TypeError, match=f"expected a tensor .*, got {name}"):
                method(value)
    np.testing.assert_array_equal(f.hessian([1.0, 2.0, 3.0]), np.diag([6.0, 12.0, 18.0]))  # array-likes still work
    g = symhess.compile(lambda x, s: s * (x**2).sum(), np.ones(2), 1.0, wrt=0)
    with pytest.raises(TypeError, match="got str"):
        g.hessian(np.ones(2), "2")


def test_a_nan_constant_is_not_taken_for_a_function_that_traces_differently():
    """NaN is unequal to itself: the determinism check (two traces compared) must not refuse a
    function with a NaN constant, and the NaN stays where it belongs."""
    f = symhess.compile(lambda x: (x ** 3).sum() + np.nan * x[0] ** 2, np.ones(3), cache=False)
    H = f.hessian(np.ones(3))
    assert np.isnan(H[0, 0])
    np.testing.assert_array_equal(np.nan_to_num(H, nan=-1.0), [[-1, 0, 0], [0, 6, 0], [0, 0, 6]])


def test_inputs_outside_wrt_given_as_plain_arrays_take_no_conversion_and_give_the_same_numbers():
    """f.hvp(w, X, y, v=v) with contiguous float64 arrays of the compiled shapes packs them directly;
    other types, layouts and shapes take the general path, and a changed X is read anew."""
    def nll(w, X, y):
        z = X @ w
        return (np.log(1 + np.exp(z)) - y * z).sum()

    X, y, w = np.cos(np.arange(24.0)).reshape(8, 3), (np.arange(8) % 2).astype(float), np.array([0.1, -0.2, 0.3])
    f = symhess.compile(nll, w, X, y, wrt=0)
    assert f._plain_point((w, X, y)) is not None and f._plain_point((w, X.T.copy().T, y)) is None
    v = np.array([1.0, 2.0, 3.0])
    s = 1 / (1 + np.exp(-X @ w))
    H = X.T @ ((s * (1 - s))[:, None] * X)
    np.testing.assert_allclose(f.hvp(w, X, y, v=v)[1], H @ v, rtol=1e-12)
    np.testing.assert_allclose(f.hvp(w, X.tolist(), y.astype(np.float32), v=v.tolist())[1], H @ v, rtol=1e-12)
    np.testing.assert_allclose(f.hessian(w, np.asfortranarray(X), y), H, rtol=1e-12)
    X[0] = 5.0
    s = 1 / (1 + np.exp(-X @ w))
    np.testing.assert_allclose(f.hessian(w, X, y), X.T @ ((s * (1 - s))[:, None] * X), rtol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        f.hvp(w, X[:4], y, v=v)
