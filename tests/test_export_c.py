"""Standalone C export: compiled with the system's C compiler, loaded with ctypes, equal to the kernels."""

import ctypes
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import rosen

import symhess
from symhess import cli
from symhess.export_c import CTranslator, parse

CC = shutil.which("cc")
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler: the export is compiled with `cc`, not found on PATH")
ROOT = Path(__file__).resolve().parent.parent


def double_pointer(array):
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_double))


def build(header: Path, source: Path):
    """The export compiled as the issue asks (-O2 -Wall -Werror), as a shared library."""
    library = source.with_suffix(".so")
    done = subprocess.run([CC, "-O2", "-Wall", "-Werror", "-std=c99", "-shared", "-fPIC", "-o", str(library),
                           str(source), "-lm"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return ctypes.CDLL(str(library))


class Exported:
    """The C functions of one export, called like the kernels."""

    def __init__(self, library, name):
        self.library, self.name = library, name
        self.n, self.np, self.nnz = (getattr(library, f"{name}_{k}")() for k in ("n", "np", "nnz"))

    def call(self, kernel, *arrays):
        getattr(self.library, f"{self.name}_{kernel}")(*(double_pointer(a) for a in arrays))

    def defaults(self):
        data = np.zeros(max(self.np, 1))
        self.call("data_defaults", data)
        return data

    def structure(self):
        rows, cols = np.empty(self.nnz, dtype=np.intc), np.empty(self.nnz, dtype=np.intc)
        pointer = ctypes.POINTER(ctypes.c_int)
        getattr(self.library, f"{self.name}_hessian_structure")(rows.ctypes.data_as(pointer),
                                                               cols.ctypes.data_as(pointer))
        return rows, cols


def exported(f, tmp_path, name):
    return Exported(build(*f.export(tmp_path, name)), name)


def assert_matches(f, c, x, data, v):
    """Every C function against the in-process kernels, to 1e-12 (relative to the values' size)."""
    p = data[:c.np]
    value = np.empty(1)
    c.call("value", x, data, value)
    assert value[0] == pytest.approx(f._kernels.value(x, p), rel=1e-12, abs=1e-12)
    expected = np.empty(c.n)
    f._kernels.gradient(x, p, expected)
    got = np.empty(c.n)
    c.call("gradient", x, data, got)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    expected = np.empty(c.nnz)
    f._kernels.hessian(x, p, expected)
    got = np.empty(c.nnz)
    c.call("hessian_values", x, data, got)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    expected = np.empty(c.n)
    f._kernels.hvp(x, p, v, expected)
    got = np.empty(c.n)
    c.call("hvp", x, data, v, got)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    rows, cols = c.structure()
    np.testing.assert_array_equal(rows, f.hessian_structure()[0])
    np.testing.assert_array_equal(cols, f.hessian_structure()[1])


@needs_cc
def test_rosenbrock_with_loops(tmp_path):
    f = symhess.compile(rosen, np.zeros(300))
    c = exported(f, tmp_path, "rosen")
    assert (c.n, c.np, c.nnz) == (300, 0, 599)
    source = (tmp_path / "rosen.c").read_text(encoding="utf-8")
    assert "for (long m = 0; m < 299; ++m) {" in source, "repeated terms stay loops"
    assert "malloc" not in source and "#include <math.h>" in source
    x = np.linspace(-1.2, 1.4, 300)
    assert_matches(f, c, x, c.defaults(), np.sin(np.arange(300.0)))
    value = np.empty(1)
    c.call("value", x, c.defaults(), value)
    assert value[0] == pytest.approx(rosen(x), rel=1e-13)


def weighted_fit(w, scale):
    z = FEATURES @ w
    return (np.logaddexp(0.0, z) - LABELS * z).sum() * scale + np.abs(w).sum() + np.maximum(w, 0.5).sum()


FEATURES = np.random.default_rng(3).normal(size=(40, 6))
LABELS = (np.random.default_rng(4).uniform(size=40) > 0.5).astype(float)


@needs_cc
def test_runtime_data_and_helpers(tmp_path):
    f = symhess.compile(weighted_fit, np.zeros(6), 1.0, wrt=0)
    c = exported(f, tmp_path, "fit")
    assert c.np == 1 + 40 * 6 + 40, "the parameter, then the features and labels the function read"
    header = (tmp_path / "fit.h").read_text(encoding="utf-8")
    assert "data[0:1]  scale" in header and "data[1:241]" in header
    data = c.defaults()
    np.testing.assert_array_equal(data[1:241], FEATURES.reshape(-1))
    rng = np.random.default_rng(5)
    for scale in (0.5, 2.0):
        data[0] = scale
        x = rng.normal(size=6)
        assert_matches(f, c, x, data, rng.normal(size=6))
        value = np.empty(1)
        c.call("value", x, data, value)
        assert value[0] == pytest.approx(weighted_fit(x, scale), rel=1e-12)


def energy(coordinates):
    x = coordinates.reshape(-1, 3)
    i, j = np.triu_indices(len(x), 1)
    r2 = ((x[i] - x[j]) ** 2).sum(axis=1)
    return (4 * (r2**-6 - r2**-3)).sum()


@needs_cc
def test_lennard_jones_pairs(tmp_path):
    f = symhess.compile(energy, np.zeros(3 * 16), simplify="none")
    c = exported(f, tmp_path, "lj")
    x = np.random.default_rng(6).uniform(0, 3, 48)
    assert_matches(f, c, x, c.defaults(), np.ones(48))


def mlp_loss(theta):
    W, b, v = theta[:40].reshape(10, 4), theta[40:50], theta[50:60]
    return ((np.tanh(FEATURES[:, :4] @ W.T + b) @ v + theta[60] - LABELS) ** 2).sum()


@needs_cc
def test_a_rank_one_block_is_a_local_array(tmp_path):
    """An MLP's loss: the copy's gradient is computed into a local array (``zeros(61)`` in the
    kernel), a stack array in C."""
    f = symhess.compile(mlp_loss, np.zeros(61))
    assert "= zeros(61)" in f.source
    c = exported(f, tmp_path, "mlp")
    assert "[61];" in (tmp_path / "mlp.c").read_text(encoding="utf-8")
    rng = np.random.default_rng(7)
    assert_matches(f, c, 0.5 * rng.normal(size=61), c.defaults(), rng.normal(size=61))


def test_translation_keeps_the_code_shape():
    code = "    acc = 0.0\n    for m in range(3):\n        t0 = x[2 + 1*m]\n        acc += t0\n" \
           "        for j in range(m, 3):\n            h[int(c[4 + 1*m]) + 1*j] += t0\n    return acc\n"
    statements = parse(code)
    assert [s.kind for s in statements] == ["assign", "loop", "return"]
    assert statements[1].body[2].parts == ("j", "m", "3")
    translator = CTranslator({"x": "x", "h": "out", "c": "table"}, "out[0]")
    lines = translator.translate(statements)
    assert (translator.operations, translator.executed) == (2, 3 + 6), "the inner loop runs 3 + 2 + 1 times"
    assert lines == ["    double acc = 0.0;", "    acc = 0.0;", "    for (long m = 0; m < 3; ++m) {",
                     "        double t0 = x[2 + m];", "        acc += t0;", "        for (long j = m; j < 3; ++j) {",
                     "            out[(long)table[4 + m] + j] += t0;", "        }", "    }", "    out[0] = acc;"]


def test_bad_names_are_refused(tmp_path):
    f = symhess.compile(lambda x: (x**2).sum(), np.zeros(2))
    with pytest.raises(ValueError, match="not a C identifier"):
        f.export(tmp_path, "my-function")


@needs_cc
def test_command_line_export(tmp_path, capsys):
    status = cli.main(["export", f"{ROOT / 'tests' / 'test_export_c.py'}:energy", "--shape", "12",
                       "-o", str(tmp_path), "--name", "cluster"])
    assert status == 0, capsys.readouterr().err
    assert "cluster.h" in capsys.readouterr().out
    c = Exported(build(tmp_path / "cluster.h", tmp_path / "cluster.c"), "cluster")
    assert c.n == 12
    x = np.random.default_rng(7).uniform(0, 2, 12)
    value = np.empty(1)
    c.call("value", x, c.defaults(), value)
    assert value[0] == pytest.approx(energy(x), rel=1e-12)


def test_command_line_export_needs_an_output_directory(capsys):
    assert cli.main(["export", "f.py:g", "--shape", "3"]) == 2
    assert "-o/--output" in capsys.readouterr().err


@needs_cc
def test_a_ten_line_main_links_against_the_export(tmp_path):
    f = symhess.compile(rosen, np.zeros(4))
    f.export(tmp_path, "rosen")
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include "rosen.h"\n\nint main(void)\n{\n'
        "    double x[4] = {1.0, 1.0, 1.0, 1.0}, g[4], value;\n"
        "    rosen_value(x, NULL, &value);\n    rosen_gradient(x, NULL, g);\n"
        '    printf("%g %g\\n", value, g[0]);\n    return 0;\n}\n', encoding="utf-8")
    program = tmp_path / "main"
    subprocess.run([CC, "-O2", "-Wall", "-Werror", "-o", str(program), str(tmp_path / "main.c"),
                    str(tmp_path / "rosen.c"), "-lm"], check=True)
    assert subprocess.run([str(program)], capture_output=True, text=True, check=True).stdout.split() == ["0", "0"]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
