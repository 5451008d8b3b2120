"""The project's own sources: text is read and written as UTF-8 whatever the locale.

CI runs under an ASCII locale, where Python's default text encoding cannot hold the
reports' "×" and "µ"; ruff's PLW1514 sees only ``open`` and ``Path(...)`` calls, not
``(ROOT / "x").read_text()``, so this check walks every call.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(path for folder in ("symhess", "tests", "examples", "benchmarks", "docs")
                 for path in (ROOT / folder).rglob("*.py"))
TEXT_CALLS = {"read_text", "write_text"}  # and open() in a mode without "b"


def opens_text(call: ast.Call) -> bool:
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)
    if name in TEXT_CALLS:
        return True
    method = isinstance(call.func, ast.Attribute)
    if name != "open" or (method and getattr(call.func.value, "id", None) == "os"):  # os.open takes flags
        return False
    position = 0 if method else 1  # path.open(mode), open(file, mode)
    mode = next((keyword.value for keyword in call.keywords if keyword.arg == "mode"),
                call.args[position] if len(call.args) > position else None)
    return not (isinstance(mode, ast.Constant) and "b" in str(mode.value))


def unencoded_text_calls(source: str) -> list[int]:
    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and opens_text(node)
            and not any(keyword.arg in ("encoding", None) for keyword in node.keywords)]


def test_the_check_finds_text_calls_without_an_encoding():
    source = ('p.read_text()\n(ROOT / "a").write_text(s)\nopen(f)\nopen(f, "rb")\np.open("w")\n'
              'p.read_text(encoding="utf-8")\nopen(f, encoding="utf-8")\nos.open(f, flags)\n')
    assert unencoded_text_calls(source) == [1, 2, 3, 5]


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_text_files_are_opened_as_utf8(path):
    assert unencoded_text_calls(path.read_text(encoding="utf-8")) == [], 'give these lines\' calls encoding="utf-8"'
