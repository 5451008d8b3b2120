"""A long loop of drop-in calls, for the bounded-memory checks (tests/test_memory.py) and by hand:

    python tests/memory_loop.py CALLS [plain|opaque]

Each call makes a fresh closure over fresh data (new values; the shapes cycle through a few),
``symhess.hessian(lambda w: nll(w, X, y), w)``; with ``opaque`` the closure also reads an object
that the fingerprint cannot summarise, so every call traces again.  Prints one JSON line: the
resident size (``/proc/self/statm``, MB) after the first call, after the first call of each
shape, at the end, and the largest seen after that.
"""

import json
import os
import sys
import time

import numpy as np

import symhess

SHAPES = ((16, 4), (24, 4), (16, 5))


def resident_mb() -> float:
    with open("/proc/self/statm", encoding="utf-8") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def nll(w, X, y):
    z = X @ w
    return np.sum(np.log1p(np.exp(z)) - y * z)


class Opaque:
    """An object: the fingerprint cannot summarise it (its attributes could change)."""

    def __init__(self, scale):
        self.scale = scale


def main(calls: int, kind: str) -> dict:
    rng = np.random.default_rng(0)
    points = {d: rng.normal(size=d) for _, d in SHAPES}
    start = time.perf_counter()
    after_first = after_shapes = peak = None
    for k in range(calls):
        n, d = SHAPES[k % len(SHAPES)]
        X = rng.normal(size=(n, d))
        y = (rng.random(n) > 0.5).astype(np.float64)
        if kind == "opaque":
            scale = Opaque(1.5)  # a new object each call, of the same value
            H = symhess.hessian(lambda w: scale.scale * nll(w, X, y), points[d])  # noqa: B023 - called now
        else:
            H = symhess.hessian(lambda w: nll(w, X, y), points[d])  # noqa: B023 - called now
        assert H.shape == (d, d)
        if k == 0:
            for compiled in list(symhess.functional._COMPILED.values()):
                compiled.wait_for_jit()  # the first compile ends when Numba's kernels have taken over
            after_first = resident_mb()
        if k == len(SHAPES) - 1:
            after_shapes = peak = resident_mb()
        elif k >= len(SHAPES) and k % 50 == 0:
            peak = max(peak, resident_mb())
    end = resident_mb()
    return {"calls": calls, "kind": kind, "after_first_mb": after_first, "after_shapes_mb": after_shapes,
            "end_mb": end, "peak_mb": max(peak, end), "seconds": time.perf_counter() - start}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "plain")))
