"""The disk cache: a new process finds generated code and Numba machine code."""

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symhess
from symhess import pipeline

SCRIPT = textwrap.dedent("""
    import json, time
    import numpy as np
    from scipy.optimize import rosen
    import symhess
    start = time.perf_counter()
    f = symhess.compile(rosen, np.ones({n}))
    seconds = time.perf_counter() - start
    f.hessian(np.ones({n}))
    print(json.dumps({{"seconds": seconds, "cache_hit": f.stats["cache_hit"]}}))
""")


def run_compile(cache, n):
    env = dict(os.environ, SYMHESS_CACHE_DIR=str(cache))
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(n=n)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
def test_second_process_reuses_the_disk_cache(tmp_path):
    first = run_compile(tmp_path, 100)
    second = run_compile(tmp_path, 100)
    assert not first["cache_hit"]
    assert second["cache_hit"]
    assert second["seconds"] < first["seconds"]
    print(f"\nRosenbrock n=100 compile: empty cache {first['seconds']:.2f} s, "
          f"warm cache {second['seconds']:.2f} s")


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    from symhess.cache import cache_dir

    monkeypatch.setenv("SYMHESS_CACHE_DIR", str(tmp_path / "here"))
    assert cache_dir() == tmp_path / "here"
    assert cache_dir().is_dir()


def test_the_garbage_collector_is_paused_while_compiling_from_scratch(monkeypatch):
    import gc

    import numpy as np

    import symhess
    from symhess import pipeline

    seen = []

    def generate(derivs):
        seen.append(gc.isenabled())
        raise RuntimeError("stop here")

    monkeypatch.setattr(pipeline, "_MEMORY", {})
    monkeypatch.setattr(pipeline, "generate", generate)
    assert gc.isenabled()
    with pytest.raises(RuntimeError, match="stop here"):
        symhess.compile(lambda x: (x**3).sum() + x[0] * x[1], np.ones(3), cache=False)
    assert seen == [False] and gc.isenabled()


def test_products_of_many_sums_and_deeply_nested_functions_compile(tmp_path):
    """Structures whose expressions, as trees, grow exponentially while their graphs stay small:
    multiplied out (simplify), distributed (loops) or walked as trees (atoms, the cache key),
    they took 35 s at n = 16, and did not finish, before the stages kept to the graph."""
    import numpy as np

    import symhess

    x = np.linspace(0.1, 0.8, 16)
    product = symhess.compile(lambda x: np.prod(1.0 + x), x)
    H = product.hessian(x)
    expected = np.prod(1.0 + x) / np.outer(1.0 + x, 1.0 + x)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(H, expected, rtol=1e-13)

    def euler(p, steps=12):  # an unrolled integrator of y' = p0 y - p1 y²
        y = 0.1
        for _ in range(steps):
            y = y + 0.05 * (p[0] * y - p[1] * y * y)
        return y

    p = np.array([1.0, 0.5])
    f = symhess.compile(euler, p)
    h = 1e-5
    for k in range(2):
        step = np.eye(2)[k] * h
        column = (f.gradient(p + step) - f.gradient(p - step)) / (2 * h)
        np.testing.assert_allclose(f.hessian(p)[:, k], column, rtol=1e-6)


def test_a_compile_reports_its_stages_and_fractions(caplog, monkeypatch):
    import logging

    from symhess import progress

    monkeypatch.setattr(pipeline, "_MEMORY", {})
    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    with caplog.at_level(logging.INFO, logger="symhess"):
        symhess.compile(lambda x: (x**3).sum() + np.sin(x).prod(), np.ones(6), cache=False)
    messages = [record.getMessage() for record in caplog.records if record.name == "symhess"]
    for stage in ("repeated terms", "differentiate", "simplify", "generate", "jit"):
        assert any(f"compile: {stage} (" in m for m in messages), stage
    assert any(re.search(r"compile: (differentiate|generate) \d+% ", m) for m in messages)


def test_a_hessian_too_large_to_write_out_is_refused_with_the_ways_out(monkeypatch):
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    monkeypatch.setattr(pipeline, "HESSIAN_ENTRIES", 100)
    with pytest.raises(ValueError, match=r"about 465 entries.*of 30 variables.*\n  ways out: .*wrt="):
        symhess.compile(lambda x: x.sum() ** 2, np.ones(30), cache=False)
    symhess.compile(lambda x: (x**2).sum(), np.ones(30), cache=False)  # 30 entries: compiles


class _Recorder:
    """A module whose kernels record the lengths of the arrays they are called with."""

    def __init__(self, points: bool):
        self.calls = {}
        names = ["value", "gradient", *(("hessian_into", "hvp_into") if points else ("hessian", "hvp", "hessian_dense"))]
        for name in names:
            setattr(self, name, self._kernel(name))

    def _kernel(self, name):
        def kernel(*arrays):
            self.calls[name] = [np.shape(a) for a in arrays]
        return kernel


@pytest.mark.parametrize(("m", "n", "dense"), [(0, 5, True), (7, 5, True), (0, 1001, False), (3, 1001, False)])
def test_the_kernels_are_warmed_at_zero_when_the_numba_module_loads(m, n, dense):
    """A Numba kernel's first call costs about 0.2 ms more than the next: the background thread
    calls each once (dense Hessians only when small), so the first call after the switch does not."""
    rows = np.arange(n)
    layout = pipeline.Layout(n=n, m=m, rows=rows, cols=rows, source_key="k", simplify="fast")
    module = _Recorder(points=m == 0)
    pipeline.warm_kernels(module, layout)
    dense_kernel = "hessian_into" if m == 0 else "hessian_dense"
    assert (dense_kernel in module.calls) == dense
    assert module.calls["value"] == [(n,), (m,)] and module.calls["gradient"] == [(n,), (m,), (n,)]
    if m == 0:
        assert module.calls["hvp_into"] == [(n,), (n,), (n,)]
    else:
        assert module.calls["hvp"] == [(n,), (m,), (n,), (n,)] and module.calls["hessian"] == [(n,), (m,), (n,)]


def test_the_background_thread_warms_the_kernels_it_loads(monkeypatch, rng):
    warmed = []
    original = pipeline.warm_kernels

    def recording(module, layout):
        warmed.append(layout.n)
        original(module, layout)

    monkeypatch.setattr(pipeline, "warm_kernels", recording)
    X = rng.standard_normal((20, 3))
    f = symhess.compile(lambda w: np.logaddexp(0.0, X @ w).sum(), np.zeros(3), cache=False)
    assert f.wait_for_jit(120)
    assert 3 in warmed  # (earlier tests' background threads may finish loading meanwhile)
    w = rng.standard_normal(3)
    s = 1 / (1 + np.exp(-(X @ w)))
    np.testing.assert_allclose(f.hessian(w), X.T @ (X * (s * (1 - s))[:, None]), rtol=1e-12)
