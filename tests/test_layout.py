"""The package's layout: the modules import each other without cycles.

The graph is read from the sources with ``ast``: a module's top-level ``import`` and
``from ... import`` statements (relative ones resolved), not the function-local ones that
load optional dependencies late. ``from . import name`` points at the submodule ``name``
when there is one, else at the package's ``__init__``.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "symhess"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


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


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module and the modules its top-level imports name (``if``/``try`` blocks included)."""
    graph = {}
    for module, path in modules.items():
        graph[module] = set()
        pending = list(ast.parse(path.read_text(encoding="utf-8")).body)
        while pending:
            node = pending.pop()
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[module] |= imported(module, node, modules)
            elif isinstance(node, (ast.If, ast.Try)):
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


def test_no_import_cycles():
    found = cycles(import_graph(MODULES))
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in found)
