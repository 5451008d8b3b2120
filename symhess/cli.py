"""symhess inspect: show a function's expression, derivatives, sparsity, code and stats;
symhess export: write its value, gradient, Hessian and hvp as standalone C (name.h, name.c);
symhess cache: show, prune or clear the disk cache of compiled code."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import inspect
import json
import os
import shutil
import sys
import sysconfig
import threading
import time
from pathlib import Path

import numpy as np
import sympy as sp

from . import cache, display
from .compiled import compile_with
from .export_c import check_name, export
from .pipeline import Options
from .tracing import TraceError

SECTIONS = ("expression", "gradient", "hessian", "sparsity", "source", "stats")
DEFAULT_SECTIONS = ("expression", "gradient", "hessian", "sparsity", "stats")

EPILOG = """\
what is shown:
  --expression --gradient --hessian --sparsity --source --stats choose the sections;
  without any, symhess shows expression, gradient, Hessian, sparsity and stats (only the
  evaluation when --at is given). Large problems are cut to the first entries, the top-left
  corner of the Hessian and the first terms of long sums, with a note; --full shows all.
  Zero Hessian entries are drawn as '·'. --format json is always complete: expressions as
  strings, the Hessian as its upper-triangle non-zeros {rows, cols, entries}, the sparsity
  as index lists (both triangles), stats as numbers; non-finite numbers are "nan"/"inf".

inputs:
  one --shape per input of the function, in order: --shape 3 (a vector), --shape 2,2,
  --shape '' or --shape scalar (a 0-d input). --dtype float32|float64 once for all inputs
  or once per input. --wrt 0,2 differentiates inputs 0 and 2 only; the others become
  parameters. --at gives a point: one --at per input (its values flattened in C order),
  or a single --at holding all inputs' values one after another.

examples:
  symhess inspect examples/pytorch_doc_examples.py:pow_reducer --shape 2,2
  symhess inspect model.py:loss --shape 3 --shape 10,3 --wrt 0 --hessian --sparsity
  symhess inspect --expr "x**3 + sin(x*y)" --vars x,y --at 1,2
  symhess inspect model.py:loss --shape 100 --stats --plot pattern.png
  symhess inspect model.py:loss --shape 3 --format json --at 1,2,3 | python -m json.tool
"""


class CommandError(Exception):
    """A problem with what the command was asked to do: one line on stderr, exit status 2."""

    def __init__(self, message: str, status: int = 2):
        super().__init__(message)
        self.status = status


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CommandError(f"{message} (see '{self.prog} --help')")


def parser() -> Parser:
    top = Parser(prog="symhess", description=__doc__,
                 epilog="run 'symhess inspect --help' for examples, 'symhess cache --help' for the cache")
    commands = top.add_subparsers(dest="command", required=True, metavar="{inspect,export,cache}")
    command = commands.add_parser("inspect", help="show what symhess makes of a function", description=__doc__,
                                  epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_argument("target", nargs="?", help="path/to/file.py:function")
    command.add_argument("--shape", action="append", default=[], help="shape of one input, e.g. 3 or 2,2 "
                         "or scalar (repeat per input)")
    command.add_argument("--dtype", action="append", default=[], choices=("float32", "float64"),
                         help="dtype of the inputs (once for all, or once per input; default float64)")
    command.add_argument("--wrt", help="indices of the inputs to differentiate, e.g. 0 or 0,2 (default all)")
    command.add_argument("--expr", help='a formula instead of a file, e.g. "x**3 + sin(x*y)"')
    command.add_argument("--vars", help="variables of --expr, in order, e.g. x,y (default: its symbols, sorted)")
    shown = command.add_argument_group("what to show")
    for name in SECTIONS:
        shown.add_argument(f"--{name}", action="store_true", help=f"show the {name}")
    shown.add_argument("--full", action="store_true", help="show large problems whole instead of cut")
    shown.add_argument("--at", action="append", default=[], metavar="VALUES",
                       help="evaluate value, gradient and Hessian at a point, e.g. --at 1,2,3")
    shown.add_argument("--plot", metavar="FILE.png", help="write a picture of the sparsity pattern "
                       '(needs matplotlib: pip install "symhess[plot]")')
    shown.add_argument("--format", choices=("text", "latex", "json"), default="text")
    command.add_argument("--simplify", default="auto", choices=("auto", "none", "fast", "full"))
    command.add_argument("--progress", action="store_true",
                         help="name slow stages on stderr (default: only when stderr is a terminal)")
    command.add_argument("--debug", action="store_true", help="show tracebacks")
    add_export_parser(commands)
    add_cache_parser(commands)
    return top


def add_export_parser(commands) -> None:
    export = commands.add_parser(
        "export", help="write standalone C of a function's value, gradient, Hessian and hvp",
        description="Write DIR/NAME.h and DIR/NAME.c: the value, gradient, Hessian values in their sparse "
                    "structure and Hessian-vector product as C that needs only math.h and allocates nothing; "
                    "the header documents every argument's layout.",
        epilog="example:\n  symhess export examples/newton_rosenbrock.py:rosenbrock --shape 30 -o build --name rosen\n"
               "  cc -O2 -c build/rosen.c -o build/rosen.o",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("target", help="path/to/file.py:function")
    export.add_argument("--shape", action="append", default=[], help="shape of one input, e.g. 3 or 2,2 "
                        "or scalar (repeat per input)")
    export.add_argument("--dtype", action="append", default=[], choices=("float32", "float64"), help=argparse.SUPPRESS)
    export.add_argument("--wrt", help="indices of the inputs to differentiate, e.g. 0 (the others become data)")
    export.add_argument("-o", "--output", required=True, metavar="DIR", help="directory to write into (made if missing)")
    export.add_argument("--name", help="prefix of the C names and files (default: the function's name)")
    export.add_argument("--simplify", default="auto", choices=("auto", "none", "fast", "full"))
    export.add_argument("--debug", action="store_true", help="show tracebacks")
    export.set_defaults(expr=None, vars=None, progress=False)


CACHE_EPILOG = """\
the cache:
  symhess keeps the code it generates, the machine code compiled from it and Numba's cache files
  in $SYMHESS_CACHE_DIR (default: the platform's user cache directory, ~/.cache/symhess on Linux).
  An entry is one generated module with all that was made from it; its last use is when a
  process last loaded it. The cache is kept under a size cap, $SYMHESS_CACHE_MAX_SIZE (default
  1G; 'none' for no cap): when symhess writes to it and finds it larger, the least recently used
  entries are removed first. Entries a running process has loaded keep working when removed;
  the next process compiles them again.

sizes:
  a number of bytes, or with K, M, G or T (powers of 1024): 500M, 2G, 1.5G.

examples:
  symhess cache info
  symhess cache prune --max-size 200M
  symhess cache clear
"""


def add_cache_parser(commands) -> None:
    cache = commands.add_parser("cache", help="show, prune or clear the disk cache of compiled code",
                                description="Show, prune or clear symhess's disk cache of compiled code.",
                                epilog=CACHE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = cache.add_subparsers(dest="action", required=True, metavar="{info,prune,clear}")
    info = actions.add_parser("info", help="where the cache is, its entries, size and oldest use",
                              description="Where the cache is, how many entries and bytes it holds, "
                                          "their oldest and newest use, and the size cap.")
    info.add_argument("--format", choices=("text", "json"), default="text")
    prune = actions.add_parser("prune", help="remove the least recently used entries down to a size",
                               description="Remove the least recently used entries until the cache holds at "
                                           "most SIZE bytes, the files of removed modules, and temporary files "
                                           "older than ten minutes (left by processes that were killed).")
    prune.add_argument("--max-size", metavar="SIZE", help="e.g. 500M or 2G (default: the size cap, "
                                                          "$SYMHESS_CACHE_MAX_SIZE or 1G)")
    actions.add_parser("clear", help="remove every entry", description="Remove every entry of the cache "
                       "(temporary files younger than ten minutes stay: a process may be writing them).")
    for action in actions.choices.values():
        action.add_argument("--debug", action="store_true", help="show tracebacks")


def main(argv=None) -> int:
    try:
        args = parser().parse_args(argv)
    except CommandError as error:
        return fail(str(error), error.status)
    except SystemExit as done:  # --help
        return done.code or 0
    try:
        return run(args)
    except CommandError as error:
        if args.debug:
            raise
        return fail(str(error), error.status)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except Exception as error:
        if args.debug:
            raise
        return fail(f"{describe(error)} (--debug shows the traceback)", 1)


def fail(message: str, status: int) -> int:
    print("symhess: " + " ".join(message.split("\n")), file=sys.stderr)
    return status


def describe(error: BaseException) -> str:
    """One line: the error, its message and the line of the user's code that raised it."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if isinstance(error, TraceError):
        return "; ".join(lines).removeprefix("symhess ")
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    where = user_frame(error)
    return f"{text} (at {where})" if where else text


def user_frame(error: BaseException) -> str:
    """``file:line`` of the innermost frame outside symhess, the standard library and installed packages."""
    library = {str(Path(__file__).parent), *(sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib"))}
    found, tb = "", error.__traceback__
    while tb is not None:
        path = os.path.abspath(tb.tb_frame.f_code.co_filename)
        if not path.startswith(tuple(library)) and os.path.isfile(path):
            found = f"{path}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


# ----- the function and its inputs ----------------------------------------------------------
def load_function(target: str):
    """The function ``name`` of ``path:name``; the file runs as a module, not as ``__main__``."""
    path, _, name = target.rpartition(":")
    if not path or not name:
        raise CommandError(f"expected path/to/file.py:function, got {target!r}")
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"file not found: {path}")
    module_name = file.stem if file.stem not in sys.modules else f"_symhess_inspect_{file.stem}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickle look their module up there
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        raise CommandError(f"cannot load {path}: {describe(error)}", status=1) from error
    func = getattr(module, name, None)
    if not callable(func):
        defined = sorted(k for k, v in vars(module).items()
                         if inspect.isfunction(v) and v.__module__ == module_name and not k.startswith("_"))
        raise CommandError(f"{path} has no function {name!r} (it defines: {', '.join(defined) or 'none'})")
    return func


@contextlib.contextmanager
def importable_siblings(target: str | None):
    """Let the file import modules beside it (while it loads and while it is traced)."""
    if not target:
        yield
        return
    folder = str(Path(target.rpartition(":")[0]).resolve().parent)
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def parse_shape(text: str) -> tuple[int, ...]:
    cleaned = text.strip().strip("()").strip()
    if cleaned in ("", "scalar"):
        return ()
    try:
        shape = tuple(int(n) for n in cleaned.split(",") if n.strip())
    except ValueError:
        shape = (-1,)
    if not shape or min(shape) < 1:
        raise CommandError(f"bad --shape {text!r}: use positive integers separated by commas, e.g. 3 or 2,2, "
                           "or 'scalar'")
    return shape


def parse_values(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CommandError(f"bad --at {text!r}: give numbers separated by commas, e.g. --at 1,2.5,-3") from None


def check_arity(func, name: str, count: int) -> None:
    """Refuse a wrong number of --shape before tracing (the call would fail obscurely)."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if not len(required) <= count <= len(positional):
        names = ", ".join(p.name for p in positional)
        raise CommandError(f"{name}({names}) takes {len(required)} input(s) but {count} --shape were given: "
                           "give one --shape per input")


def dtypes(given: list[str], count: int) -> list[str]:
    if not given:
        return ["float64"] * count
    if len(given) == 1:
        return given * count
    if len(given) != count:
        raise CommandError(f"{len(given)} --dtype for {count} input(s): give one for all inputs or one per input")
    return given


def expression_function(formula: str, variables: str | None):
    """A function of scalar inputs computing ``formula`` with NumPy (traced like any function)."""
    try:
        parsed = sp.sympify(formula, locals={v: sp.Symbol(v) for v in (variables or "").split(",") if v})
    except (sp.SympifyError, SyntaxError, TypeError):
        raise CommandError(f"cannot parse --expr {formula!r}: write it in Python syntax, "
                           "e.g. \"x**3 + sin(x*y)\"") from None
    names = [v.strip() for v in variables.split(",") if v.strip()] if variables else \
        sorted(s.name for s in parsed.free_symbols)
    if not names:
        raise CommandError(f"--expr {formula!r} has no variables: name them with --vars, e.g. --vars x,y")
    symbols = [sp.Symbol(n) for n in names]
    unlisted = sorted(s.name for s in parsed.free_symbols - set(symbols))
    if unlisted:
        raise CommandError(f"--expr uses {', '.join(unlisted)}, which --vars does not list")
    evaluate = sp.lambdify(symbols, parsed, modules="numpy")

    def func(*values):
        return evaluate(*values)

    func.__signature__ = inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_ONLY)
                                            for n in names])
    func.__name__ = "f"
    return func, [()] * len(names)


def function_and_shapes(args):
    if args.expr and args.target:
        raise CommandError("give either path/to/file.py:function or --expr, not both")
    if args.expr:
        if args.shape:
            raise CommandError("--expr takes scalar variables: leave out --shape")
        return expression_function(args.expr, args.vars)
    if not args.target:
        raise CommandError("give path/to/file.py:function (with one --shape per input) or --expr FORMULA")
    if args.vars:
        raise CommandError("--vars belongs to --expr")
    func = load_function(args.target)
    if not args.shape:
        raise CommandError("give one --shape per input of the function, e.g. --shape 3 (or --shape scalar)")
    shapes = [parse_shape(s) for s in args.shape]
    check_arity(func, args.target.rpartition(":")[2], len(shapes))
    return func, shapes


def wrt_indices(text: str | None, count: int) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        indices = tuple(int(n) for n in text.split(",") if n.strip())
    except ValueError:
        indices = ()
    if not indices or any(not 0 <= i < count for i in indices):
        raise CommandError(f"bad --wrt {text!r}: give indices of inputs, from 0 to {count - 1}, e.g. --wrt 0 "
                           "or --wrt 0,2")
    return indices


# ----- progress -------------------------------------------------------------------------
STAGES = {
    "symhess.tracing": "tracing", "symhess.api_trace": "tracing",
    "symhess.differentiate": "differentiating", "symhess.simplify": "simplifying",
    "symhess.codegen": "generating code", "symhess.jit": "compiling with Numba",
    "symhess.llvm": "compiling with Numba", "numba": "compiling with Numba", "llvmlite": "compiling with Numba",
    "symhess.display": "preparing the report",
}
"""Module (prefix) of the innermost running frame -> the stage it belongs to."""


def stage_of(frame) -> str | None:
    """The pipeline stage a thread is in, from the modules on its stack (innermost first)."""
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        for prefix, stage in STAGES.items():
            if module == prefix or module.startswith(prefix + "."):
                return stage
        frame = frame.f_back
    return None


class Progress:
    """Watches a thread; names each stage on ``stream`` once it has run ``after`` seconds.

    Watching the call stack keeps the pipeline free of reporting hooks.
    """

    def __init__(self, stream, after: float = 1.0, interval: float = 0.1):
        self.stream, self.after, self.interval = stream, after, interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True, name="symhess-progress")

    def __enter__(self):
        self.watched = threading.get_ident()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join()

    def _watch(self):
        stage, since, told = None, time.monotonic(), False
        while not self.stopped.wait(self.interval):
            now = stage_of(sys._current_frames().get(self.watched))
            if now != stage:
                stage, since, told = now, time.monotonic(), False
            elif stage and not told and time.monotonic() - since >= self.after:
                print(f"symhess: {stage}...", file=self.stream, flush=True)
                told = True


def progress(args):
    wanted = args.progress or sys.stderr.isatty()
    return Progress(sys.stderr) if wanted else contextlib.nullcontext()


# ----- running -----------------------------------------------------------------------------
def run(args) -> int:
    if args.command == "cache":
        return run_cache(args)
    if args.command == "export":
        return run_export(args)
    with progress(args), importable_siblings(args.target):
        with contextlib.redirect_stdout(sys.stderr):  # the user's module may print; stdout is for the report
            func, shapes = function_and_shapes(args)
            inputs = [np.zeros(s, dtype=d) for s, d in zip(shapes, dtypes(args.dtype, len(shapes)))]
            wrt = wrt_indices(args.wrt, len(inputs))
            point = point_arrays(args.at, inputs) if args.at else None
            # without --at no kernel runs: nothing is compiled, so the command does not wait for Numba
            f = compile_with(func, inputs, wrt, Options(simplify=args.simplify, eager_jit=point is not None))
        chosen = [s for s in SECTIONS if getattr(args, s)]
        sections = chosen or ([] if point is not None else list(DEFAULT_SECTIONS))
        name = getattr(func, "__name__", "f")
        report = {"json": json_report, "latex": latex_report, "text": text_report}[args.format](
            f, name, sections, args.full, display)
        if point is not None:
            names = [spec.name for spec in f._specs]
            report = add_evaluation(report, args.format, evaluate_at(f, point), names, args.full)
        if args.plot:
            report = add_plot(report, args.format, write_plot(f, args.plot, display))
    if not can_print(report):
        report = report.translate({ord("×"): "x", ord("µ"): "u"}).encode("ascii", "replace").decode()
    print(report)
    return 0


def run_export(args) -> int:
    with importable_siblings(args.target), contextlib.redirect_stdout(sys.stderr):
        func, shapes = function_and_shapes(args)
        name = args.name or getattr(func, "__name__", "f")
        try:
            check_name(name)
        except ValueError as error:
            raise CommandError(f"{error} (--name)") from None
        inputs = [np.zeros(s) for s in shapes]
        f = compile_with(func, inputs, wrt_indices(args.wrt, len(inputs)),
                         Options(simplify=args.simplify, eager_jit=False))  # the source only: nothing to JIT
        header, source = export(f, args.output, name)
    print(f"wrote {header} and {source} (n = {f.stats['n']}, {f.stats['nonzeros']} Hessian non-zeros)")
    return 0


def point_arrays(texts: list[str], inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The --at values as one array per input (one --at per input, or one for all)."""
    values = [parse_values(t) for t in texts]
    sizes = [a.size for a in inputs]
    if len(values) == 1 and len(inputs) > 1:
        if len(values[0]) != sum(sizes):
            raise CommandError(f"--at has {len(values[0])} values; the inputs have {sum(sizes)} "
                               f"({' + '.join(map(str, sizes))}): give all of them, or one --at per input")
        values = np.split(np.array(values[0]), np.cumsum(sizes)[:-1])
    if len(values) != len(inputs):
        raise CommandError(f"{len(values)} --at for {len(inputs)} input(s): give one --at per input, "
                           "or a single --at with all values")
    for k, (given, example) in enumerate(zip(values, inputs)):
        if len(given) != example.size:
            raise CommandError(f"--at for input {k} has {len(given)} values; its shape {example.shape} "
                               f"holds {example.size}")
    return [np.array(v, dtype=a.dtype).reshape(a.shape) for v, a in zip(values, inputs)]


def evaluate_at(f, point) -> dict:
    """Value, flat gradient and Hessian over the differentiated inputs, as plain lists."""
    value = np.asarray(f.value(*point)).reshape(-1)[0]
    gradient, hessian = f.gradient(*point), f.hessian(*point)
    if not isinstance(gradient, tuple):
        gradient, hessian = (gradient,), ((hessian,),)
    sizes = [g.size for g in gradient]
    flat_hessian = np.block([[np.reshape(block, (a, b)) for block, b in zip(row, sizes)]
                             for row, a in zip(hessian, sizes)])
    return {"point": [p.tolist() for p in point], "value": float(value),
            "gradient": np.concatenate([np.ravel(g) for g in gradient]).astype(float).tolist(),
            "hessian": flat_hessian.astype(float).tolist()}


def write_plot(f, path: str, display) -> str:
    try:
        figure = display.new_figure()
    except ImportError as error:
        raise CommandError(str(error), status=1) from None
    display.plot_sparsity(f, figure.add_subplot())
    figure.savefig(path, dpi=150)
    return path


# ----- reports -----------------------------------------------------------------------------
def header(f, name: str) -> str:
    shapes = ", ".join(f"{s.name}: {'×'.join(map(str, s.shape)) or 'scalar'} {np.dtype(s.dtype).name}"
                       + ("" if k in f.wrt else " (parameter)") for k, s in enumerate(f._specs))
    n = f.stats["n"]
    return f"{name}({shapes}): {n} variable{'' if n == 1 else 's'}"


def text_report(f, name, sections, full, display) -> str:
    style = display.UNICODE if can_print("·⋯⋮⋱…∂²⎡⎤⎣⎦") else display.ASCII
    width = shutil.get_terminal_size((100, 24)).columns
    names = [str(v) for v in f.variables]
    parts, cut = [header(f, name)], False
    for section in sections:
        if section == "expression":
            view = display.expression_view(f, style, full)
            body = display.pretty(view.value, style, width - 2)
        elif section in ("gradient", "hessian"):
            view = (display.gradient_view if section == "gradient" else display.hessian_view)(f, style, full)
            body = display.pretty_matrix(view.value, names, style, width - 2)
        elif section == "sparsity":
            view = display.View(display.sparsity_text(f, full, style))
            body = view.value
        elif section == "source":
            view = display.source_text(f.source, full)
            body = view.value
        else:
            view = display.View(display.stats_text(all_stats(f, display)))
            body = view.value
        cut |= bool(view.note)
        title = section.capitalize() if section == "hessian" else section
        parts.append(f"{title}" + (f" ({view.note})" if view.note else "") + ":\n" + indent(body))
    if cut:
        parts.append("(--full shows everything)")
    return "\n\n".join(parts)


def can_print(characters: str) -> bool:
    """Whether stdout can encode ``characters`` (a stream without an encoding takes any text)."""
    try:
        characters.encode(getattr(sys.stdout, "encoding", None) or "utf-8")
    except UnicodeEncodeError:
        return False
    return True


def indent(text: str) -> str:
    return "\n".join("  " + line if line else line for line in text.splitlines())


def all_stats(f, display) -> dict:
    return {**f.stats, **display.operation_counts(f)}


def latex_report(f, name, sections, full, display) -> str:
    views = {"expression": ("f", display.expression_view), "gradient": (r"\nabla f", display.gradient_view),
             "hessian": (r"\nabla^2 f", display.hessian_view)}
    parts = [f"% {header(f, name)}"]
    for section in sections:
        if section in views:
            symbol, make = views[section]
            view = make(f, display.LATEX, full)
            note = f" ({view.note}; --full shows all)" if view.note else ""
            parts.append(f"% {section}{note}\n{symbol} = {display.to_latex(view.value)}")
        elif section == "sparsity":
            parts.append(f"% sparsity\n{display.sparsity_latex(f)}")
        elif section == "source":
            view = display.source_text(f.source, full)
            note = f" ({view.note}; --full shows all)" if view.note else ""
            parts.append(f"% source{note}\n\\begin{{verbatim}}\n{view.value}\n\\end{{verbatim}}")
        else:
            stats = display.stats_text(all_stats(f, display))
            parts.append("% stats\n" + "\n".join(f"% {line}" for line in stats.splitlines()))
    return "\n\n".join(parts)


def json_report(f, name, sections, full, display) -> str:
    out = {"function": name,
           "inputs": [{"name": s.name, "shape": list(s.shape), "dtype": np.dtype(s.dtype).name, "wrt": k in f.wrt}
                      for k, s in enumerate(f._specs)],
           "variables": [str(v) for v in f.variables]}
    derivs = f.shown_derivatives() if {"gradient", "hessian"} & set(sections) else None
    if "expression" in sections:
        out["expression"] = str(f.expression)
    if "gradient" in sections:
        out["gradient"] = [str(g._sympy_()) for g in derivs.gradient]
    if "hessian" in sections:
        keys = list(derivs.hessian)
        out["hessian"] = {"rows": [i for i, _ in keys], "cols": [j for _, j in keys],
                          "entries": [str(e._sympy_()) for e in derivs.hessian.values()]}
    if "sparsity" in sections:
        rows, cols = display.pattern_indices(f)
        out["sparsity"] = {"shape": [len(out["variables"])] * 2, "rows": rows.tolist(), "cols": cols.tolist()}
    if "source" in sections:
        out["source"] = f.source
    if "stats" in sections:
        out["stats"] = all_stats(f, display)
    return json.dumps(out, indent=2)


def add_evaluation(report: str, fmt: str, result: dict, names: list[str], full: bool) -> str:
    if fmt == "json":
        out = json.loads(report)
        out["at"] = finite_or_text(result)
        return json.dumps(out, indent=2)
    threshold = sys.maxsize if full else 100
    with np.printoptions(threshold=threshold, edgeitems=4, linewidth=shutil.get_terminal_size((100, 24)).columns):
        point = ", ".join(f"{name} = {np.array2string(np.array(p))}" for name, p in zip(names, result["point"]))
        lines = [f"at {point}:", f"  value     {result['value']!r}",
                 f"  gradient  {np.array2string(np.array(result['gradient']), prefix='  gradient  ')}",
                 "  Hessian", indent(indent(np.array2string(np.array(result["hessian"]))))]
    text = "\n".join(lines)
    if fmt == "latex":
        text = "\n".join("% " + line for line in text.splitlines())
    return f"{report}\n\n{text}"


def finite_or_text(value):
    """JSON has no nan or inf: they become the strings "nan", "inf", "-inf"."""
    if isinstance(value, float):
        return value if np.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {k: finite_or_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_text(v) for v in value]
    return value


def add_plot(report: str, fmt: str, path: str) -> str:
    if fmt == "json":
        out = json.loads(report)
        out["plot"] = path
        return json.dumps(out, indent=2)
    note = f"sparsity plot written to {path}"
    return f"{report}\n\n{'% ' if fmt == 'latex' else ''}{note}"


# ----- symhess cache --------------------------------------------------------------------------
def run_cache(args) -> int:
    directory = cache.configured_dir()
    if directory.exists() and not directory.is_dir():
        raise CommandError(f"the cache directory {directory} is not a directory (see ${cache.ENV_VAR})", status=1)
    if args.action == "info":
        print(cache_info(cache, directory, args.format))
        return 0
    if args.action == "prune":
        try:
            limit = cache.parse_size(args.max_size) if args.max_size is not None else cache.max_size()
        except ValueError as error:
            raise CommandError(f"bad --max-size: {error}") from None
        done = cache.prune(directory, limit)
    else:
        done = cache.clear(directory)
    left = cache.survey(directory)
    print(f"removed {done.entries} {plural(done.entries, 'entry', 'entries')} ({done.files} "
          f"{plural(done.files, 'file', 'files')}, {cache.format_size(done.size)}) from {directory}; "
          f"{len(left.entries)} {plural(len(left.entries), 'entry', 'entries')} left, "
          f"{cache.format_size(left.size)}")
    return 0


def plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def cache_info(cache, directory: Path, style: str) -> str:
    found = cache.survey(directory)
    cap = cache.max_size()
    if style == "json":
        def stamp(seconds):
            return None if seconds is None else time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(seconds))

        return json.dumps({"directory": str(directory), "entries": len(found.entries),
                           "files": sum(len(e.files) for e in found.entries) + len(found.stray),
                           "bytes": found.size, "max_size": cap, "oldest_use": stamp(found.oldest_use),
                           "newest_use": stamp(found.newest_use), "stray_files": len(found.stray),
                           "stray_bytes": sum(size for _, size, _ in found.stray)}, indent=2)
    files = sum(len(e.files) for e in found.entries) + len(found.stray)
    capped = f"the cap is {cache.format_size(cap)}" if cap is not None else "no cap"
    lines = [f"directory   {directory}" + ("" if directory.is_dir() else " (not made yet)"),
             f"entries     {len(found.entries)} ({files} {plural(files, 'file', 'files')})",
             f"size        {cache.format_size(found.size)} ({capped}: ${cache.SIZE_VAR})"]
    if found.entries:
        lines += [f"oldest use  {when(found.oldest_use)}", f"newest use  {when(found.newest_use)}"]
    if found.stray:
        size = cache.format_size(sum(size for _, size, _ in found.stray))
        lines.append(f"stray files {len(found.stray)} ({size}): temporary files and files of removed modules; "
                     "'symhess cache prune' removes them")
    return "\n".join(lines)


def when(seconds: float) -> str:
    """``2024-12-03 09:35 (3 days ago)``."""
    age = max(0.0, time.time() - seconds)
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if age >= length:
            count = int(age // length)
            ago = f"{count} {unit}{'s' if count > 1 else ''} ago"
            break
    else:
        ago = "just now"
    return f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(seconds))} ({ago})"
