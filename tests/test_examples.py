"""Every script in examples/ runs, and its result is checked."""

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
    H, H2 = load("pytorch_doc_examples")["main"]()
    assert H.shape == (2, 2, 2, 2)
    np.testing.assert_array_equal(H2[0][0], 4 * np.eye(2))
    np.testing.assert_array_equal(H2[1][1], 6 * np.eye(2))
    assert "Hessian" in capsys.readouterr().out


def test_compile_once(capsys):
    _, H = load("compile_once")["main"](n=20, points=50)
    assert H.shape == (20, 20)
    assert "matches scipy.optimize.rosen_hess: True" in capsys.readouterr().out


def test_every_example_is_tested():
    tested = {"pytorch_doc_examples", "compile_once", "quickstart"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} <= tested


def test_quickstart_runs(capsys):
    sys.modules.pop("compile_once", None)
    runpy.run_path(str(EXAMPLES / "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "pow_adder_reducer" in out and "per second" in out
