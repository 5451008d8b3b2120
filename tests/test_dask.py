"""Dask arrays of points (symhess.dask_arrays): f.value/gradient/hessian/hvp/hessian_values of a
dask.array are lazy dask.arrays with the NumPy path's numbers, chunks, dtype and metadata; NumPy
inputs without batch axes are one key of the graph.  On a LocalCluster of 2 worker processes
(slow): the same numbers, no worker compiles anything, and a worker killed mid-computation
loses nothing."""

import os
import signal
import sys
import time

import numpy as np
import pytest
from scipy.optimize import rosen

import symhess
from symhess import travel

da = pytest.importorskip("dask.array", reason="Dask is optional: pip install 'symhess[dask]'")
dask = pytest.importorskip("dask")

POINTS = np.random.default_rng(3).uniform(-1, 1, (1000, 4))
DIRECTIONS = np.random.default_rng(4).uniform(-1, 1, (1000, 4))


@pytest.fixture(scope="module")
def rosenbrock():
    return symhess.compile(rosen, np.zeros(4))


@pytest.fixture(scope="module")
def two_inputs():
    """x differentiated, A a runtime parameter; a closure array lifted as data."""
    w = np.linspace(0.5, 1.5, 3)
    return symhess.compile(lambda x, A: ((A @ x) ** 4).sum() + (w * x**2).sum(), np.zeros(3), np.eye(3), wrt=0)


def _check(lazy, expected):
    """A lazy Dask array with ``expected``'s shape, dtype and meta type, computing to its numbers."""
    assert isinstance(lazy, da.Array)
    assert lazy.shape == expected.shape and lazy.dtype == expected.dtype
    assert type(lazy._meta) is np.ndarray and lazy._meta.dtype == expected.dtype
    computed = lazy.compute(scheduler="sync")
    assert computed.shape == expected.shape and computed.dtype == expected.dtype
    np.testing.assert_allclose(computed, expected, rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("method", ["value", "gradient", "hessian", "hessian_values"])
def test_every_evaluator_returns_a_lazy_dask_array(rosenbrock, method):
    X = da.from_array(POINTS, chunks=(300, 4))
    lazy = getattr(rosenbrock, method)(X)
    _check(lazy, getattr(rosenbrock, method)(POINTS))
    assert lazy.chunks[0] == (300, 300, 300, 100)  # the batch axis keeps its chunks
    assert all(len(c) == 1 for c in lazy.chunks[1:])  # each point's axes are one chunk


def test_hvp_gives_two_lazy_arrays(rosenbrock):
    value, product = rosenbrock.hvp(da.from_array(POINTS, chunks=250), v=da.from_array(DIRECTIONS, chunks=250))
    expected = rosenbrock.hvp(POINTS, v=DIRECTIONS)
    _check(value, expected[0])
    _check(product, expected[1])
    _, product = rosenbrock.hvp(da.from_array(POINTS, chunks=250), v=DIRECTIONS[0])  # one v for every point
    _check(product, rosenbrock.hvp(POINTS, v=DIRECTIONS[0])[1])


def test_nothing_is_computed_before_compute(rosenbrock):
    def refuse():
        raise RuntimeError("computed too early")

    X = da.from_delayed(dask.delayed(refuse)(), (10, 4), dtype=np.float64)
    H = rosenbrock.hessian(X)  # builds the graph only
    assert H.shape == (10, 4, 4)
    with pytest.raises(RuntimeError, match="computed too early"):
        H.compute(scheduler="sync")


def test_a_numpy_parameter_is_one_key_of_the_graph(two_inputs, rng):
    A = rng.standard_normal((3, 3))
    points = rng.standard_normal((500, 3))
    H = two_inputs.hessian(da.from_array(points, chunks=100), A)
    _check(H, two_inputs.hessian(points, A))
    graph = dict(H.__dask_graph__())
    holding = [key for key, task in graph.items() if _holds(task, A)]
    assert len(holding) == 1  # A once, not once per block
    compiled = [key for key in graph if str(key).startswith("symhess-compiled-")]
    assert len(compiled) == 1
    blocks = [key for key in graph if isinstance(key, tuple) and str(key[0]).startswith("symhess-hessian")]
    assert len(blocks) == 5
    for key in blocks:
        assert {holding[0], compiled[0]} <= set(graph[key].dependencies)


def _holds(task, array) -> bool:
    value = getattr(task, "value", task)
    return isinstance(value, np.ndarray) and value.shape == array.shape and np.array_equal(value, array)


def test_several_inputs_float32_and_two_batch_axes(rng):
    f = symhess.compile(lambda x, y: (x[:, None] * y).sum() ** 2, np.ones(2, dtype=np.float32), np.ones(3))
    x, y = rng.standard_normal((4, 5, 2)).astype(np.float32), rng.standard_normal((4, 5, 3))
    lazy = f.hessian(da.from_array(x, chunks=(2, 3, 1)), da.from_array(y, chunks=(4, 2, 3)))  # point axes rechunked
    expected = f.hessian(x, y)
    for i in range(2):
        for j in range(2):
            _check(lazy[i][j], expected[i][j])
    gradient = f.gradient(da.from_array(x, chunks=2), y)  # a batched NumPy input beside a Dask one
    for lazy_part, part in zip(gradient, f.gradient(x, y)):
        _check(lazy_part, part)


def test_bad_inputs_say_what_to_do(rosenbrock, two_inputs):
    with pytest.raises(ValueError, match=r"has shape \(10, 5\); compiled for \(4,\)"):
        rosenbrock.hessian(da.zeros((10, 5)))
    with pytest.raises(ValueError, match="same leading batch shape"):
        two_inputs.hessian(da.zeros((10, 3)), da.zeros((7, 3, 3)))
    with pytest.raises(TypeError, match=r"expected 2 input\(s\)"):
        two_inputs.hessian(da.zeros((10, 3)))


# ----- on a cluster of 2 worker processes ------------------------------------------------------

def _count_compilations():
    """On a worker: count every compilation from now on (Numba's, tier 0's, the separate process's,
    machine code made by symhess.travel)."""
    import numba.core.event

    from symhess import compile_process, native

    counts = {"numba": 0, "tier0": 0, "process": 0, "machine_code": 0}

    class Listener(numba.core.event.Listener):
        def on_start(self, event):
            counts["numba"] += 1

        def on_end(self, event):
            pass

    numba.core.event.register("numba:compile", Listener())

    def counted(key, function):
        def wrapper(*args, **kwargs):
            counts[key] += 1
            return function(*args, **kwargs)
        return wrapper

    native._compile_kernel = counted("tier0", native._compile_kernel)
    compile_process.SERVER.submit = counted("process", compile_process.SERVER.submit)
    travel.machine_code = counted("machine_code", travel.machine_code)
    return counts


def _counts(dask_worker):
    return dict(getattr(dask_worker, "symhess_counts", {}), from_source=travel.compilations(), loaded=travel.loaded())


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests/

    class Counting(distributed.WorkerPlugin):
        def setup(self, worker):
            import symhess  # noqa: F401 - imported before counting: the import compiles nothing

            worker.symhess_counts = _count_compilations()

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=50) as local, \
            distributed.Client(local) as client:
        client.register_plugin(Counting(), name="count-compilations")
        yield client


@pytest.mark.slow
def test_a_cluster_gives_the_same_numbers_and_no_worker_compiles(cluster, rosenbrock, two_inputs, rng):
    X = da.from_array(POINTS, chunks=100)
    loaded = _loaded(cluster)
    H = rosenbrock.hessian(X).compute()  # 10 blocks
    np.testing.assert_allclose(H, rosenbrock.hessian(POINTS), rtol=1e-13)
    received = {worker: count - loaded[worker] for worker, count in _loaded(cluster).items()}
    assert set(received.values()) <= {0, 1} and sum(received.values()) >= 1  # once per worker, not per block
    value, product = rosenbrock.hvp(X, v=da.from_array(DIRECTIONS, chunks=100))
    value, product = dask.compute(value, product)
    expected = rosenbrock.hvp(POINTS, v=DIRECTIONS)
    np.testing.assert_allclose(value, expected[0], rtol=1e-13)
    np.testing.assert_allclose(product, expected[1], rtol=1e-13)
    A = rng.standard_normal((3, 3))
    points = rng.standard_normal((400, 3))
    lazy = two_inputs.gradient(da.from_array(points, chunks=50), A)
    np.testing.assert_allclose(lazy.compute(), two_inputs.gradient(points, A), rtol=1e-13)
    counts = cluster.run(_counts)
    assert len(counts) == 2
    for worker, count in counts.items():
        assert set(count) >= {"numba", "tier0", "process", "machine_code"}, f"{worker} is not counting"
        assert (count["numba"], count["tier0"], count["process"], count["machine_code"], count["from_source"]) \
            == (0, 0, 0, 0, 0), f"{worker} compiled: {count}"
    assert all(count["loaded"] >= 1 for count in counts.values())  # both workers evaluated


def _loaded(client) -> dict:
    return {worker: count["loaded"] for worker, count in client.run(_counts).items()}


def _slow(block):
    time.sleep(0.15)
    return block


@pytest.mark.slow
def test_a_worker_killed_mid_computation_loses_nothing(cluster, rosenbrock):
    points = np.random.default_rng(11).uniform(-1, 1, (4000, 4))
    X = da.from_array(points, chunks=100).map_blocks(_slow, dtype=np.float64)  # 40 blocks of 0.15 s
    future = cluster.compute(rosenbrock.hessian(X))
    victim = _busy_worker(cluster)
    pid = cluster.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while victim in cluster.scheduler_info()["workers"]:  # the injection reached it: the scheduler lost it
        assert time.monotonic() < deadline, "the killed worker never left the cluster"
        time.sleep(0.05)
    assert not future.done()  # killed mid-computation, with finished blocks in its memory (_busy_worker)
    H = future.result(timeout=300)
    np.testing.assert_allclose(H, rosenbrock.hessian(points), rtol=1e-13)
    counts = cluster.run(_counts)  # the restarted worker too: it received the function and compiled nothing
    for worker, count in counts.items():
        assert (count["numba"], count["tier0"], count["process"], count["machine_code"], count["from_source"]) \
            == (0, 0, 0, 0, 0), f"{worker} compiled: {count}"


def _busy_worker(client):
    """A worker holding finished blocks of the computation and processing more (waits for one)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        processing = client.processing()
        holding = {worker for keys in client.who_has().values() for worker in keys}
        for worker, keys in processing.items():
            if worker in holding and any("symhess-hessian" in str(key) for key in keys):
                return worker
        time.sleep(0.02)
    raise AssertionError("no worker was evaluating blocks")


@pytest.mark.slow
def test_the_counters_see_a_compilation(cluster):
    """The counts above can fail: a compile on a worker shows in them."""
    worker = sorted(cluster.scheduler_info()["workers"])[0]
    before = cluster.run(_counts, workers=[worker])[worker]
    cluster.run(_compile_something, workers=[worker])
    after = cluster.run(_counts, workers=[worker])[worker]
    assert after["numba"] > before["numba"] and after["tier0"] > before["tier0"]


def _compile_something():
    import numba

    numba.njit(lambda x: x + 1)(1.0)
    symhess.compile(lambda x: (x**3).sum(), np.zeros(2), cache=False).hessian(np.ones(2))
