"""The package's layout: the modules import each other without cycles, at the top.

The graph is read from the sources with ``ast``: a module's top-level ``import`` and
``from ... import`` statements (relative ones resolved); ``from . import name`` points at the
submodule ``name`` when there is one, else at the package's ``__init__``.  Imports inside
functions are of optional libraries (torch, Dask, matplotlib, ...): one of a symhess module
would hide a cycle or the layout, and only the modules of the known cycle (:data:`HIDDEN`)
still have them.  docs/design.md's layout places every module once, and each arrow of its
call path is an import.
"""

import ast
import re
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "symhess"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}

HIDDEN = [
    {"symhess.compile_process", "symhess.compiled", "symhess.dask_arrays", "symhess.pipeline", "symhess.travel"},
]
"""Modules that function-local imports still join in cycles (issue 13): the compile-once object,
its pickling and saving (``travel``), the pipeline and the separate compiling process need each other."""


def imported(module: str, statement: ast.Import | ast.ImportFrom, modules) -> set[str]:
    """The modules of ``modules`` that one import statement in ``module`` names."""
    if isinstance(statement, ast.Import):
        names = [alias.name for alias in statement.names]
    else:
        base = statement.module or ""
        if statement.level:
            package = module if modules[module].name == "__init__.py" else module.rpartition(".")[0]
            for _ in range(statement.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}".rstrip(".")
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in statement.names]
    return {name for name in names if name in modules and name != module}


def parsed(path: Path) -> ast.Module:
    """``path``'s tree.  CPython 3.11.7 counts the depth of the trees it builds in one place for all
    threads: a parse that overlaps one in another thread (symhess.native reads generated code with
    ast.literal_eval while earlier tests' functions tier up) can raise "AST constructor recursion depth
    mismatch", and is made again."""
    source = path.read_text(encoding="utf-8")
    for _ in range(4):
        try:
            return ast.parse(source)
        except SystemError:
            time.sleep(0.1)
    return ast.parse(source)


def import_graph(modules: dict[str, Path], inner: bool = False) -> dict[str, set[str]]:
    """Each module and the modules its top-level imports name (``if``/``try`` blocks included);
    ``inner``: its imports inside functions too."""
    graph = {}
    for module, path in modules.items():
        graph[module] = set()
        pending = list(parsed(path).body)
        while pending:
            node = pending.pop()
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[module] |= imported(module, node, modules)
            elif inner or isinstance(node, (ast.If, ast.Try)):
                pending.extend(ast.iter_child_nodes(node))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The cycles a depth-first walk meets, each as a path ``[a, b, ..., a]`` (none if and only if there are none)."""
    found, state = [], {}

    def visit(module, path):
        state[module] = "open"
        for following in sorted(graph[module]):
            if state.get(following) == "open":
                found.append([*path[path.index(following):], following])
            elif following not in state:
                visit(following, [*path, following])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_the_check_finds_cycles_and_relative_imports(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    sources = {"__init__.py": "from .a import f\n", "a.py": "from .sub import b\n\ndef f():\n    from . import c\n",
               "c.py": "import os\n", "sub/__init__.py": "", "sub/b.py": "from .. import c\nfrom ..a import f\n"}
    for name, text in sources.items():
        (package / name).write_text(text, encoding="utf-8")
    modules = {".".join(path.relative_to(tmp_path).with_suffix("").parts).removesuffix(".__init__"): path
               for path in package.rglob("*.py")}
    graph = import_graph(modules)
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.sub.b"}, "pkg.c": set(), "pkg.sub": set(),
                     "pkg.sub.b": {"pkg.c", "pkg.a"}}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.a"]]
    assert import_graph(modules, inner=True)["pkg.a"] == {"pkg.sub.b", "pkg.c"}


def test_no_import_cycles():
    found = cycles(import_graph(MODULES))
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def test_function_local_imports_hide_only_the_known_cycles():
    found = cycles(import_graph(MODULES, inner=True))
    unknown = [cycle for cycle in found if not any(set(cycle) <= known for known in HIDDEN)]
    assert not unknown, "cycles closed by imports inside functions:\n" + "\n".join(" -> ".join(c) for c in unknown)
    gone = [known for known in HIDDEN if not any(set(cycle) <= known for cycle in found)]
    assert not gone, f"no cycle left among {gone}: take them out of HIDDEN"


def layout_section() -> str:
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    start = text.index("## Layout and one call's path")
    return text[start:text.index("\n## ", start + 1)]


def short_name(module: str) -> str:
    return module if module == "symhess" else module.removeprefix("symhess.")


def test_the_design_notes_place_every_module_once():
    rows = [line for line in layout_section().splitlines() if line.startswith("| ") and "`" in line]
    named = [name for row in rows for name in re.findall(r"`([\w.]+)`", row.split("|")[2])]
    assert sorted(named) == sorted(short_name(module) for module in MODULES)


def test_every_arrow_of_the_call_path_is_an_import():
    section = layout_section()
    path = section[section.index("```text"):section.index("```", section.index("```text") + 3)]
    arrows = re.findall(r"^(\S+) +-> +(\S+)", path, re.M)
    graph = {short_name(module): {short_name(m) for m in found} for module, found in import_graph(MODULES).items()}
    assert len(arrows) >= 10
    missing = [f"{a} -> {b}" for a, b in arrows if b not in graph.get(a, ())]
    assert not missing, f"arrows in docs/design.md that are no top-level import: {missing}"


def test_symhess_modules_are_imported_at_the_top():
    """Imports inside functions are of other libraries (symhess's own modules import those late
    themselves), but for the known cycle's."""
    top, every = import_graph(MODULES), import_graph(MODULES, inner=True)
    inside = sorted(f"{module} -> {name}" for module in every for name in every[module] - top[module]
                    if not any({module, name} <= known for known in HIDDEN))
    assert not inside, f"symhess modules imported inside functions: {inside}"
