"""``symhess inspect``: text and JSON reports, one-line errors."""

import json
from pathlib import Path

import pytest

from symhess.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "pytorch_doc_examples.py"


def test_expr_form(capsys):
    assert main(["inspect", "--expr", "x**3 + sin(x*y)", "--vars", "x,y", "--hessian"]) == 0
    assert "sin(x⋅y)" in capsys.readouterr().out


def test_file_form_json(capsys):
    assert main(["inspect", f"{EXAMPLE}:pow_adder_reducer", "--shape", "2", "--shape", "2",
                 "--format", "json", "--sparsity", "--hessian", "--stats"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sparsity"]["rows"] == [0, 1, 2, 3]
    assert report["hessian"][0][0] == "4"
    assert report["stats"]["n"] == 4


def test_errors_are_one_line(capsys):
    with pytest.raises(SystemExit, match="file not found"):
        main(["inspect", "missing.py:f", "--shape", "2"])
    with pytest.raises(SystemExit, match="has no function 'nope'"):
        main(["inspect", f"{EXAMPLE}:nope", "--shape", "2"])
    with pytest.raises(SystemExit, match="bad --shape"):
        main(["inspect", f"{EXAMPLE}:pow_reducer", "--shape", "a"])
    assert main(["inspect", f"{EXAMPLE}:pow_reducer", "--shape", "2", "--shape", "2"]) == 1
    assert "symhess: TypeError" in capsys.readouterr().err
