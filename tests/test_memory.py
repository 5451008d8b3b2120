"""Bounded memory: every in-process cache drops its least recently used entries, and a long loop
of drop-in calls with fresh closures and fresh data keeps the resident size flat."""

import dataclasses
import gc
import json
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

import symhess
from symhess import expression_lists, functional, jacobians, jit, native, pipeline
from symhess.lru import LRU, LRUSet
from symhess.tracing import elementwise

LOOP = Path(__file__).with_name("memory_loop.py")


def test_lru_drops_the_least_recently_used():
    dropped = []
    cache = LRU(2, on_evict=lambda key, value: dropped.append((key, value)))
    cache["a"], cache["b"] = 1, 2
    assert cache["a"] == 1  # a use: "b" is now the least recently used
    cache["c"] = 3
    assert dropped == [("b", 2)] and list(cache) == ["a", "c"]
    assert cache.get("b") is None and cache.setdefault("a", 9) == 1 and cache.setdefault("d", 4) == 4
    assert list(cache) == ["a", "d"] and len(cache) == 2
    members = LRUSet(2)
    for member in "xyz":
        members.add(member)
    assert "x" not in members and "y" in members and "z" in members and len(members) == 2


CACHES = [(pipeline, "_MEMORY"), (functional, "_COMPILED"), (functional, "_LIFTS"), (jit, "_LOADED"),
          (functional, "_VECTOR_TRACES"), (expression_lists, "_LISTS"), (jacobians, "_BY_OUTPUTS"),
          (elementwise, "_SYMPY_SYMBOLS")]


@pytest.mark.parametrize(("module", "name"), CACHES, ids=lambda item: getattr(item, "__name__", item))
def test_every_module_level_cache_is_bounded(module, name):
    cache = getattr(module, name)
    assert isinstance(cache, LRU) and cache.maxsize <= 1 << 16
    assert isinstance(functional._UNTRUSTED, LRUSet) and functional._TRACE_CACHE_SIZE <= 128


def test_caches_keep_to_their_bound_and_evicted_entries_compile_again(monkeypatch):
    for tiers in [obj for obj in gc.get_objects() if type(obj) is native.Tiers and obj.started]:
        tiers.wait(300)  # earlier tests' tier-ups would load their modules into this test's cache
    for module, name in [(pipeline, "_MEMORY"), (functional, "_COMPILED"), (jit, "_LOADED")]:
        monkeypatch.setattr(module, name, LRU(2, on_evict=getattr(module, name).on_evict))
    monkeypatch.setattr(functional, "_TRACES", OrderedDict())
    monkeypatch.setattr(functional, "_TRACE_CACHE_SIZE", 2)
    # Numba's modules loaded at the call, not by the background tier-up whenever it ends
    monkeypatch.setattr(functional, "_OPTIONS", dataclasses.replace(functional._OPTIONS, eager_jit=False))
    x = np.array([0.3, -0.7])
    powers = (3, 4, 5, 6, 3)  # five functions, the last the first again, dropped meanwhile
    names = set()
    for power in powers:
        H = symhess.hessian(lambda w: (w**power).sum(), x)  # noqa: B023 - called now
        np.testing.assert_allclose(H, np.diag(power * (power - 1) * x ** (power - 2)), rtol=1e-13)
        assert len(pipeline._MEMORY) <= 2 and len(functional._COMPILED) <= 2 and len(jit._LOADED) <= 2
        assert len(functional._TRACES) <= 2
        names |= {module.__name__ for module in jit._LOADED.values()}
    kept = {module.__name__ for module in jit._LOADED.values()}
    assert len(names) == 4 and len(kept) == 2
    assert not (names - kept) & set(sys.modules)  # dropped modules left sys.modules too


def run_loop(calls: int, kind: str) -> dict:
    done = subprocess.run([sys.executable, str(LOOP), str(calls), kind], capture_output=True, text=True,
                          encoding="utf-8", timeout=1800, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads the resident size from /proc")
@pytest.mark.parametrize(("calls", "kind"), [(400, "plain"), (120, "opaque")])
def test_a_loop_of_drop_in_calls_keeps_the_resident_size_flat(calls, kind):
    measured = run_loop(calls, kind)
    assert measured["peak_mb"] - measured["after_first_mb"] < 20, measured


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads the resident size from /proc")
@pytest.mark.parametrize("kind", ["plain", "opaque"])
def test_ten_thousand_drop_in_calls_keep_the_resident_size_within_20_mb(kind):
    """Fresh closures over fresh data of three shapes; ``opaque`` traces again at every call."""
    measured = run_loop(10_000, kind)
    assert measured["peak_mb"] - measured["after_first_mb"] < 20, measured
    assert measured["end_mb"] - measured["after_shapes_mb"] < 5, measured
