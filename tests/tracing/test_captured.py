"""Skipping the re-trace is only allowed while nothing func reads has changed."""

import numpy as np

import symhess
from symhess.tracing.captured import reads

SCALE = 2.0
TABLE = np.array([1.0, 3.0])


def uses_globals(x):
    return (SCALE * TABLE * x**2).sum()


def test_global_changes_are_seen():
    global SCALE
    for _ in range(3):
        np.testing.assert_array_equal(symhess.hessian(uses_globals, np.ones(2)), np.diag([4.0, 12.0]))
    SCALE = 3.0
    np.testing.assert_array_equal(symhess.hessian(uses_globals, np.ones(2)), np.diag([6.0, 18.0]))
    TABLE[1] = 5.0  # in place
    np.testing.assert_array_equal(symhess.hessian(uses_globals, np.ones(2)), np.diag([6.0, 30.0]))
    SCALE, TABLE[1] = 2.0, 3.0


def test_closure_arrays_mutated_in_place_are_seen():
    weights = np.array([1.0, 1.0])

    def f(x):
        return (weights * x**2).sum()

    for _ in range(3):
        symhess.hessian(f, np.ones(2))
    weights *= 5
    np.testing.assert_array_equal(symhess.hessian(f, np.ones(2)), np.diag([10.0, 10.0]))


def test_random_functions_are_not_frozen():
    def noisy(x):
        return (x**2).sum() * (1 + np.random.rand())

    results = [symhess.hessian(noisy, np.ones(2))[0, 0] for _ in range(5)]
    assert len(set(results[2:])) == 3


def test_objects_are_not_fingerprinted():
    class Model:
        W = np.eye(2)

        def loss(self, x):
            return (x @ self.W @ x).sum()

    model = Model()
    assert reads(model.loss).key is None
    np.testing.assert_array_equal(symhess.hessian(model.loss, np.ones(2)), 2 * np.eye(2))
    model.W = 3 * np.eye(2)
    np.testing.assert_array_equal(symhess.hessian(model.loss, np.ones(2)), 6 * np.eye(2))


def test_library_functions_are_constants():
    from scipy.optimize import rosen

    assert reads(rosen).key[0] == "library"
    assert reads(lambda x: np.sin(x).sum()).key is not None


# ----- data stays data: arrays read by func become runtime values ---------------------------
from functools import partial  # noqa: E402

from symhess import functional  # noqa: E402
from symhess.tracing import trace_function  # noqa: E402

DATA_X = np.random.default_rng(7).normal(size=(12, 3))
SCALES = np.full(6, 2.0)


def logistic_nll(w, X, y):
    z = X @ w
    return np.sum(np.log1p(np.exp(z)) - y * z)


def logistic_hessian(w, X):
    p = 1 / (1 + np.exp(-X @ w))
    return X.T @ (X * (p * (1 - p))[:, None])


def test_closure_globals_defaults_and_partials_are_found_as_data(rng):
    y = rng.random(12)
    table = (DATA_X, y)

    def nested(w, scale=SCALES):
        return scale.sum() * logistic_nll(w, *table)

    found = reads(nested, "all")
    assert found.names == ["scale", "table_0", "table_1"]
    np.testing.assert_array_equal(found.data[1], DATA_X)
    assert reads(partial(logistic_nll, X=DATA_X, y=y), "all").names == ["X", "y"]
    assert reads(lambda w: (DATA_X @ w).sum(), "all").names == ["DATA_X"]


def test_what_stays_literal():
    small, mask = np.ones(4), np.ones(10, dtype=bool)
    sparse = np.eye(6)  # mostly zeros: its zeros are the Hessian's structure
    labels = np.arange(10)

    def f(x):
        return (small.sum() + mask.sum() + sparse.sum() + labels.sum()) * x

    assert reads(f, "all").names == ["labels"]
    assert reads(f, "floats").names == [] and reads(f, "none").names == []
    # new values of a datum keep the key; new values of a literal change it
    assert reads(f, "floats").key != reads(lambda x: f(x) + small.sum(), "floats").key


def test_the_users_function_is_not_touched_while_traced(rng):
    X = rng.normal(size=(5, 3))

    def f(w):
        assert isinstance(X, np.ndarray) is False  # the traced copy reads a placeholder
        return (X @ w).sum()

    trace = trace_function(f, [(3,)], lift="all")
    assert [d.name for d in trace.data] == ["X"] and isinstance(f.__closure__[0].cell_contents, np.ndarray)


def test_compile_lifts_closure_data_and_keys_the_code_by_shapes(rng):
    w = 0.1 * rng.normal(size=3)
    f = symhess.compile(lambda w: logistic_nll(w, DATA_X, y_first), w)
    assert f.stats["parameters"] == 12 * 3 + 12 and [d.name for d in f._trace.data] == ["DATA_X", "y_first"]
    np.testing.assert_allclose(f.hessian(w), logistic_hessian(w, DATA_X), rtol=1e-12)
    other = DATA_X[::-1].copy()
    g = symhess.compile(lambda w: logistic_nll(w, other, y_first), w)
    assert g._built is f._built  # same structure and shapes: the compiled code is shared
    np.testing.assert_allclose(g.hessian(w), logistic_hessian(w, other), rtol=1e-12)
    _, product = g.hvp(w, v=np.ones(3))
    np.testing.assert_allclose(product, logistic_hessian(w, other).sum(axis=1), rtol=1e-12)
    # shown with the values the function read
    assert {str(s) for s in f.expression.free_symbols} == {"w[0]", "w[1]", "w[2]"}


y_first = (np.random.default_rng(3).random(12) < 0.5).astype(float)


def test_lifted_data_in_batches_scipy_buffer_and_pickles(rng):
    import pickle

    f = symhess.compile(lambda w: logistic_nll(w, DATA_X, y_first), np.zeros(3))
    W = 0.1 * rng.normal(size=(4, 3))
    H = f.hessian(W)
    for b in range(4):
        np.testing.assert_allclose(H[b], logistic_hessian(W[b], DATA_X), rtol=1e-12)
    np.testing.assert_allclose(f.hessian_values(W)[2], f.hessian_values(W[2]), rtol=1e-14)
    callbacks = f.scipy()
    np.testing.assert_allclose(callbacks.hess(W[0]), H[0], rtol=1e-12)
    buffer = f.buffer()
    buffer.x[:] = W[1]
    buffer.hessian()
    np.testing.assert_allclose(buffer.H, H[1], rtol=1e-12)
    again = pickle.loads(pickle.dumps(f))
    np.testing.assert_allclose(again.hessian(W[3]), H[3], rtol=1e-12)


def test_integer_arrays_used_as_indices_stay_literal(rng):
    first, second = np.triu_indices(4, 1)
    weights = rng.random(6) + 1

    def energy(x):
        return (weights * (x[first] - x[second]) ** 4).sum()

    trace = trace_function(energy, [(4,)], lift="all")
    assert trace.lift == "floats" and [d.name for d in trace.data] == ["weights"]
    x = rng.normal(size=4)
    d = x[first] - x[second]
    expected = np.zeros((4, 4))
    for k, (i, j) in enumerate(zip(first, second)):
        block = 12 * weights[k] * d[k] ** 2
        expected[i, i] += block
        expected[j, j] += block
        expected[i, j] -= block
        expected[j, i] -= block
    np.testing.assert_allclose(symhess.hessian(energy, x), expected, rtol=1e-12)
    np.testing.assert_allclose(symhess.compile(energy, x).hessian(x), expected, rtol=1e-12)


def test_integer_labels_are_data(rng):
    labels = rng.integers(0, 2, size=12)
    trace = trace_function(lambda w: logistic_nll(w, DATA_X, labels), [(3,)], lift="all")
    assert trace.lift == "all" and [d.name for d in trace.data] == ["labels", "DATA_X"]  # cells, then globals


def test_new_batches_of_data_reuse_the_compiled_code_without_tracing(rng, monkeypatch):
    """A Newton step per batch: after the first two calls no trace and no compile."""
    w = 0.1 * rng.normal(size=3)
    traces = []
    real = functional.trace_function
    monkeypatch.setattr(functional, "trace_function", lambda *a, **k: traces.append(1) or real(*a, **k))
    compiled = len(functional._COMPILED)
    for step in range(6):
        X, y = rng.normal(size=(12, 3)), (rng.random(12) < 0.5).astype(float)
        H = symhess.hessian(lambda w, X=X, y=y: logistic_nll(w, X, y), w)
        np.testing.assert_allclose(H, logistic_hessian(w, X), rtol=1e-12, err_msg=f"batch {step}")
        _, product = symhess.hvp(lambda w, X=X, y=y: logistic_nll(w, X, y), w, np.ones(3))
        np.testing.assert_allclose(product, logistic_hessian(w, X).sum(axis=1), rtol=1e-12)
    assert len(traces) == 4  # two calls each of hessian and hvp until the trace is trusted
    assert len(functional._COMPILED) - compiled <= 1  # hessian and hvp share one compiled function


def test_data_mutated_in_place_is_seen(rng):
    X = rng.normal(size=(12, 3))
    w = np.zeros(3)
    f = lambda w: logistic_nll(w, X, y_first)  # noqa: E731
    for _ in range(3):
        symhess.hessian(f, w)
    X *= 2
    np.testing.assert_allclose(symhess.hessian(f, w), logistic_hessian(w, X), rtol=1e-12)


class _Settings:
    scale = 1.0


SETTINGS = _Settings()


def uses_a_global_object(x):
    return SETTINGS.scale * (x**2).sum()


def test_a_global_object_is_not_fingerprinted():
    """An object read from globals (or a partial's keyword) cannot be summarised: the key is None,
    so a change of its attributes after the trace was trusted is seen (it was frozen)."""
    import functools

    assert reads(uses_a_global_object).key is None
    assert reads(functools.partial(lambda x, s: s.scale * x, s=SETTINGS)).key is None
    try:
        for _ in range(3):
            np.testing.assert_array_equal(symhess.hessian(uses_a_global_object, np.ones(2)), 2 * np.eye(2))
        SETTINGS.scale = 3.0
        np.testing.assert_array_equal(symhess.hessian(uses_a_global_object, np.ones(2)), 6 * np.eye(2))
    finally:
        SETTINGS.scale = 1.0


def test_one_array_read_twice_is_not_confused_with_two_arrays(rng):
    """A function that read one array through two names, then two arrays of the same shape: the
    second must not reuse the first's code, which reads one datum for both."""
    a, c, w = rng.normal(size=10), rng.normal(size=10), np.full(10, 0.5)

    def make(first, second):
        return lambda w: np.sum(first * w**2) + np.sum(second * w**3)

    for _ in range(2):
        np.testing.assert_allclose(symhess.hessian(make(a, a), w), np.diag(2 * a + 3 * a), rtol=1e-12)
    assert reads(make(a, a), "all").key != reads(make(a, c), "all").key
    np.testing.assert_allclose(symhess.hessian(make(a, c), w), np.diag(2 * a + 3 * c), rtol=1e-12)
    np.testing.assert_allclose(symhess.hessian(make(c, c), w), np.diag(5 * c), rtol=1e-12)


SHIFT = 1.0


def _model(w, X, y):
    return np.sum(np.log(1 + np.exp(X @ w + SHIFT)) - y * (X @ w))


def test_the_guard_answers_as_the_walk_does(rng, monkeypatch):
    """Each change between two calls of a function of one code: the guard of the first walk
    (captured.reads_again) gives the key, names and data of a new walk, or walks again."""
    import torch

    from symhess.tracing import captured

    A, C = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    small = np.array([1.0, 2.0])

    def make(X, y, scale=2.0):
        return lambda w: scale * _model(w, X, y) + (small * w[:2]).sum()

    calls = [make(A, C[:, 0]), make(C, A[:, 1]),          # new data, same shapes: the guard's
             make(A, A[:, 0], scale=3.0),                  # another number
             make(rng.normal(size=(7, 3)), A[:, 0]),       # another shape
             make(A, A),                                   # another type of structure (2-d y)
             make(torch.as_tensor(A), torch.as_tensor(C[:, 0])), make(torch.as_tensor(C), torch.as_tensor(A[:, 0])),
             make(A, A[:, 0]), make(A, A[:, 0].copy()),    # y a view of X, then not: (different objects either way)
             make(np.zeros((6, 3)), C[:, 0])]              # mostly zeros: literal, not data
    served = []
    real = captured._GuardWriter.build

    def counted_build(writer):
        guard = real(writer)
        return None if guard is None else lambda f: served.append(guard(f) is not None) or guard(f)

    monkeypatch.setattr(captured._GuardWriter, "build", counted_build)
    monkeypatch.setattr(captured, "_GUARDS", captured.LRU(16))

    def check(f):
        fast, walked = captured.reads_again(f, "all"), reads(f, "all", copy=False)
        assert fast.key == walked.key and fast.names == walked.names
        assert all(np.array_equal(a, b) for a, b in zip(fast.data, walked.data)) and len(fast.data) == len(walked.data)

    for f in calls:
        check(f)
    global SHIFT
    f = make(A, C[:, 0])
    check(f)
    SHIFT = 2.0  # a global number changes
    check(f)
    small[0] = 5.0  # a literal array changes in place
    check(f)
    monkeypatch.setitem(globals(), "exp", 3.0)  # a name the code reads (np.exp) appears as a global
    check(f)
    monkeypatch.setitem(globals(), "_model", lambda w, X, y: np.sum(X @ w))  # another function
    check(f)
    SHIFT = 1.0
    assert True in served and False in served, "the guard was never (or always) used"
    for g in (make(A, A), make(C, C), make(A, C), make(C, A), make(C, C)):  # one array read twice, or two
        check(g)


def test_a_number_read_as_minus_zero_is_not_zero():
    """-0.0 == 0.0, but np.copysign(1, c) tells them apart: the fingerprint keys numbers exactly."""
    x = np.ones(3)
    for c, sign in ((0.0, 1), (0.0, 1), (-0.0, -1), (-0.0, -1), (0.0, 1)):
        f = lambda x, c=c: np.sum(x**2) * np.copysign(1.0, c)  # noqa: E731
        np.testing.assert_array_equal(symhess.hessian(f, x), sign * 2 * np.eye(3))


def test_a_torch_module_read_by_the_function_is_read_again():
    """A torch.nn.Module comes from a library but holds state: an optimiser step changes its weights
    in place, so it is no constant of the fingerprint (the drop-in reused the first weights)."""
    import torch

    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 1).double()

    def f(x):
        return (layer(x) ** 2).sum()

    x = torch.ones(3, dtype=torch.float64)
    for _ in range(3):
        np.testing.assert_allclose(symhess.hessian(f, x), torch.autograd.functional.hessian(f, x), rtol=1e-12)
        with torch.no_grad():
            layer.weight.mul_(2.0)
    assert reads(torch.sum).key is not None and reads(lambda x: torch.exp(x).sum()).key is not None


def test_a_builtin_method_bound_to_a_dict_is_read_again():
    """dict.get bound to the user's settings is a builtin, but its dict changes."""
    settings = {"scale": 2.0}
    get = settings.get
    x = np.ones(2)
    f = lambda x: get("scale") * (x**2).sum()  # noqa: E731
    np.testing.assert_array_equal(symhess.hessian(f, x), 4.0 * np.eye(2))
    settings["scale"] = 5.0
    np.testing.assert_array_equal(symhess.hessian(f, x), 10.0 * np.eye(2))


class _Config:
    scale = 2.0


def _scaled(x):
    return _Config.scale * (x**2).sum()


def test_a_users_class_or_module_is_fingerprinted_by_the_attributes_read():
    """A user's class (or module) is not a library's: its attributes the function's code names are
    part of the fingerprint, so Config.scale = 5.0 is seen (the drop-in kept 2.0, silently)."""
    import types

    x = np.ones(2)
    np.testing.assert_array_equal(symhess.hessian(_scaled, x), 4.0 * np.eye(2))
    _Config.scale = 5.0
    try:
        np.testing.assert_array_equal(symhess.hessian(_scaled, x), 10.0 * np.eye(2))
    finally:
        _Config.scale = 2.0
    ops = types.ModuleType("ops")
    ops.power = 2.0
    f = lambda x: (x ** ops.power).sum()  # noqa: E731
    for power in (2.0, 3.0):
        ops.power = power
        np.testing.assert_allclose(symhess.hessian(f, x), power * (power - 1) * np.eye(2))
    assert reads(f).key is not None
    in_a_tuple = (lambda configs: lambda x: configs[0].scale * (x**2).sum())((_Config,))
    for scale in (2.0, 3.0):  # read through a tuple: the attributes its code names are still read
        _Config.scale = scale
        try:
            np.testing.assert_array_equal(symhess.hessian(in_a_tuple, x), 2 * scale * np.eye(2))
        finally:
            _Config.scale = 2.0
