"""Compiled functions that travel (symhess.travel): f.save / symhess.load and pickling carry the
machine code, checked by hash; a process that receives one evaluates without compiling; a CPU
that cannot run the carried code gets it compiled from the source, with one warning."""

import json
import os
import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from scipy.optimize import rosen, rosen_hess

import symhess
from symhess import travel

X = np.linspace(-0.5, 0.7, 5)
V = np.cos(np.arange(5.0))
BATCH = np.random.default_rng(7).uniform(-1, 1, (700, 5))  # above travel.MIN_POINTS_PER_THREAD x 2: threads


@pytest.fixture(scope="module")
def rosenbrock():
    f = symhess.compile(rosen, X)
    f.wait_for_jit()
    return f


def _same_everywhere(f, g):
    """g gives f's numbers for every evaluator, at a point and over a batch."""
    for args in ((X,), (BATCH,)):
        np.testing.assert_array_equal(g.value(*args), f.value(*args))
        np.testing.assert_array_equal(g.gradient(*args), f.gradient(*args))
        np.testing.assert_array_equal(g.hessian(*args), f.hessian(*args))
        np.testing.assert_array_equal(g.hessian_values(*args), f.hessian_values(*args))
    direction = np.broadcast_to(V, BATCH.shape)
    for args, v in (((X,), V), ((BATCH,), direction)):
        (a, b), (c, d) = g.hvp(*args, v=v), f.hvp(*args, v=v)
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_a_saved_function_loads_with_its_machine_code(rosenbrock, tmp_path):
    path = rosenbrock.save(tmp_path / "rosen.symhess")
    before = travel.compilations()
    g = symhess.load(path)
    assert isinstance(g._kernels, travel.TravelKernels)  # the carried machine code, not tier 0 or Numba
    assert g._built.module.target == travel.targets()[0]  # the host's own code first
    np.testing.assert_allclose(g.hessian(X), rosen_hess(X), rtol=1e-12)
    _same_everywhere(rosenbrock, g)
    assert travel.compilations() == before
    assert not g._built.module.started  # no Numba compilation was started either
    assert g.source == rosenbrock.source and g.expression == rosenbrock.expression
    assert g.stats["n"] == 5 and (g.sparsity == rosenbrock.sparsity).all()


def test_pickling_carries_the_data_and_the_parameters(rng):
    A = rng.standard_normal((4, 3))

    def f(x, s):
        return ((A @ x) ** 4).sum() * s[0] + (x**2).sum()

    compiled = symhess.compile(f, np.zeros(3), np.ones(1), wrt=0)  # A lifted as data, s a parameter
    assert compiled._data.size == A.size
    x, s = rng.standard_normal(3), np.array([1.5])
    g = pickle.loads(pickle.dumps(compiled))
    np.testing.assert_array_equal(g.hessian(x, s), compiled.hessian(x, s))
    points = rng.standard_normal((600, 3))
    np.testing.assert_array_equal(g.gradient(points, s), compiled.gradient(points, s))
    other = compiled.with_data([2 * A])  # a bound copy carries its own data, not the traced ones
    h = pickle.loads(pickle.dumps(other))
    np.testing.assert_array_equal(h.hessian(x, s), other.hessian(x, s))
    assert not np.array_equal(h.hessian(x, s), g.hessian(x, s))


def test_a_loaded_function_pickles_again_without_compiling(rosenbrock, monkeypatch):
    g = pickle.loads(pickle.dumps(rosenbrock))
    monkeypatch.setattr(travel, "machine_code", _refuse)  # a compile would fail the test
    again = pickle.loads(pickle.dumps(g))
    np.testing.assert_array_equal(again.hessian(BATCH), rosenbrock.hessian(BATCH))


def _refuse(*args):
    raise AssertionError("compiled machine code")


FRESH = """
import json, sys, time
import numpy as np
import numba.core.event
import symhess
from symhess import compile_process, native, travel

counts = {"numba": 0, "tier0": 0, "process": 0}
class Count(numba.core.event.Listener):
    def on_start(self, event): counts["numba"] += 1
    def on_end(self, event): pass
numba.core.event.register("numba:compile", Count())
compile_kernel, submit = native._compile_kernel, compile_process.SERVER.submit
def counted(key, function):
    def wrapper(*args, **kwargs):
        counts[key] += 1
        return function(*args, **kwargs)
    return wrapper
native._compile_kernel = counted("tier0", compile_kernel)
compile_process.SERVER.submit = counted("process", submit)

data = open(sys.argv[1], "rb").read()
start = time.perf_counter()
f = symhess.load(sys.argv[1])
loaded = time.perf_counter()
H = f.hessian(np.linspace(-0.5, 0.7, 5))
done = time.perf_counter()
B = f.hessian(np.linspace(-0.5, 0.7, 5000).reshape(1000, 5))
counts.update(load=loaded - start, first=done - loaded, from_source=travel.compilations(),
              H=H.tolist(), B=float(B.sum()))
print(json.dumps(counts))
"""


def test_a_fresh_process_evaluates_without_compiling(rosenbrock, tmp_path):
    path = rosenbrock.save(tmp_path / "rosen.symhess")
    env = dict(os.environ, SYMHESS_CACHE_DIR=str(tmp_path / "empty-cache"))  # nothing to find in a cache
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(FRESH), str(path)], capture_output=True, text=True,
                         env=env, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert (result["numba"], result["tier0"], result["process"], result["from_source"]) == (0, 0, 0, 0)
    np.testing.assert_array_equal(result["H"], rosenbrock.hessian(X))
    assert result["B"] == pytest.approx(float(rosenbrock.hessian(np.linspace(-0.5, 0.7, 5000).reshape(1000, 5)).sum()),
                                        rel=1e-13)
    print(f"fresh process: load {result['load'] * 1e3:.1f} ms, first Hessian {result['first'] * 1e3:.2f} ms")


def _part(data: bytes, name: str) -> tuple[int, int]:
    """(offset, size) of the binary part ``name`` in a saved file."""
    start = len(travel.MAGIC) + 8
    (length,) = travel._LENGTH.unpack_from(data, len(travel.MAGIC))
    header = json.loads(data[start:start + length])
    offset = start + length + 64
    for part, size, _ in header["parts"]:
        if part == name:
            return offset, size
        offset += size
    raise KeyError(name)


@pytest.mark.parametrize("part", ["code/0", "source", "expression"])
def test_a_damaged_file_is_refused(rosenbrock, tmp_path, part):
    path = rosenbrock.save(tmp_path / "rosen.symhess")
    data = bytearray(path.read_bytes())
    offset, size = _part(bytes(data), part)
    position = offset + size // 2
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))
    assert path.read_bytes()[position] != rosenbrock.save(tmp_path / "intact.symhess").read_bytes()[position]
    with pytest.raises(travel.LoadError, match=f"the part '{part}' of .* does not match its hash.*save the function again"):
        symhess.load(path)


def test_truncated_foreign_and_missing_files_are_refused(rosenbrock, tmp_path):
    path = rosenbrock.save(tmp_path / "rosen.symhess")
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(travel.LoadError, match="does not match its hash"):
        symhess.load(path)
    path.write_bytes(data[:len(travel.MAGIC) + 20])
    with pytest.raises(travel.LoadError, match=r"header of .* does not match its hash"):
        symhess.load(path)
    path.write_bytes(b"\x80\x04 not a symhess file")
    with pytest.raises(travel.LoadError, match="not a saved symhess compiled function"):
        symhess.load(path)
    with pytest.raises(FileNotFoundError, match="save a compiled function there"):
        symhess.load(tmp_path / "missing.symhess")
    with pytest.raises(travel.LoadError, match="does not match its hash"):
        pickle.loads(pickle.dumps(rosenbrock).replace(b"symhess_hessian", b"symhess_hessiaN"))


@pytest.mark.skipif(travel.host_target().architecture != "x86_64", reason="portable targets are x86-64's levels")
def test_a_cpu_without_the_hosts_features_runs_the_portable_code(rosenbrock, monkeypatch):
    data = pickle.dumps(rosenbrock)
    host, *portable = travel.targets()
    assert portable and portable[0].cpu == "x86-64-v3", "this test wants a host that runs x86-64-v3"
    specific = sorted(set(host.required) - set(portable[0].required))
    assert specific, "the host has no feature beyond x86-64-v3"
    features = host.features.replace(f"+{specific[0]},", f"-{specific[0]},")
    other = travel.Target(host.triple, host.cpu, features, tuple(sorted(set(host.required) - {specific[0]})))
    monkeypatch.setattr(travel, "host_target", lambda: other)  # this CPU without one of its features
    assert travel.runnable(host) is not None and travel.runnable(portable[0]) is None  # the injection took
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = pickle.loads(data)
    assert g._built.module.target.cpu == "x86-64-v3"
    _same_everywhere(rosenbrock, g)


@pytest.mark.skipif(travel.host_target().architecture != "x86_64", reason="plays an x86-64 CPU")
def test_a_cpu_that_runs_none_of_it_compiles_from_the_source_once(rosenbrock, monkeypatch):
    data, carried = pickle.dumps(rosenbrock), travel.targets()
    generic = travel.Target(travel.host_target().triple, "x86-64", "+sse,+sse2,+cx8,+cmov,+fxsr,+mmx", ("sse", "sse2"))
    monkeypatch.setattr(travel, "host_target", lambda: generic)  # a CPU with x86-64's first features only
    assert all(travel.runnable(target) for target in carried)  # the injection took: none runs
    before = travel.compilations()
    with pytest.warns(travel.TravelWarning, match="cannot run on this CPU.*compiled from its source") as caught:
        g = pickle.loads(data)
    assert len(caught) == 1 and travel.compilations() == before + 1
    np.testing.assert_allclose(g.hessian(X), rosen_hess(X), rtol=1e-12)
    _same_everywhere(rosenbrock, g)
    again = pickle.loads(pickle.dumps(g))  # carries the code compiled here first: no second compile
    assert travel.compilations() == before + 1
    np.testing.assert_array_equal(again.hessian(X), g.hessian(X))


def test_an_unpickled_function_compiles_numba_only_when_waited_for(rosenbrock):
    g = pickle.loads(pickle.dumps(rosenbrock))
    assert not g._built.module.started
    b = g.buffer()  # needs Numba's kernels: compiled (or loaded from the cache) now
    assert g._built.module.started and not isinstance(g._kernels, travel.TravelKernels)
    b.x[:] = X
    b.hessian()
    np.testing.assert_array_equal(b.H, rosenbrock.hessian(X))


def test_a_batch_with_a_shared_parameter_and_lifted_data_is_right(rng):
    """The batch's parameter rows are C-ordered (NumPy's concatenation with the broadcast data was
    Fortran-ordered, and every kernel read the wrong parameters for all points but the first)."""
    A = rng.standard_normal((4, 3))

    def f(x, s):
        return ((A @ x) ** 4).sum() * s[0]

    compiled = symhess.compile(f, np.zeros(3), np.ones(1), wrt=0)
    points, s = rng.standard_normal((6, 3)), np.array([1.5])
    exact = np.array([s[0] * 4 * (A @ x) ** 3 @ A for x in points])
    np.testing.assert_allclose(compiled.gradient(points, s), exact, rtol=1e-12)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(compiled)).gradient(points, s), exact, rtol=1e-12)


def test_a_batch_of_dense_hessians_of_a_repeated_sum_is_scattered_in_machine_code(rng):
    """A sum over samples has no dense kernel: the batch runs the values kernel and the scatter in
    the carried machine code, a scratch row per thread (in Python: twice the time); files saved
    before that batch existed scatter in Python, with the same numbers."""
    A, y = rng.standard_normal((50, 10)), rng.uniform(size=50)  # enough terms to be a repeated sum

    def nll(w):
        z = A @ w
        return np.sum(np.logaddexp(0, z) - y * z)

    compiled = symhess.compile(nll, np.zeros(10))
    compiled.wait_for_jit()
    g = pickle.loads(pickle.dumps(compiled))
    assert travel.SCATTER in g._kernels._batches and "hessian_full" not in g._kernels._batches  # the case checked
    points = rng.standard_normal((2 * travel.MIN_POINTS_PER_THREAD + 3, 10))  # split across threads
    expected = compiled.hessian(points)
    assert np.abs(expected).min() > 0  # every entry written: a missed scatter would leave a zero
    np.testing.assert_array_equal(g.hessian(points), expected)
    with travel.one_thread():
        np.testing.assert_array_equal(g.hessian(points), expected)
    del g._kernels._batches[travel.SCATTER]
    np.testing.assert_array_equal(g.hessian(points), expected)


def test_an_unpickled_point_is_evaluated(rosenbrock):
    """An array that came through pickle (a Dask task's argument) has a float64 dtype that is not
    NumPy's own object: the loaded kernels take it as any float64 vector."""
    x = pickle.loads(pickle.dumps(X))
    assert x.dtype is not np.dtype(np.float64)  # the case this checks
    g = pickle.loads(pickle.dumps(rosenbrock))
    np.testing.assert_array_equal(g.hessian(x), rosenbrock.hessian(X))
    np.testing.assert_array_equal(g.hvp(x, v=pickle.loads(pickle.dumps(V)))[1], rosenbrock.hvp(X, v=V)[1])


def test_the_value_keeps_its_shape_and_the_expression_is_read_when_asked():
    f = symhess.compile(lambda x: (x**2).sum().reshape(1, 1), np.zeros(3))
    g = pickle.loads(pickle.dumps(f))
    assert f.value(np.ones(3)).shape == (1, 1) and g.value(np.ones(3)).shape == (1, 1)
    assert "_outputs" not in g._trace.__dict__  # not read at load
    assert g.expression == f.expression and str(g.hessian_expression) == str(f.hessian_expression)
