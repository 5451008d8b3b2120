"""``symhess inspect``: show a function's expression, derivatives, sparsity, code and stats."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

SECTIONS = ("expression", "gradient", "hessian", "sparsity", "source", "stats")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="symhess", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    inspect = commands.add_parser("inspect", help="show what symhess makes of a function")
    inspect.add_argument("target", nargs="?", help="path/to/file.py:function")
    inspect.add_argument("--shape", action="append", default=[],
                         help="shape of one input, e.g. 3 or 2,2 (repeat per input; '' for a scalar)")
    inspect.add_argument("--expr", help='a formula, e.g. "x**3 + sin(x*y)"')
    inspect.add_argument("--vars", help="variables of --expr, e.g. x,y")
    for name in SECTIONS:
        inspect.add_argument(f"--{name}", action="store_true", help=f"show the {name}")
    inspect.add_argument("--format", choices=("text", "latex", "json"), default="text")
    inspect.add_argument("--simplify", default="auto", choices=("auto", "none", "fast", "full"))
    inspect.add_argument("--debug", action="store_true", help="show tracebacks")
    return top


def load_function(target: str):
    path, _, name = target.rpartition(":")
    if not path or not name:
        raise SystemExit(f"symhess: expected path/to/file.py:function, got {target!r}")
    file = Path(path)
    if not file.is_file():
        raise SystemExit(f"symhess: file not found: {path}")
    spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(file.parent.resolve()))
    spec.loader.exec_module(module)
    if not hasattr(module, name):
        raise SystemExit(f"symhess: {path} has no function {name!r}")
    return getattr(module, name)


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(n) for n in text.split(",") if n.strip())
    except ValueError:
        raise SystemExit(f"symhess: bad --shape {text!r}: use comma-separated integers, e.g. 2,3") from None


def expression_function(formula: str, variables: str | None):
    """A function of scalar inputs evaluating ``formula`` with NumPy on placeholders."""
    import numpy as np
    import sympy as sp

    names = [v.strip() for v in (variables or "").split(",") if v.strip()]
    if not names:
        raise SystemExit("symhess: --expr needs --vars, e.g. --vars x,y")
    symbols = sp.symbols(names)
    try:
        parsed = sp.sympify(formula, locals=dict(zip(names, symbols)))
    except (sp.SympifyError, SyntaxError) as error:
        raise SystemExit(f"symhess: cannot parse --expr {formula!r}: {error}") from None
    evaluate = sp.lambdify(symbols, parsed, modules="numpy")

    def func(*values):
        return evaluate(*values)

    func.__signature__ = __import__("inspect").Signature(
        [__import__("inspect").Parameter(n, 1) for n in names])
    return func, [np.zeros(()) for _ in names]


def report(f, sections, fmt):
    import sympy as sp

    items = {}
    if "expression" in sections:
        items["expression"] = f.expression
    if "gradient" in sections:
        items["gradient"] = f.gradient_expression
    if "hessian" in sections:
        items["hessian"] = f.hessian_expression
    if fmt == "json":
        out = {k: (str(v) if k == "expression" else [str(e) for e in v]) for k, v in items.items()}
        if "hessian" in items:
            n = items["hessian"].shape[0]
            out["hessian"] = [[str(items["hessian"][i, j]) for j in range(n)] for i in range(n)]
        if "sparsity" in sections:
            rows, cols = f.sparsity.nonzero()
            out["sparsity"] = {"shape": list(f.sparsity.shape), "rows": rows.tolist(),
                               "cols": cols.tolist()}
        if "source" in sections:
            out["source"] = f.source
        if "stats" in sections:
            out["stats"] = f.stats
        out["variables"] = [str(v) for v in f.variables]
        return json.dumps(out, indent=2)
    lines = []
    for key, value in items.items():
        lines.append(f"{key}:")
        lines.append(sp.latex(value) if fmt == "latex" else sp.pretty(value, use_unicode=True))
        lines.append("")
    if "sparsity" in sections:
        lines.append("sparsity:")
        lines += ["".join("#" if b else "." for b in row) for row in f.sparsity] + [""]
    if "source" in sections:
        lines += ["source:", f.source]
    if "stats" in sections:
        lines += ["stats:", json.dumps(f.stats, indent=2)]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except SystemExit:
        raise
    except Exception as error:
        if args.debug:
            raise
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"symhess: {type(error).__name__}: {first} (use --debug for the traceback)", file=sys.stderr)
        return 1


def run(args) -> int:
    import numpy as np

    import symhess

    if args.expr:
        func, inputs = expression_function(args.expr, args.vars)
    elif args.target:
        func = load_function(args.target)
        if not args.shape:
            raise SystemExit("symhess: give one --shape per input of the function, e.g. --shape 3")
        inputs = [np.zeros(parse_shape(s)) for s in args.shape]
    else:
        raise SystemExit("symhess: give path/to/file.py:function or --expr")
    f = symhess.compile(func, *inputs, simplify=args.simplify)
    sections = [s for s in SECTIONS if getattr(args, s)] or ["expression", "gradient", "hessian",
                                                             "sparsity", "stats"]
    print(report(f, sections, args.format))
    return 0
