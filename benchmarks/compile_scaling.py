"""Compile time against problem size: every stage should grow no faster than what it processes.

    python benchmarks/compile_scaling.py [--out benchmarks/results]

Two problems as users write them, each size compiled in a new process with an empty cache
(``symhess.compile`` plus the first Hessian): Lennard-Jones clusters in plain NumPy
(``P[:, None] - P[None]``, ``np.triu_indices``: the pairs grow as N²) and logistic regression
with 40 features and its data read from the enclosing scope (the rows grow as the samples).
Writes ``compile_scaling.md`` (seconds per stage) and ``compile_scaling.png`` (seconds against
the number of repeated terms, log-log, with a line of slope one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

WORKER = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    import symhess

    family, size = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(0)
    if family == "lennard_jones":
        pairs = np.triu_indices(size, 1)

        def f(x):
            P = x.reshape(-1, 3)
            s = ((P[:, None] - P[None]) ** 2).sum(-1)[pairs]
            return (4 * (s ** -6 - s ** -3)).sum()

        side = int(np.ceil(size ** (1 / 3)))
        grid = np.stack(np.meshgrid(*[np.arange(side)] * 3), -1).reshape(-1, 3)[:size] * 1.1
        x, terms = (grid + 0.05 * rng.normal(size=grid.shape)).reshape(-1), size * (size - 1) // 2
    else:
        X, y = rng.normal(size=(size, 40)), (rng.random(size) < 0.5).astype(float)

        def f(w):
            z = X @ w
            return np.sum(np.log1p(np.exp(z)) - y * z)

        x, terms = 0.1 * rng.normal(size=40), size
    start = time.perf_counter()
    compiled = symhess.compile(f, x)
    compiled.hessian(x)
    seconds = time.perf_counter() - start
    print(json.dumps({"family": family, "size": size, "n": int(x.size), "terms": terms, "seconds": seconds,
                      "stages": compiled.stats["seconds"]}))
""")

SIZES = {"lennard_jones": (8, 13, 20, 38, 60, 100), "logistic": (50, 100, 250, 500, 1000, 2000)}
STAGES = ("trace", "cache_lookup", "patterns", "differentiate", "simplify", "generate", "jit")


def measure(family: str, size: int, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, SYMHESS_CACHE_DIR=cache)
        try:
            done = subprocess.run([sys.executable, "-c", WORKER, family, str(size)], env=env, capture_output=True,
                                  text=True, encoding="utf-8", timeout=timeout, check=True)
        except subprocess.TimeoutExpired:
            return {"family": family, "size": size, "timeout": timeout}
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(rows: list[dict]) -> str:
    lines = ["# Compile time against problem size", "",
             "`python benchmarks/compile_scaling.py`: each size in a new process with an empty cache, "
             "`symhess.compile` plus the first Hessian (seconds). *Terms*: the copies of the repeated "
             "formula (atom pairs, data rows). Per-stage seconds from `f.stats`.", "",
             "| problem | size | n | terms | total | " + " | ".join(STAGES) + " | total / term (ms) |",
             "|---|---|---|---|---|" + "---|" * len(STAGES) + "---|"]
    for row in rows:
        label = "Lennard-Jones, N atoms" if row["family"] == "lennard_jones" else "logistic, rows x 40"
        if "timeout" in row:
            lines.append(f"| {label} | {row['size']} | | | timed out after {row['timeout']:.0f} s |"
                         + " |" * (len(STAGES) + 1))
            continue
        stages = " | ".join(f"{row['stages'].get(stage, 0.0):.2f}" for stage in STAGES)
        lines.append(f"| {label} | {row['size']} | {row['n']} | {row['terms']} | {row['seconds']:.2f} | {stages} | "
                     f"{1000 * row['seconds'] / row['terms']:.2f} |")
    lines += ["", "![compile time against the number of repeated terms](compile_scaling.png)", ""]
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), layout="constrained")
    ax = figure.add_subplot()
    for family, label in (("lennard_jones", "Lennard-Jones (atom pairs)"), ("logistic", "logistic, 40 features (rows)")):
        done = [row for row in rows if row["family"] == family and "timeout" not in row]
        ax.loglog([row["terms"] for row in done], [row["seconds"] for row in done], marker="o", label=label)
    every = [row for row in rows if "timeout" not in row]
    if every:
        low = min(every, key=lambda row: row["terms"])
        terms = [low["terms"], max(row["terms"] for row in every)]
        ax.loglog(terms, [low["seconds"] * t / terms[0] for t in terms], linestyle=":", color="0.5", label="slope one")
    ax.set_xlabel("repeated terms")
    ax.set_ylabel("compile + first Hessian (s)")
    ax.legend()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    rows = []
    for family, sizes in SIZES.items():
        for size in sizes:
            rows.append(measure(family, size, args.timeout))
            print(json.dumps(rows[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compile_scaling.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    (args.out / "compile_scaling.md").write_text(report(rows), encoding="utf-8")
    plot(rows, args.out / "compile_scaling.png")


if __name__ == "__main__":
    main()
