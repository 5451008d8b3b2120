"""The benchmark suite's machinery: every backend computes the same function, the
hand-written kernels are right, and one tiny run writes its report.

The references (PyTorch, JAX, CasADi) are optional: their checks skip, saying so.
"""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import handwritten
import problems
import references as refs

SMALL = [problems.POW_ADDER, problems.sum_of_cubes_problem(4), problems.rosenbrock_problem(10),
         problems.logistic_problem(20), problems.lennard_jones_problem(3), problems.mlp_problem(2),
         # issue 12's problems, small: NumPy broadcasting, wide data from the closure, dense A @ x, wider MLPs
         problems.lennard_jones_numpy_problem(4), problems.wide_logistic_problem(30),
         problems.ax_fourth_problem(6), problems.by_key("mlp8-21"), problems.by_key("mlp10-25")]
IDS = [p.key for p in SMALL]


def require(library: str) -> None:
    if importlib.util.find_spec(library) is None:
        pytest.skip(f"{library} is not installed (optional reference)")


def finite_difference_hessian(f, x, step=1e-4):
    """Central differences of the value: independent of every tool under test."""
    n, H = x.size, np.empty((x.size, x.size))
    for i in range(n):
        for j in range(n):
            di, dj = np.eye(n)[i] * step, np.eye(n)[j] * step
            H[i, j] = (f(x + di + dj) - f(x + di - dj) - f(x - di + dj) + f(x - di - dj)) / (4 * step ** 2)
    return H


def close(a, b, tolerance):
    return np.max(np.abs(np.asarray(a) - b)) <= tolerance * np.max(np.abs(b))


@pytest.mark.parametrize("problem", SMALL, ids=IDS)
def test_handwritten_kernels_match_finite_differences_of_the_formula(problem):
    x, v = problem.sample(), np.random.default_rng(1).normal(size=problem.n)
    f = problem.function("numpy")
    k = handwritten.kernels(problem)
    H = k.hessian(x)
    assert close(H, finite_difference_hessian(f, x), 1e-5)
    value, hv = k.hvp(x, v)
    assert value == pytest.approx(f(x), rel=1e-12)
    assert close(hv, H @ v, 1e-12)

def test_the_sparse_baseline_is_the_dense_hessians_two_diagonals():
    problem = problems.rosenbrock_problem(7)
    x = problem.sample()
    diagonal, off = handwritten.rosenbrock_tridiagonal(x)
    assert close(np.diag(diagonal) + np.diag(off, 1) + np.diag(off, -1), handwritten.kernels(problem).hessian(x), 1e-15)


def test_batches_thread_over_points_and_can_be_held_to_one_thread():
    problem = problems.rosenbrock_problem(10)
    X = np.stack([problem.sample(seed) for seed in range(3)])
    k = handwritten.kernels(problem)
    calls = refs.handwritten(problem, X[0], X[1], X)
    expected = np.stack([k.hessian(x) for x in X])
    assert close(calls.hessian_batch(), expected, 1e-12)
    assert close(refs.one_thread(calls).hessian_batch(), expected, 1e-12)


@pytest.mark.parametrize("backend", ["torch", "jax", "casadi"])
@pytest.mark.parametrize("problem", SMALL, ids=IDS)
def test_every_backend_computes_the_same_function_and_hessian(problem, backend):
    require(backend)
    x, v = problem.sample(), np.random.default_rng(1).normal(size=problem.n)
    build = {"torch": refs.torch_autograd, "jax": refs.jax_jit, "casadi": refs.casadi_call}[backend]
    calls = build(problem, x, v, None)
    expected = handwritten.kernels(problem)
    assert close(calls.dense(calls.hessian()), expected.hessian(x), 1e-10)
    assert close(calls.vector(calls.hvp()), expected.hvp(x, v)[1], 1e-10)


def test_casadi_buffers_give_the_dense_hessian_and_batches():
    require("casadi")
    problem = problems.rosenbrock_problem(10)
    x, v = problem.sample(), np.ones(10)
    X = np.stack([x, 2 * x, -x])
    calls = refs.casadi_buffer(problem, x, v, X)
    expected = handwritten.kernels(problem)
    assert close(calls.dense(calls.hessian()), expected.hessian(x), 1e-12)
    assert close(calls.vector(calls.hvp()), expected.hvp(x, v)[1], 1e-12)
    assert close(calls.batch_dense(calls.hessian_batch()), expected.hessian_batch(X), 1e-12)


def test_problem_keys_name_their_instances():
    assert problems.by_key("rosenbrock-37").n == 37
    assert problems.by_key("lennard_jones-13").n == 39
    assert problems.by_key("mlp-61").label.startswith("MLP 4-10-1")
    assert problems.by_key("mlp8-241").label.startswith("MLP 8-24-1 tanh, MSE on 32 samples")
    assert problems.by_key("mlp10-601").label.startswith("MLP 10-50-1 tanh, MSE on 64 samples")
    assert problems.by_key("lennard_jones_numpy-38").n == 114
    assert problems.by_key("logistic_inputs-500").data_as_inputs
    assert problems.by_key("ax4-200").arrays[0].shape == (200, 200)
    assert {p.key for p in problems.issue12_problems()} >= {"lennard_jones_numpy-100", "logistic_closure-500",
                                                             "ax4-60", "mlp-61", "mlp10-601"}
    with pytest.raises(KeyError, match="family-size"):
        problems.by_key("rosenbrok-10")
    with pytest.raises(KeyError, match="8-h-1"):
        problems.by_key("mlp8-62")


def test_data_as_arguments_is_the_same_function():
    problem = problems.by_key("logistic_inputs-30")
    x = problem.sample()
    assert problem.function_of_data()(x, *problem.arrays) == pytest.approx(problem.function()(x), rel=1e-14)


def test_large_clusters_sit_near_the_pair_minimum():
    """The lattice clusters of Lennard-Jones 38 and 100: no two atoms closer than the potential's minimum."""
    for atoms in (38, 100):
        P = problems.fcc_cluster(atoms).reshape(-1, 3)
        distances = np.linalg.norm(P[:, None] - P[None], axis=-1)[np.triu_indices(atoms, 1)]
        assert distances.min() == pytest.approx(2 ** (1 / 6))


def test_one_tiny_run_writes_tables_json_and_plots(tmp_path, monkeypatch):
    """The whole same-process path on the smallest problem: every tool timed, checked and reported."""
    monkeypatch.setenv("SYMHESS_CACHE_DIR", str(tmp_path / "cache"))  # restored after the run moves it
    import run

    results = run.main(["--quick", "--only", "pow_adder_reducer-4", "--skip-compile", "--out", str(tmp_path)])
    measured = results["problems"]["pow_adder_reducer-4"]
    for op in ("hessian", "hvp"):
        assert isinstance(measured["latency"][op][refs.SYMHESS], float)
        assert max(measured["correctness"][op].values()) < 1e-12
    assert measured["batch"]["tools"][refs.SYMHESS]["difference"] < 1e-12
    results = json.loads((tmp_path / "benchmarks.json").read_text(encoding="utf-8"))
    assert results["problems"].keys() == {"pow_adder_reducer-4"}
    report = (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
    assert "## Targets" in report and "hessian per call ÷ hand-written Numba" in report
    if importlib.util.find_spec("matplotlib") is not None:
        assert all((tmp_path / name).stat().st_size > 0 for name in ("latency_ratios.png", "throughput.png"))


def test_new_process_measurements_report_phases_and_timeouts(tmp_path):
    import run

    cold = run.in_new_process("symhess", "sum_of_cubes-4", tmp_path, timeout=120)
    assert cold["status"] == "ok" and not cold["cache_hit"] and cold["peak_mb"] > 10
    warm = run.in_new_process("symhess", "sum_of_cubes-4", tmp_path, timeout=120)
    assert warm["cache_hit"] and warm["total"] == pytest.approx(warm["build"] + warm["first_call"])
    assert run.in_new_process("symhess", "rosenbrock-3000", tmp_path / "late", timeout=0.5)["status"] == "timeout"


def test_issue12_targets_say_timeouts_and_goals():
    """The report's issue-12 rows from made-up measurements: a timeout is said, the goals are checked."""
    import report

    def compiled(total):
        return {"status": "ok", "build": total, "first_call": 0.0, "total": total, "stages": {}, "peak_mb": 1.0}

    latency = {"hessian": {refs.SYMHESS: 1e-6, refs.JAX: 1e-4, refs.HANDWRITTEN: 1e-6},
               "hvp": {refs.SYMHESS: 1e-6, refs.JAX: "timed out after 300 s", refs.HANDWRITTEN: 1e-6}}
    results = {"problems": {
        "ax4-60": {"n": 60, "label": "A x", "family": "ax4", "latency": latency,
                   "compile": {"symhess cold": compiled(0.5), "jax": compiled(0.4)}},
        "mlp10-601": {"n": 601, "label": "MLP", "family": "mlp10", "latency": {},
                      "compile": {"symhess cold": {"status": "timeout", "timeout": 120.0}}}},
        "newton_loop": {"symhess": {"status": "ok", "first": 3.0, "later_median": 1e-4, "later_max": 1.5e-4,
                                    "repeated_median": 1e-4, "growth_mb": 0.5, "batches": 50},
                        "torch": {"status": "ok", "later_median": 1e-3}}}
    rows = {row[0]: row[1:] for row in report.issue12_targets(results) + report.newton_targets(results["newton_loop"])}
    assert rows["ax4-60: cold compile + first Hessian ÷ JAX jit(hessian) first call"][2] == "yes"
    timed_out = next(v for k, v in rows.items() if k.startswith("mlp10-601"))
    assert timed_out[0] == "timed out after 120 s" and timed_out[2] == "**no**"
    assert "hvp-only" in next(k for k in rows if k.startswith("mlp10-601"))
    assert rows["issue 12, hvp per call ÷ jax.jit, every problem"][2] == "**no**"
    assert rows["issue 12, hessian per call ÷ jax.jit, n ≤ 100"][2] == "yes"
    assert all(v[2] == "yes" for k, v in rows.items() if k.startswith("Newton loop"))


@pytest.mark.slow
def test_issue12_problems_are_measured_in_new_processes(tmp_path, monkeypatch):
    """The isolated path on a tiny (A x)^4: every group of tools in its own process, checked against the
    hand-written kernel; the Newton-loop worker's numbers."""
    monkeypatch.setenv("SYMHESS_CACHE_DIR", str(tmp_path / "cache"))
    import run

    results = run.main(["--quick", "--only", "ax4-3", "--skip-compile", "--out", str(tmp_path)])
    measured = results["problems"]["ax4-3"]
    assert measured["issue12"]
    for op in ("hessian", "hvp"):
        assert isinstance(measured["latency"][op][refs.SYMHESS], float)
        assert max(measured["correctness"][op].values()) < 1e-12
    newton = run.run_worker(["newton", "symhess"], tmp_path / "newton", timeout=300)
    assert newton["status"] == "ok" and newton["difference"] < 1e-12 and len(newton["later"]) == 49
