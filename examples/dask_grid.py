"""Ten million Hessians on a Dask cluster: where is Himmelblau's function locally convex?

Teaches: ``f.hessian(X)`` of a ``dask.array`` ``X`` of points (batch axis first) is a lazy Dask
array; each worker receives the compiled function once, with its machine code, and evaluates its
blocks without compiling.  Himmelblau's function (x² + y - 11)² + (x + y² - 7)² has four minima,
a maximum and four saddle points; its Hessian on a grid of 10⁷ points over the square [-5, 5]²
says where the function curves upwards in every direction (both eigenvalues positive: a
positive first entry and a positive determinant).  Reductions run on the workers: only a
few numbers come back.  The closed-form Hessian checks the count.

Run: python examples/dask_grid.py [--points 1e7] [--workers 2] [--scheduler tcp://host:8786]
(``--scheduler``: an existing cluster instead of a LocalCluster; see the docs page "Clusters").
"""

import argparse
import time

import numpy as np

import symhess


def himmelblau(p):
    x, y = p[0], p[1]
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def grid(points: int, chunk: int):
    """The points of a side x side grid of [-5, 5]², as a lazy (side², 2) Dask array made on the workers."""
    import dask.array as da

    side = round(points**0.5)
    k = da.arange(side * side, chunks=chunk)
    step = 10.0 / (side - 1)
    return da.stack([-5.0 + (k // side) * step, -5.0 + (k % side) * step], axis=1), side


def convex_fraction(H):
    """Lazy: the fraction of points where the 2 x 2 Hessians ``H`` are positive definite."""
    det = H[:, 0, 0] * H[:, 1, 1] - H[:, 0, 1] * H[:, 1, 0]
    return ((H[:, 0, 0] > 0) & (det > 0)).mean()


def exact_fraction(side: int) -> float:
    """The same count from the closed-form Hessian, in NumPy."""
    t = np.linspace(-5, 5, side)
    x, y = np.meshgrid(t, t, indexing="ij")
    fxx, fyy, fxy = 12 * x**2 + 4 * y - 42, 12 * y**2 + 4 * x - 26, 4 * x + 4 * y
    return float(((fxx > 0) & (fxx * fyy - fxy**2 > 0)).mean())


def main(points=10_000_000, workers=2, scheduler=None, chunk=500_000, processes=True):
    import dask
    from distributed import Client, LocalCluster

    f = symhess.compile(himmelblau, np.zeros(2))
    if scheduler is None:
        loopback = {"host": "127.0.0.1"} if processes else {}  # worker threads talk in-process
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                               dashboard_address="127.0.0.1:0", silence_logs=40, **loopback)
        client = Client(cluster)
    else:
        cluster, client = None, Client(scheduler)
    try:
        print(f"Dask dashboard: {client.dashboard_link}")
        X, side = grid(points, chunk)
        H = f.hessian(X)  # lazy: (side², 2, 2), chunked like X
        print(f"f.hessian(X): a {type(H).__module__}.{type(H).__name__} of shape {H.shape}, "
              f"{H.numblocks[0]} blocks of up to {chunk:,} points, dtype {H.dtype}")
        start = time.perf_counter()
        fraction, mean = dask.compute(convex_fraction(H), H.mean(axis=0))
        seconds = time.perf_counter() - start
        exact = exact_fraction(side) if side <= 4000 else None
        print(f"{side * side:,} Hessians in {seconds:.2f} s ({side * side / seconds / 1e6:.1f} million per second)")
        print(f"locally convex on {100 * fraction:.3f}% of [-5, 5]²"
              + (f" (closed form: {100 * exact:.3f}%)" if exact is not None else ""))
        print(f"mean Hessian over the square:\n{np.array2string(mean, precision=3)}")
        return {"fraction": float(fraction), "exact": exact, "mean": mean, "side": side, "seconds": seconds}
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=float, default=1e7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduler", default=None, help="address of an existing scheduler, e.g. tcp://host:8786")
    args = parser.parse_args()
    main(int(args.points), args.workers, args.scheduler)
