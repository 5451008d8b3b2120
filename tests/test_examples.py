"""Every script in examples/ runs (at small sizes), and its result is checked."""

import importlib.util
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(autouse=True)
def examples_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))


def load(name):
    return runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="example")


def test_pytorch_doc_examples(capsys):
    H, H2, symbolic, symbolic2 = load("pytorch_doc_examples")["main"]()
    assert H.shape == (2, 2, 2, 2)
    matrix = H.reshape(4, 4)
    np.testing.assert_array_equal(matrix, np.diag(np.diag(matrix)))
    np.testing.assert_allclose(symbolic, matrix, rtol=1e-14)
    np.testing.assert_array_equal(H2[0][0], 4 * np.eye(2))
    np.testing.assert_array_equal(H2[1][1], 6 * np.eye(2))
    np.testing.assert_array_equal(symbolic2, np.diag([4.0, 4, 6, 6]))
    out = capsys.readouterr().out
    assert "symbolic Hessian" in out and "6⋅x[0, 0]" in out


def test_compile_once(capsys):
    _, H = load("compile_once")["main"](n=20, points=50)
    assert H.shape == (20, 20)
    assert "matches scipy.optimize.rosen_hess: True" in capsys.readouterr().out


def test_newton_rosenbrock(capsys):
    results = load("newton_rosenbrock")["main"](n=10, gd_max_iter=2_000)
    x, iterations, _ = results["Newton"]
    assert iterations < 30
    np.testing.assert_allclose(x, np.ones(10), atol=1e-8)
    assert results["gradient descent"][1] == 2_000  # still crawling along the valley
    assert "gradient descent" in capsys.readouterr().out


def test_logistic_irls(capsys):
    result = load("logistic_irls")["main"](samples=40)
    assert result["symbolic_ok"] and result["numeric_ok"]
    assert result["iterations"] < 10
    assert np.all(np.abs(result["w"] - result["w_true"]) < 3 * result["se"])
    assert "H[0,1] = X[0, 0]*X[0, 1]*p0*(1 - p0)" in capsys.readouterr().out


def test_lennard_jones():
    example = load("lennard_jones")
    result = example["main"](atoms=4, starts=3)
    assert result["energy"] == pytest.approx(-6.0, abs=1e-9)  # a regular tetrahedron, 6 pairs at the well's bottom
    eigenvalues, near_zero = result["eigenvalues"], result["near_zero"]
    assert near_zero.sum() == 6
    assert np.all(eigenvalues[~near_zero] > 0)
    assert [m for _, m in example["degeneracies"](eigenvalues[~near_zero])] == [2, 3, 1]


def test_double_pendulum(capsys):
    result = load("double_pendulum")["main"](duration=1.0)
    assert result["symbolic"] and result["numeric"]
    assert result["energy_drift"] < 1e-8
    assert "cos(q[0] - q[1])" in capsys.readouterr().out


def test_laplace_approximation():
    result = load("laplace_approximation")["main"](samples=4_000)
    assert result["ess"] > 2_000
    np.testing.assert_array_less(np.abs(result["mean"] - result["mean_is"]), 0.25 * result["sd_is"])
    np.testing.assert_allclose(result["sd"], result["sd_is"], rtol=0.1)
    assert result["log_z"] == pytest.approx(result["log_z_is"], abs=0.05)


def phi4_chain_hessian(x):
    """By hand: 3 x_i^2 - 1 on the diagonal, plus cos of each neighbour difference; -cos off it."""
    coupling = np.cos(np.diff(x))
    H = np.diag(3 * x**2 - 1) - np.diag(coupling, 1) - np.diag(coupling, -1)
    H[np.arange(len(x) - 1), np.arange(len(x) - 1)] += coupling
    H[np.arange(1, len(x)), np.arange(1, len(x))] += coupling
    return H


TORCH_JIT_DEPRECATION = "ignore:`torch.jit.script` is deprecated:DeprecationWarning"  # inside torch.func's forward mode


@pytest.mark.filterwarnings(TORCH_JIT_DEPRECATION)
def test_batched_vs_frameworks(capsys):
    X, hessians = load("batched_vs_frameworks")["main"](n=6, batch=32, repeats=1)
    assert hessians["symhess"].shape == (32, 6, 6)
    np.testing.assert_allclose(hessians["symhess"], [phi4_chain_hessian(x) for x in X], rtol=1e-12, atol=1e-12)
    out = capsys.readouterr().out
    for name in ("torch", "jax"):
        if importlib.util.find_spec(name) is None:
            assert f"{name}  skipped: {name} is not installed" in out
        else:
            np.testing.assert_allclose(hessians[name], hessians["symhess"], rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings(TORCH_JIT_DEPRECATION)
def test_batched_vs_frameworks_skips_a_missing_framework(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` now fails as if it were not installed
    _, hessians = load("batched_vs_frameworks")["main"](n=6, batch=8, repeats=1)
    assert "jax" not in hessians
    assert "jax  skipped: jax is not installed" in capsys.readouterr().out


def test_quickstart(capsys):
    sys.modules.pop("compile_once", None)
    runpy.run_path(str(EXAMPLES / "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "pow_adder_reducer" in out and "per second" in out


def test_constrained_ipopt(capsys):
    pytest.importorskip("cyipopt", reason="cyipopt is optional: pip install 'symhess[ipopt]'")
    (ipopt, scipy), (nlp, control) = load("constrained_ipopt")["main"](N=100)
    np.testing.assert_allclose(ipopt.x, [1.0, 4.74299963, 3.82114998, 1.37940829], atol=1e-6)
    assert ipopt.nit == 8
    np.testing.assert_allclose(scipy.x, ipopt.x, atol=1e-4)
    assert control.success and nlp.n == 302 and nlp.m == 200
    assert np.all(np.abs(nlp.constraints(control.x)) < 1e-8), "the dynamics hold at the optimum"
    assert "Van der Pol, N = 100" in capsys.readouterr().out


def test_dask_grid(capsys):
    pytest.importorskip("distributed", reason="Dask is optional: pip install 'symhess[dask]'")
    result = load("dask_grid")["main"](points=40_000, chunk=7_000, processes=False)  # worker threads: quick
    assert result["side"] == 200
    assert result["fraction"] == result["exact"]  # every point classified as the closed form does
    square = np.mean(np.linspace(-5, 5, 200) ** 2)  # the mean of x² (and y²) over the grid
    np.testing.assert_allclose(result["mean"], np.diag([12 * square - 42, 12 * square - 26]), atol=1e-9)
    out = capsys.readouterr().out
    assert "Dask dashboard: http://" in out and "locally convex on" in out


def test_every_example_is_tested():
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert {p.stem for p in EXAMPLES.glob("*.py")} <= tested
