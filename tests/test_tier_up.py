"""The tier-up: Numba's kernels compiled by a separate process while tier 0 serves the calls,
which never wait for that compilation; a child that dies is replaced by a compilation in the
process (with a warning); no child outlives its parent, and the parent's exit does not wait."""

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import rosen, rosen_hess

import symhess
from symhess import compile_process, jit, pipeline

X = np.linspace(-0.5, 0.7, 5)
V = np.cos(np.arange(5.0))


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """An empty cache directory and no compiled function in memory: every compile starts cold."""
    monkeypatch.setenv("SYMHESS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    monkeypatch.setattr(jit, "_LOADED", {})
    return tmp_path


def test_calls_do_not_wait_for_the_numba_compilation(fresh, monkeypatch):
    """The separate process never answers (a compilation that takes forever): every kind of call
    still returns at once, from tier 0, with the exact numbers; then the kernels move to Numba's."""
    requests = []

    def submit(path, key, machine_code=None):
        requests.append(compile_process.Request(path, key, machine_code))
        return requests[-1]

    monkeypatch.setattr(compile_process.SERVER, "submit", submit)
    f = symhess.compile(rosen, X)
    start = time.perf_counter()
    results = [f.hessian(X), f.gradient(X), f.value(X), f.hvp(X, v=V)[1], f.hessian_values(X),
               f.hessian_sparse(X).toarray()]
    assert time.perf_counter() - start < 30  # tier 0: milliseconds; the Numba compilation never answers
    deadline = time.monotonic() + 30
    while not requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert requests and not f.wait_for_jit(0.2)  # the background thread is still waiting for the process
    np.testing.assert_allclose(results[0], rosen_hess(X), rtol=1e-13)
    np.testing.assert_allclose(results[5], rosen_hess(X), rtol=1e-13)
    for request in requests:  # "compiled": no optimised object file, and Numba's cache is empty, so the
        request.finish(True)  # thread compiles Numba's kernels itself
    assert f.wait_for_jit(120)
    assert type(f._kernels).__name__ == "module"
    after = [f.hessian(X), f.gradient(X), f.value(X), f.hvp(X, v=V)[1], f.hessian_values(X),
             f.hessian_sparse(X).toarray()]
    for tier_zero, numba in zip(results, after):
        np.testing.assert_array_equal(tier_zero, numba)  # both tiers: the same numbers


def test_llvm_s_optimised_code_serves_while_numba_s_kernels_are_compiled(fresh, monkeypatch):
    """The separate process answers LLVM's optimised object file first; the background thread links
    it into tier 0, whose calls run it (the same numbers) until Numba's kernels are loaded."""
    real, held = compile_process.SERVER.submit, []

    def submit(path, key, machine_code=None):
        if machine_code is not None:
            return real(path, key, machine_code)
        held.append(compile_process.Request(path, key))  # Numba's kernels: held back by the test
        return held[-1]

    monkeypatch.setattr(compile_process.SERVER, "submit", submit)
    f = symhess.compile(rosen, X)
    native = f._built.module.native
    first = [f.hessian(X), f.hvp(X, v=V)[1], f.gradient(X)]
    own = native._entry
    deadline = time.monotonic() + 120
    while getattr(native, "_adopted", None) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert native._adopted is not None and native._entry is native._adopted._entry is not own  # linked into tier 0
    assert held and not f.wait_for_jit(0.1)  # Numba's kernels not there yet
    assert f._kernels is native
    for before, after in zip(first, [f.hessian(X), f.hvp(X, v=V)[1], f.gradient(X)]):
        np.testing.assert_array_equal(after, before)
    held[0].finish(True)
    assert f.wait_for_jit(120) and type(f._kernels).__name__ == "module"
    np.testing.assert_array_equal(f.hessian(X), first[0])


def test_the_separate_process_fills_numba_s_cache(fresh):
    f = symhess.compile(rosen, X)
    assert f.wait_for_jit(300)
    key = f._built.layout.source_key
    index = list((fresh / "cache" / "__pycache__").glob(f"symhess_{key}.*.sealed.nbi"))
    assert len(index) >= 4  # written by the child: this process only loaded them
    assert compile_process.SERVER.pid() is not None  # kept for the next compile
    np.testing.assert_allclose(f.hessian(X), rosen_hess(X), rtol=1e-13)


def test_many_compiles_share_one_process(fresh):
    functions = [lambda x, k=k: rosen(x) + k * (x ** 3).sum() for k in range(3)]
    compiled = [symhess.compile(func, X) for func in functions]
    pids = {compile_process.SERVER.pid()}
    for k, f in enumerate(compiled):
        assert f.wait_for_jit(300)
        pids.add(compile_process.SERVER.pid())
        np.testing.assert_allclose(f.hessian(X), rosen_hess(X) + k * np.diag(6 * X), rtol=1e-12)
    assert len(pids - {None}) == 1


def test_a_pickled_function_restored_starts_on_tier_zero(fresh):
    f = symhess.compile(rosen, X)
    expected = f.hessian(X)
    pipeline._MEMORY.clear()
    jit._LOADED.clear()
    g = pickle.loads(pickle.dumps(f))
    assert hasattr(g._built.module, "on_ready")  # tiers, not a Numba module compiled at the first call
    np.testing.assert_array_equal(g.hessian(X), expected)
    assert g.wait_for_jit(300)
    np.testing.assert_array_equal(g.hessian(X), expected)


def _run(script: str, cache, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, SYMHESS_CACHE_DIR=str(cache))
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8", **kwargs)


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie waiting for its new parent counts as exited)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            return any(line.startswith("State:") and "Z" in line.split()[1] for line in status)
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


PREAMBLE = """
import os, sys, time, warnings
import numpy as np
from scipy.optimize import rosen, rosen_hess
import symhess
from symhess import compile_process
X = np.linspace(-0.5, 0.7, 5)
f = symhess.compile(rosen, X)
deadline = time.monotonic() + 60
while compile_process.SERVER.pid() is None and time.monotonic() < deadline:
    time.sleep(0.01)
child = compile_process.SERVER.pid()
assert child is not None
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_child_falls_back_to_compiling_in_the_process(tmp_path):
    body = textwrap.dedent("""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            os.kill(child, 9)
            first = f.hessian(X)
            assert f.wait_for_jit(300)
        messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
        assert len(messages) == 1 and "separate process" in messages[0] and "signal 9" in messages[0], messages
        assert np.array_equal(f.hessian(X), first) and np.allclose(first, rosen_hess(X), rtol=1e-13)
        print("ok")
        """)
    process = _run(PREAMBLE + body, tmp_path / "cache")
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0 and out.strip() == "ok", err[-3000:]


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_the_child_is_killed_at_exit_and_the_exit_does_not_wait(tmp_path):
    # the child frozen mid-compilation (SIGSTOP): an exit that waited for it would never come
    process = _run(PREAMBLE + "import signal\nos.kill(child, signal.SIGSTOP)\nprint(child, flush=True)\n",
                   tmp_path / "cache")
    line = process.stdout.readline()
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    assert _gone(int(line))


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_the_child_stops_when_its_parent_is_killed(tmp_path):
    process = _run(PREAMBLE + "print(child, flush=True)\ntime.sleep(600)\n", tmp_path / "cache")
    child = int(process.stdout.readline())
    assert not _gone(child)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child)


def test_a_child_that_cannot_start_falls_back(fresh, monkeypatch):
    monkeypatch.setattr(compile_process.sys, "executable", str(fresh / "no-such-python"))
    monkeypatch.setattr(compile_process, "SERVER", compile_process.Server())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = symhess.compile(rosen, X)
        first = f.hessian(X)
        assert f.wait_for_jit(300)
    assert any("separate process" in str(w.message) for w in caught)
    np.testing.assert_array_equal(f.hessian(X), first)


def test_the_drop_in_api_tiers_up_to_llvm_s_optimised_code_without_numba(fresh, monkeypatch):
    """The drop-in API's tier-up links LLVM's optimised machine code in the background: no
    separate process, no Numba module loaded (loading one holds the interpreter lock for
    milliseconds, which a Newton loop's calls met as stalls of 80 to 1000 times a call)."""
    from symhess import functional
    from symhess.travel import TravelKernels

    def refused(*_):
        raise AssertionError("the drop-in API asked for a Numba module")

    submit, optimised = compile_process.SERVER.submit, []

    def machine_code_only(path, key, machine_code=None):
        if machine_code is None:
            refused()
        optimised.append(path)
        return submit(path, key, machine_code)

    monkeypatch.setattr(compile_process.SERVER, "submit", machine_code_only)
    monkeypatch.setattr(pipeline, "load", refused)
    monkeypatch.setattr(functional, "_TRACES", type(functional._TRACES)())
    monkeypatch.setattr(functional, "_COMPILED", {})
    data = np.linspace(1.0, 2.0, 5)

    def f(x):
        return rosen(x) + (data * x ** 4).sum()

    expected = rosen_hess(X) + np.diag(12 * data * X ** 2)
    np.testing.assert_allclose(symhess.hessian(f, X), expected, rtol=1e-12)
    (compiled,) = functional._COMPILED.values()
    assert compiled.wait_for_jit(60)
    assert isinstance(compiled._kernels, TravelKernels)  # the switch happened, to the linked code
    assert len(optimised) == 1  # optimised by the separate process
    np.testing.assert_allclose(symhess.hessian(f, X), expected, rtol=1e-12)
    np.testing.assert_allclose(symhess.hvp(f, X, V)[1], expected @ V, rtol=1e-12)


@pytest.mark.slow
def test_importing_torch_while_the_drop_in_tiers_up_does_not_crash(tmp_path):
    """The optimisation for the drop-in's tier-up runs in the separate process. LLVM optimising
    in a thread of this process while the script imported torch aborted it (an LLVM assertion):
    MLP 8-24-1 called with NumPy, then torch imported and called with torch inputs."""
    script = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        import numpy as np, symhess
        import problems
        problem = problems.by_key("mlp8-241")
        x = problem.sample()
        symhess.hessian(problem.function("numpy"), x)
        import torch
        H = symhess.hessian(problem.function("torch"), torch.as_tensor(x))
        print(tuple(H.shape))
    """)
    benchmarks = Path(__file__).resolve().parent.parent / "benchmarks"
    result = subprocess.run([sys.executable, "-c", script, str(benchmarks)], capture_output=True, text=True,
                            timeout=600, env=dict(os.environ, SYMHESS_CACHE_DIR=str(tmp_path / "cache")))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["(241,", "241)"]


def _state(pid: int) -> str:
    """The state letter of process ``pid`` in /proc (``T``: stopped)."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        return next(line.split()[1] for line in status if line.startswith("State:"))


def _stopping(server, count: int):
    """A thread stopping (SIGSTOP) each of the next ``count`` children ``server`` starts, as soon as
    it exists (while it still has its request); ``(thread, the pids it stopped)``."""
    stopped = []

    def stop():
        deadline = time.monotonic() + 120
        while len(stopped) < count and time.monotonic() < deadline:
            pid = server.pid()
            if pid is not None and pid not in stopped:
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
            time.sleep(0.005)

    thread = threading.Thread(target=stop, daemon=True)
    thread.start()
    return thread, stopped


@pytest.fixture
def watchdog(fresh, monkeypatch):
    """A new compiling child for the test, counted hung after 3 s of silence."""
    monkeypatch.setattr(compile_process, "SERVER", compile_process.Server())
    monkeypatch.setattr(compile_process, "SILENCE", 3.0)
    yield compile_process.SERVER
    compile_process.SERVER.shutdown()


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_a_hung_child_is_killed_and_its_compilation_sent_to_a_new_one(watchdog):
    """A child stopped in the middle of its work (SIGSTOP: it hangs, it does not die) left tier 0
    serving forever; it is killed after SILENCE and the request goes to a new child, silently."""
    stopper, stopped = _stopping(watchdog, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = symhess.compile(rosen, X)
        stopper.join(60)
        assert stopped and _state(stopped[0]) == "T"  # the fault reached the child: stopped, with the request
        first = f.hessian(X)
        assert not f.wait_for_jit(1.0)  # still on tier 0: the stopped child does not answer
        assert _state(stopped[0]) == "T"
        assert f.wait_for_jit(120)  # never, unless the hung child is noticed
    assert _gone(stopped[0])  # killed
    assert watchdog.pid() not in (None, stopped[0])  # the new child compiled it
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]  # sent again: nothing to say
    assert type(f._kernels).__name__ == "module"
    np.testing.assert_array_equal(f.hessian(X), first)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_a_request_whose_children_hang_twice_is_compiled_in_the_process(watchdog):
    stopper, stopped = _stopping(watchdog, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = symhess.compile(rosen, X)
        first = f.hessian(X)
        stopper.join(120)
        assert len(stopped) == 2 and _state(stopped[1]) == "T"  # the second child got the request, stopped too
        assert f.wait_for_jit(300)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "wrote nothing" in messages[0], messages
    assert all(_gone(pid) for pid in stopped)
    np.testing.assert_array_equal(f.hessian(X), first)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="a named pipe")
def test_a_request_that_never_finishes_meets_the_deadline(watchdog, monkeypatch, tmp_path):
    """The child lives (its heartbeat goes on) but its compilation never ends: it reads a named
    pipe that nobody writes.  After DEADLINE the child is killed, the request sent once to a new
    child, and then failed (the caller compiles in its own process)."""
    monkeypatch.setattr(compile_process, "DEADLINE", 4.0)
    module = tmp_path / "symhess_endless.py"
    os.mkfifo(module)
    request = watchdog.submit(module, "endless")
    writers = []
    for reader in range(2):  # each child opens the pipe to read it: proof that the hang reached its target
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                writers.append(os.open(module, os.O_WRONLY | os.O_NONBLOCK))  # fails while no reader has it open
                break
            except OSError:
                time.sleep(0.01)
        assert len(writers) == reader + 1, "no child read the module"
        if len(writers) == 1:
            assert not request.wait(1.0)  # the first child hangs on it
            first = watchdog.pid()
            deadline = time.monotonic() + 60
            while watchdog.pid() in (None, first) and time.monotonic() < deadline:  # killed, a second started
                time.sleep(0.01)
            os.close(writers[0])
    assert len(writers) == 2
    assert not request.wait(60) and request._done.is_set()
    assert "more than 4 s" in request.error
    os.close(writers[1])


def test_eight_threads_evaluate_while_six_threads_compile(fresh):
    """One compiled function evaluated by 8 threads, from tier 0 through the switch, while 6 threads
    compile 6 other functions: every Hessian and product exact, every compile's too."""
    f = symhess.compile(rosen, X)
    compiling, overlapped, failures = threading.Event(), [], []

    def evaluate(seed):
        rng = np.random.default_rng(seed)
        for _ in range(300):
            x, v = rng.standard_normal(5), rng.standard_normal(5)
            during = compiling.is_set()
            try:
                np.testing.assert_allclose(f.hessian(x), rosen_hess(x), rtol=1e-12)
                np.testing.assert_allclose(f.hvp(x, v=v)[1], rosen_hess(x) @ v, rtol=1e-12)
            except AssertionError as error:
                failures.append(error)
            if during:
                overlapped.append(type(f._kernels).__name__)
            time.sleep(0.001)

    def build(k):
        compiling.set()
        try:
            g = symhess.compile(lambda x: rosen(x) + k * (x ** 4).sum(), X)
            np.testing.assert_allclose(g.hessian(X), rosen_hess(X) + np.diag(12 * k * X ** 2), rtol=1e-12)
        except AssertionError as error:
            failures.append(error)

    evaluators = [threading.Thread(target=evaluate, args=(seed,)) for seed in range(8)]
    builders = [threading.Thread(target=build, args=(k,)) for k in range(1, 7)]
    for thread in evaluators + builders:
        thread.start()
    for thread in evaluators + builders:
        thread.join(600)
    assert not failures, failures[:3]
    assert overlapped  # evaluations ran while the other functions compiled
    assert f.wait_for_jit(300)
