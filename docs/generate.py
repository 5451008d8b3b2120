"""The generated parts of the documentation: every output shown is produced at build time.

``docs/hooks.py`` calls :func:`expand` on each page's Markdown.  Two constructs are
expanded, so that no output in the docs is typed by hand:

- a fenced block ```` ```python exec="SESSION" ```` runs its statements one by one in
  the page's namespace ``SESSION`` and becomes an interactive-session transcript
  (``>>>`` lines followed by what Python prints for each); with ``requires="MODULE"`` it
  is shown without running where that optional module is not installed;
- a line ``<!-- generate: NAME ARGUMENTS -->`` is replaced by ``GENERATORS[NAME](...)``.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import inspect
import io
import linecache
import os
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
RESULTS = ROOT / "benchmarks" / "results"
PLOTS_URI = "performance"
"""Where the benchmark plots are published in the site (beside ``performance.md``)."""

FENCE = re.compile(r'^```python exec="(\w+)"(?: requires="([\w.]+)")?\n(.*?)^```$', re.MULTILINE | re.DOTALL)
MARKER = re.compile(r"^<!-- generate: ([\w-]+)(.*?) -->$", re.MULTILINE | re.DOTALL)


class GenerationError(Exception):
    """A generated part of a page could not be produced (the build stops)."""


def expand(markdown: str, page: str) -> str:
    """The page with its executed blocks and generated parts filled in."""
    sessions: dict[str, dict] = {}

    def run(match):
        session, requires, code = match.groups()
        if requires and importlib.util.find_spec(requires) is None:  # an optional dependency
            return f"```python\n{code}```\n\n_(Not run: {requires} is not installed where these docs were built.)_"
        namespace = sessions.setdefault(session, {"__name__": "__main__"})
        return transcript(code, namespace, f"{DOCS / page}:{session}")

    def generate(match):
        name, arguments = match.group(1), shlex.split(match.group(2))
        if name not in GENERATORS:
            raise GenerationError(f"{page}: unknown generator {name!r}; known: {', '.join(sorted(GENERATORS))}")
        try:
            return GENERATORS[name](*arguments, sessions=sessions)
        except GenerationError:
            raise
        except Exception as error:
            raise GenerationError(f"{page}: <!-- generate: {name} --> failed: {type(error).__name__}: {error}") from error

    return MARKER.sub(generate, FENCE.sub(run, markdown))


# ----- executed blocks -----------------------------------------------------------------
def transcript(code: str, namespace: dict, filename: str) -> str:
    """Run ``code`` statement by statement; show it as an interactive session."""
    lines = code.splitlines(keepends=True)
    linecache.cache[filename] = (len(code), None, lines, filename)  # tracebacks and inspect see it
    shown, end = [], 0
    for statement in ast.parse(code, filename).body:
        text = "".join(line for line in lines[end:statement.end_lineno] if line.strip())  # with its comments
        end = statement.end_lineno
        shown.append(_prompted(text) + ("\n..." if hasattr(statement, "body") else ""))
        output = _execute(statement, namespace, filename, text)
        if output:
            shown.append(output.rstrip("\n"))
    return "```pycon\n" + "\n".join(shown) + "\n```"


def _prompted(text: str) -> str:
    """``>>>`` before comments and the statement's first line, ``...`` before its continuation."""
    out, started = [], False
    for line in text.rstrip("\n").splitlines():
        out.append(("... " if started else ">>> ") + line)
        started = started or not line.lstrip().startswith("#")
    return "\n".join(out)


def _execute(statement, namespace: dict, filename: str, text: str) -> str:
    """What the interactive interpreter prints for one statement."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            if isinstance(statement, ast.Expr):
                value = eval(compile(ast.Expression(statement.value), filename, "eval"), namespace)
                if value is not None:
                    print(repr(value))
            else:
                exec(compile(ast.Module([statement], []), filename, "exec"), namespace)
    except Exception as error:
        raise GenerationError(f"{filename}: this statement failed:\n{text}\n{type(error).__name__}: {error}") from error
    return buffer.getvalue()


def llvm_kernel(session: str, expression: str, *, sessions) -> str:
    """The optimised LLVM IR body of a jitted kernel (the first function Numba defines)."""
    import numba

    dispatcher = eval(expression, sessions[session])
    signature = tuple(numba.float64[::1] for _ in inspect.signature(dispatcher.py_func).parameters)  # flat arrays
    uncached = numba.njit(dispatcher.py_func)  # Numba cannot show the IR of code loaded from its cache
    uncached.compile(signature)
    ir = uncached.inspect_llvm(signature)
    start = ir.index("{\n", ir.index("\ndefine ")) + 2
    body = ir[start:ir.index("\n}", start)]
    return f"```llvm\n{body}\n```"


# ----- the README, the command line --------------------------------------------------
def readme_command(number: str, *, sessions) -> str:
    """The README's ``number``-th bash command (1-based), so that the two never disagree."""
    blocks = re.findall(r"^```bash\n(.*?)^```$", (ROOT / "README.md").read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    index = int(number) - 1
    if index >= len(blocks):
        raise GenerationError(f"README.md has {len(blocks)} bash block(s); the docs show block {number}")
    return f"```bash\n{blocks[index].rstrip()}\n```"


def command(*words: str, sessions) -> str:
    """Run ``symhess ...`` from the repository root (in this process: no interpreter start-up); show its output."""
    from symhess import cli

    if not words or words[0] != "symhess":
        raise GenerationError(f"only symhess commands are run, not {shlex.join(words)!r}")
    output = io.StringIO()
    with _in_repository(COLUMNS="100"), contextlib.redirect_stdout(output), \
            contextlib.redirect_stderr(io.StringIO()) as errors:
        try:
            status = cli.main(list(words[1:]))
        except SystemExit as exit_:  # argparse's --help and usage errors
            status = exit_.code
    if status not in (0, None):
        raise GenerationError(f"`{shlex.join(words)}` exited with {status}:\n{errors.getvalue()}")
    return f"```console\n$ {shlex.join(words)}\n{output.getvalue().rstrip()}\n```"


@contextlib.contextmanager
def _in_repository(**variables):
    """Run from the repository root with these environment variables, as a shell would."""
    saved, directory = {name: os.environ.get(name) for name in variables}, os.getcwd()
    os.environ.update(variables)
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(directory)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value


# ----- what can and cannot be traced ---------------------------------------------------
def supported(kind: str, *, sessions) -> str:
    """The names in one of symhess's translation tables, as an inline list."""
    names = SUPPORTED[kind]()
    return ", ".join(f"`{name}`" for name in names) if names else "_(PyTorch is not installed where these docs were built)_"


def _numpy_ufuncs():
    from symhess.tracing.numpy_api import UFUNCS

    return sorted(f"np.{ufunc.__name__}" for ufunc in UFUNCS)


def _numpy_functions():
    from symhess.tracing.numpy_api import FUNCTIONS, _name

    return sorted({f"np.{_name(function)}" for function in FUNCTIONS})


def _tensor_methods():
    from symhess.tracing.tensor import Tensor

    def refused(name):  # x.item(), x.numpy(), ...: present only to raise a clear TraceError
        return getattr(getattr(Tensor, name), "__qualname__", "").startswith("_refuse.")

    return [f"x.{name}" for name in dir(Tensor)
            if not name.startswith("_") and name not in Tensor.__slots__ and not refused(name)]


def _torch_functions():
    if importlib.util.find_spec("torch") is None:
        return []
    import torch

    from symhess.tracing.probe import table as affine
    from symhess.tracing.torch_api import METHOD_NAMES, table

    namespaces = {"torch": torch, "torch.Tensor": torch.Tensor, "torch.linalg": torch.linalg,
                  "torch.nn.functional": torch.nn.functional}
    public = {}  # function -> its most specific public name (torch.linalg.det, not torch.linalg_det)
    for prefix, namespace in namespaces.items():
        for attribute in dir(namespace):
            if not attribute.startswith("_"):
                with contextlib.suppress(TypeError):  # unhashable attributes
                    public[getattr(namespace, attribute)] = f"{prefix}.{attribute}"

    names = {f"torch.{name}" for name in METHOD_NAMES if not name.startswith("_") and hasattr(torch, name)}
    traced = [*table(), *affine()]  # translated symbolically, or affine and run by PyTorch itself (probe)
    return sorted(names | {public.get(function, getattr(function, "__name__", "?")) for function in traced})


def _scipy_special():
    if importlib.util.find_spec("scipy") is None:
        return []
    import scipy.special

    from symhess.tracing.numpy_api import _scipy_table

    traced = _scipy_table(scipy.special)
    return sorted(f"scipy.special.{name}" for name in dir(scipy.special)  # every alias (digamma and psi)
                  if not name.startswith("_") and _in(getattr(scipy.special, name), traced))


def _in(value, table) -> bool:
    try:
        return value in table
    except TypeError:  # unhashable attributes
        return False


SUPPORTED = {"numpy-ufuncs": _numpy_ufuncs, "numpy-functions": _numpy_functions,
             "tensor-methods": _tensor_methods, "torch-functions": _torch_functions,
             "scipy-special": _scipy_special}


def scipy_python(*, sessions) -> str:
    """scipy.special's Python functions symhess cannot enter, and the traced method for each."""
    from symhess.tracing.errors import SCIPY_SPECIAL_PYTHON

    return "\n".join(f"- `scipy.special.{name}`: call `{instead.split(' (')[0]}` on the traced array"
                      for name, instead in sorted(SCIPY_SPECIAL_PYTHON.items()))


OP_DB_TABLE = DOCS / "snippets" / "op_db_coverage.md"
"""Written by ``python -m tests.tracing.op_db_sweep`` (PyTorch's operator database against symhess)."""


def op_db_coverage(*, sessions) -> str:
    """The op_db sweep's result: its summary, the operators not traced with the reason, then all of them."""
    if not OP_DB_TABLE.is_file():
        raise GenerationError(f"{OP_DB_TABLE.relative_to(ROOT)} is missing: run python -m tests.tracing.op_db_sweep")
    summary, _, table = OP_DB_TABLE.read_text(encoding="utf-8").partition("\n\n")
    header, rows = table.splitlines()[:2], table.splitlines()[2:]
    refused = [row for row in rows if row.split("|")[2].strip() != "equal" and row.split("|")[2].strip() != "skipped"]
    everything = "\n".join("    " + line for line in [*header, *rows])
    return "\n".join([summary, "", f"The {len(refused)} operators not traced, and why:", "", *header, *refused, "",
                      f'??? note "All {len(rows)} operators of the sweep"', "", everything])


def untraceable(*, sessions) -> str:
    """Each function of ``docs/snippets/untraceable.py``, compiled, with the error it raises."""
    import numpy as np

    import symhess

    module = _load_snippet("untraceable")
    sections = []
    for name, function in inspect.getmembers(module, inspect.isfunction):
        if function.__module__ != module.__name__:
            continue
        source = inspect.getsource(function).replace(f'    """{function.__doc__}"""\n', "")
        if name in module.NEEDS_TORCH and importlib.util.find_spec("torch") is None:
            error = "(not run: PyTorch is not installed where these docs were built)"
        else:
            error = _error_of(lambda f=function: symhess.compile(f, np.zeros(2)))
        sections.append((function.__code__.co_firstlineno,
                         f"### {function.__doc__}\n\n```python\n{source}```\n\n```text\n{error}\n```"))
    return "\n\n".join(text for _, text in sorted(sections))


def _error_of(call) -> str:
    try:
        call()
    except Exception as error:
        return f"{type(error).__name__}: {error}".replace(f"{ROOT}{os.sep}", "")
    raise GenerationError("an example of what cannot be traced compiled without an error: "
                          "move it out of docs/snippets/untraceable.py (and into the supported lists)")


def _load_snippet(name: str):
    spec = importlib.util.spec_from_file_location(f"symhess_docs_{name}", DOCS / "snippets" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----- teaching examples -------------------------------------------------------------------
def examples(*, sessions) -> str:
    """One section per script in ``examples/``: its docstring, then its source."""
    scripts = sorted((ROOT / "examples").glob("*.py"), key=lambda p: (p.stem != "quickstart", p.stem))
    return "\n\n".join(_example_section(path) for path in scripts)


def _example_section(path: Path) -> str:
    source = path.read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(source)) or ""
    docstring = re.sub(r"^Run: (.+)$", r"```bash\n\1\n```", docstring, flags=re.MULTILINE)  # a command to copy
    run = "" if "```bash" in docstring else f"```bash\npython examples/{path.name}\n```\n\n"
    return (f"## {path.name}\n\n{docstring}\n\n{run}"
            f'??? example "Source of examples/{path.name}"\n\n'
            + "\n".join(f"    {line}" if line else "" for line in ["```python", *source.rstrip().splitlines(), "```"]))


# ----- performance -----------------------------------------------------------------------
def benchmark_plots() -> list[Path]:
    """The plots ``python benchmarks/run.py`` wrote (published beside the performance page)."""
    return sorted(RESULTS.glob("*.png"))


def benchmarks(*, sessions) -> str:
    """``benchmarks/results/benchmarks.md`` with its plots, or how to produce them."""
    return _results("benchmarks.md", "python benchmarks/run.py", rest=True)


def compile_scaling(*, sessions) -> str:
    """``benchmarks/results/compile_scaling.md``: compile time against problem size."""
    return _results("compile_scaling.md", "python benchmarks/compile_scaling.py")


def _results(name: str, command: str, rest: bool = False) -> str:
    """A report of ``benchmarks/results`` with its plots (``rest``: and the plots no report shows)."""
    report = RESULTS / name
    if not report.exists():
        return ('!!! warning "No benchmark results yet"\n\n'
                f"    Run `{command}` to produce this section: it writes "
                f"`benchmarks/results/{name}` and its plots, which the docs include.")
    text = re.sub(r"^(#+) ", r"#\1 ", report.read_text(encoding="utf-8"), flags=re.MULTILINE)  # below the page title
    shown = {p.name for other in RESULTS.glob("*.md") if other != report for p in benchmark_plots()
             if f"]({p.name})" in other.read_text(encoding="utf-8")}

    def link(match):
        text, target = match.group(1), match.group(2)
        if match.group(0).startswith("!") and (RESULTS / target).is_file() and target.endswith(".png"):
            shown.add(Path(target).name)
            return f"![{text}]({PLOTS_URI}/{Path(target).name})"
        if re.match(r"[a-z]+://|#", target):
            return match.group(0)
        return text  # a link into the repository: not part of the site

    text = re.sub(r"!?\[([^\]]*)\]\(([^)\s]+)\)", link, text)
    others = [f"![{p.stem.replace('_', ' ')}]({PLOTS_URI}/{p.name})" for p in benchmark_plots()
              if rest and p.name not in shown]
    return text.rstrip() + ("\n\n" + "\n\n".join(others) if others else "")


GENERATORS = {
    "readme-command": readme_command,
    "command": command,
    "llvm-kernel": llvm_kernel,
    "supported": supported,
    "untraceable": untraceable,
    "scipy-python": scipy_python,
    "op-db-coverage": op_db_coverage,
    "examples": examples,
    "benchmarks": benchmarks,
    "compile-scaling": compile_scaling,
}
