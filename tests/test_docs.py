"""The documentation site builds in strict mode and documents every public name."""

import ast
import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symhess
import symhess.testing

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def load_generate():
    spec = importlib.util.spec_from_file_location("symhess_docs_generate", DOCS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_page_has_a_directive_for_every_public_name():
    directives = set(re.findall(r"^::: ([\w.]+)", (DOCS / "api.md").read_text(encoding="utf-8"), re.MULTILINE))
    missing = [name for name in symhess.__all__ if f"symhess.{name}" not in directives]
    assert not missing, f"add '::: symhess.NAME' to docs/api.md for {missing}"
    assert "symhess.testing" in directives


def test_executed_blocks_show_statements_and_what_python_prints():
    generate = load_generate()
    shown = generate.transcript("# a comment\nx = 1 + 1\nx\nfor k in range(2):\n    print(k)\n", {}, "<test>")
    assert shown == ("```pycon\n>>> # a comment\n>>> x = 1 + 1\n>>> x\n2\n"
                     ">>> for k in range(2):\n...     print(k)\n...\n0\n1\n```")


def test_a_failing_executed_block_stops_the_build():
    generate = load_generate()
    with pytest.raises(generate.GenerationError, match="ZeroDivisionError"):
        generate.expand('```python exec="s"\n1 / 0\n```\n', "page.md")


def test_a_block_needing_a_missing_optional_module_is_shown_unrun():
    shown = load_generate().expand('```python exec="s" requires="no_such_module"\n1 / 0\n```\n', "page.md")
    assert shown.startswith("```python\n1 / 0\n```") and "Not run: no_such_module is not installed" in shown


def test_op_db_section_lists_each_operator_not_traced_with_its_reason():
    section = load_generate().op_db_coverage(sessions={})
    summary = section.splitlines()[0]
    assert summary.startswith("Measured with PyTorch") and "mismatch 0" in summary
    shown, everything = section.split('??? note "All ')
    not_traced = [row for row in shown.splitlines() if row.startswith("| `")]
    assert not_traced and all(row.split("|")[2].strip() in ("refused", "error") and row.split("|")[3].strip()
                              for row in not_traced)
    assert all(line.startswith("    |") for line in everything.splitlines()[2:] if line), "inside the note"


def test_every_untraceable_example_raises():
    """The 'What can be traced' page shows each example's error; one that traces fails the build."""
    section = load_generate().untraceable(sessions={})
    assert section.count("### ") == section.count("```python") >= 10
    assert section.count("symhess cannot trace this") >= 8


def test_benchmark_results_are_included_with_their_plots(tmp_path, monkeypatch):
    generate = load_generate()
    monkeypatch.setattr(generate, "RESULTS", tmp_path)
    assert "python benchmarks/run.py" in generate.benchmarks(sessions={})  # none yet: how to make them
    (tmp_path / "speed.png").write_bytes(b"")
    (tmp_path / "memory.png").write_bytes(b"")
    (tmp_path / "benchmarks.md").write_text(
        "# Results\n\n![speed](speed.png)\n[the script](../run.py) and [PyTorch](https://pytorch.org)\n",
        encoding="utf-8")
    section = generate.benchmarks(sessions={})
    assert section.startswith("## Results")  # below the page's own title
    assert "![speed](performance/speed.png)" in section and "![memory](performance/memory.png)" in section
    assert "the script and [PyTorch](https://pytorch.org)" in section  # links into the repository become text


# ----- the built site (needs the docs extra; CI installs it with the test extra) --------------
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
        if os.environ.get("CI"):
            pytest.fail("mkdocs is not installed in CI: the test extra must include symhess[docs]")
        pytest.skip('mkdocs is not installed: pip install -e ".[docs]" to build the documentation')
    directory = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(directory)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-6000:]}"
    return directory


def page(site, name) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


def page_text(site, name) -> str:
    """What a reader sees: the page without its tags (code is split into highlighted spans)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page(site, name)))


def public_compiled_members():
    compiled = symhess.compile(lambda x: (x * x).sum(), np.zeros(1))
    names = set(dir(type(compiled))) | set(vars(compiled))
    return sorted(name for name in names if not name.startswith("_"))


@pytest.mark.slow
def test_api_reference_covers_every_public_name(site):
    anchors = set(re.findall(r'id="([^"]+)"', page(site, "api")))
    expected = ({f"symhess.{name}" for name in symhess.__all__}
                | {f"symhess.testing.{name}" for name in symhess.testing.__all__}
                | {f"symhess.Compiled.{name}" for name in public_compiled_members()})
    assert not expected - anchors, f"missing from the API reference: {sorted(expected - anchors)}"


@pytest.mark.slow
def test_every_generated_part_was_filled_in(site):
    for path in site.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert "<!-- generate:" not in text and 'exec="' not in text, path


@pytest.mark.slow
def test_how_it_works_shows_the_output_of_every_stage(site):
    text = page_text(site, "how-it-works")
    for produced in ["x[0], x[1], x[2]",         # trace: the placeholder symbols
                     "H[0, 1] =",                # differentiate / simplify: Hessian entries
                     "def hessian(x, p",         # generate: three-address code
                     "fmul double",              # JIT: LLVM IR
                     "cache_hit"]:               # symhess.compile's stats
        assert produced in text, produced


@pytest.mark.slow
def test_pages_assembled_from_the_repository(site):
    examples = page(site, "examples")
    for script in (ROOT / "examples").glob("*.py"):
        assert f"Source of examples/{script.name}" in examples
    assert "usage: symhess inspect" in page_text(site, "cli")
    tracing = page_text(site, "tracing")
    names = [node.name for node in ast.parse((DOCS / "snippets" / "untraceable.py").read_text(encoding="utf-8")).body
             if isinstance(node, ast.FunctionDef)]
    assert all(f"def {name}(x):" in tracing for name in names)
    assert "operators traced and equal" in tracing and "scipy.special.gammaln" in tracing
    for plot in (ROOT / "benchmarks" / "results").glob("*.png"):
        assert (site / "performance" / plot.name).is_file()
        assert plot.name in page(site, "performance")
