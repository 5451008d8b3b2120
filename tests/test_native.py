"""Tier 0 (symhess.native): the kernels compiled by LLVM alone agree with Numba's and give way to them."""

import os
import subprocess
import sys

import numpy as np
import pytest

import symhess
from symhess import jit, loops, pipeline
from symhess.native import NativeKernels, native_kernels, saved_in


def network(theta, X):
    return (np.tanh(X @ theta[:3]) * theta[3] - np.cos(theta[:3]).sum()).sum() ** 2 + np.abs(theta).sum()


def logistic(w):
    z = np.cos(np.arange(48.0)).reshape(12, 4) @ w
    return (np.logaddexp(0, z) - (np.arange(12.0) % 2) * z).sum()


CASES = {
    "parameters": (network, (np.linspace(-1, 1, 4), np.cos(np.arange(15.0)).reshape(5, 3)), {"wrt": 0}),
    "repeated terms (loops)": (logistic, (np.linspace(-0.5, 0.5, 4),), {}),
}


@pytest.mark.parametrize("name", CASES)
def test_tier_zero_agrees_with_numba(name, monkeypatch):
    func, inputs, options = CASES[name]
    monkeypatch.setattr(loops, "SUM_TERMS", 10)
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    f = symhess.compile(func, *inputs, cache=False, **options)
    layout = f._built.layout
    native = native_kernels(f.source, layout.n, layout.rows, layout.cols)
    numba_module = f._built.module.module()
    x, p = inputs[0] + 0.1, np.concatenate([np.ravel(a) for a in inputs[1:]] or [np.zeros(0)])
    v = np.sin(np.arange(layout.n) + 1.0)
    for kernels in (native, numba_module):
        assert f.stats["repeated_terms"] == kernels.REPEATED_TERMS
    assert native.value(x, p) == pytest.approx(numba_module.value(x, p), rel=1e-13)
    gradients = [np.empty(layout.n), np.empty(layout.n)]
    native.gradient(x, p, gradients[0])
    numba_module.gradient(x, p, gradients[1])
    np.testing.assert_allclose(*gradients, rtol=1e-12)
    np.testing.assert_allclose(native.hessian_dense(x, p), numba_module.hessian_dense(x, p), rtol=1e-12, atol=1e-14)
    products = [np.empty(layout.n), np.empty(layout.n)]
    native.hvp(x, p, v, products[0])
    numba_module.hvp(x, p, v, products[1])
    np.testing.assert_allclose(*products, rtol=1e-12, atol=1e-14)


def test_a_compiled_function_starts_on_tier_zero_and_moves_to_numba(monkeypatch):
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    x = np.linspace(-1, 1, 6)
    f = symhess.compile(logistic, x[:4], cache=False)
    tiers = f._built.module
    first = f.hessian(x[:4])  # tier 0 or Numba, whichever is ready: the same numbers
    numba_module = tiers.module()
    assert f._kernels is numba_module and tiers.current() is numba_module
    np.testing.assert_allclose(f.hessian(x[:4]), first, rtol=1e-13)
    assert "numba_jit" in f.stats["seconds"]


def test_batches_wait_for_numba(monkeypatch):
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    f = symhess.compile(logistic, np.zeros(4), cache=False)
    native = f._built.module.native
    assert isinstance(native, NativeKernels)
    assert native.hessian_dense_batch is f._built.module.module().hessian_dense_batch


def test_a_new_process_loads_tier_zero_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMHESS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    x = np.linspace(-1, 1, 4)
    first = symhess.compile(logistic, x)
    saved = saved_in(tmp_path, first._built.layout.source_key)
    first._built.module.module()
    assert saved("hessian_full").exists() and saved("hvp").exists()
    assert not saved("hessian").exists()  # the values of the sparse Hessian: compiled when first asked for
    monkeypatch.setattr(pipeline, "_MEMORY", {})  # as in a new process: only the disk cache is left
    again = symhess.compile(logistic, x)
    assert again.stats["cache_hit"] and isinstance(again._built.module.native, NativeKernels)
    out = np.zeros((4, 4))
    again._built.module.native.hessian_into(x, out)  # from the saved machine code
    np.testing.assert_allclose(out, first.hessian(x), rtol=1e-13)
    # tier 0 did not compile the sparse values for it (its own would be saved; the optimised code the
    # background thread may have adopted meanwhile holds every kernel, so _functions cannot tell)
    assert not saved("hessian").exists()
    again._built.module.module()


def test_wait_for_jit_reports_the_switch(monkeypatch):
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    f = symhess.compile(logistic, np.ones(4), cache=False)
    assert f.wait_for_jit() is True
    assert f._kernels is f._built.module.module()


def test_numba_used_beside_the_background_compilation_does_not_deadlock(tmp_path):
    """The user's first ``@numba.njit`` while Numba compiles the kernels in the background: both
    initialise Numba's target context, which once deadlocked against ``llvm_lock``."""
    script = (
        "import time, numpy as np, numba, symhess\n"
        "from symhess import jit\n"
        "load = jit.import_file\n"
        "def slow_load(path, key):  # the background thread holds llvm_lock meanwhile\n"
        "    time.sleep(0.5)\n"
        "    return load(path, key)\n"
        "jit.import_file = slow_load\n"
        "f = symhess.compile(lambda x: (x**3).sum() + x[0] * x[1], np.ones(3))\n"
        "time.sleep(0.1)\n"
        "twice = numba.njit(lambda y: 2 * y)\n"
        "assert twice(2.0) == 4.0 and f.wait_for_jit(60)\n")
    env = dict(os.environ, SYMHESS_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_background_compilation_leaves_sys_stdout_and_stderr_alone(monkeypatch, tmp_path):
    """Numba formats error messages while it compiles; highlighted through colorama's
    ``init``/``deinit``, they re-pointed ``sys.stdout`` from the background thread to a stream
    the main thread had replaced (a pytest capture of an earlier test: prints were lost)."""
    pytest.importorskip("colorama", reason="without colorama Numba's messages touch no stream")
    from numba.core import errors

    jit.streams_left_alone_by_numba_errors()
    scheme = errors.termcolor()
    assert scheme.errmsg("message") == type(scheme)._markup(scheme, "message", scheme._errmsg)  # the same text
    formatted, stream_calls = [], []
    markup = scheme._markup
    monkeypatch.setattr(scheme, "_markup", lambda *args: formatted.append(args) or markup(*args))
    for name in ("init", "reinit", "deinit"):
        monkeypatch.setattr(errors, name, lambda *args, name=name, **kwargs: stream_calls.append(name))
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    monkeypatch.setattr(jit, "_LOADED", {})  # the module imported anew, from a new cache: Numba compiles
    monkeypatch.setenv("SYMHESS_CACHE_DIR", str(tmp_path))
    f = symhess.compile(logistic, np.ones(4))
    assert f.wait_for_jit(120)
    assert formatted and stream_calls == []


def test_background_compilations_let_a_waiting_first_tier_go_first():
    """A non-urgent ``llvm_lock`` (Numba's kernels, kernel by kernel) is not taken while a tier-0
    compilation waits or runs, so a second ``compile`` waits for one Numba kernel at most."""
    import threading

    from symhess import native

    entered = threading.Event()

    def background():
        with native.llvm_lock():
            entered.set()

    native._count_first_tier(+1)  # a tier-0 compilation is waiting
    try:
        thread = threading.Thread(target=background)
        thread.start()
        assert not entered.wait(0.2)
    finally:
        native._count_first_tier(-1)
    assert entered.wait(10)
    thread.join()


def _declined_inputs(x):
    """``x`` as inputs the compiled entry leaves to Python: strided, read-only, 2-d, a list, integers, float32."""
    strided = np.empty(2 * x.size)
    strided[::2] = x
    read_only = x.copy()
    read_only.setflags(write=False)
    return strided[::2], read_only, x.reshape(1, -1), x.tolist(), np.round(x * 4).astype(np.int64), np.float32(x)


@pytest.mark.parametrize("dense", [True, False], ids=["dense kernel", "values scattered"])
@pytest.mark.parametrize("linked", [False, True], ids=["tier 0", "linked O3 code"])
def test_the_compiled_hessian_entry_checks_its_input_as_numba_does(monkeypatch, dense, linked):
    """``hessian_into`` and ``hvp_into`` run in compiled code (they read the array objects: type,
    dimensions, dtype, flags, length) on both kinds of LLVM kernels: the same numbers as Numba's
    entries, the same declines and the same error for a vector of another length."""
    import pickle

    from symhess import codegen, native
    from symhess.travel import TravelKernels, host_target, machine_code, module_text

    def func(x):
        return (x ** 3).sum() + x[0] * x[4] + np.sin(x[1] * x[2]) * x[5]

    if not dense:
        monkeypatch.setattr(codegen, "DENSE_DIRECT_MAX", 0)
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    x = np.linspace(-0.7, 0.9, 6)
    f = symhess.compile(func, x, cache=False)
    assert ("def hessian_full" in f.source) == dense
    layout = f._built.layout
    kernels = native_kernels(f.source, layout.n, layout.rows, layout.cols, kind=TravelKernels if linked else None)
    if linked:
        kernels._m = 0
        kernels.link(machine_code(module_text(kernels), host_target()))
    numba_module = f._built.module.module()
    expected = np.zeros((6, 6))
    assert numba_module.hessian_into(x, expected)
    out = np.zeros((6, 6))
    assert kernels.hessian_into(x, out) is True
    assert kernels._entry is not None  # the compiled entry ran
    np.testing.assert_array_equal(out, expected)

    def entry(vector, out):
        values = np.empty(len(layout.rows))
        return kernels._entry(id(vector), 0, id(out), id(values), kernels._at_address, kernels._constants_address,
                              native._LAYOUT_ADDRESS)

    def hvp_entry(vector, v, out):
        return kernels._hvp_entry(id(vector), id(v), id(out), 0, 0, kernels._constants_address, native._LAYOUT_ADDRESS)

    v, hv, expected_hv = np.cos(np.arange(6.0)), np.empty(6), np.empty(6)
    expected_value = numba_module.hvp_into(x, v, expected_hv)
    assert kernels.hvp_into(x, v, hv) == expected_value and kernels._hvp_entry is not None
    np.testing.assert_array_equal(hv, expected_hv)
    for variant in (*_declined_inputs(x), np.ones(7)):
        assert np.isnan(entry(variant, np.zeros((6, 6))))  # left to Python
        assert np.isnan(hvp_entry(variant, v, hv)) and np.isnan(hvp_entry(x, variant, hv))
        if len(np.ravel(variant)) == 7:
            with pytest.raises(ValueError, match="wrong length"):
                kernels.hessian_into(variant, out)
            with pytest.raises(ValueError, match="wrong length"):
                kernels.hvp_into(x, variant, hv)
        else:
            assert kernels.hessian_into(variant, np.zeros((6, 6))) is None  # declined, as compiled._declining's
            assert kernels.hvp_into(variant, v, hv) is None and kernels.hvp_into(x, variant, hv) is None
    unpickled = pickle.loads(pickle.dumps(x))  # float64, but not float64's own dtype object
    assert unpickled.dtype is not np.dtype(np.float64) and np.isnan(entry(unpickled, np.zeros((6, 6))))
    out = np.zeros((6, 6))
    assert kernels.hessian_into(unpickled, out) is True
    np.testing.assert_array_equal(out, expected)
    assert kernels.hvp_into(unpickled, v, hv) == expected_value
    np.testing.assert_array_equal(hv, expected_hv)


def test_without_the_array_layout_the_entries_check_in_python(monkeypatch):
    """Where an ndarray's fields are not where the compiled entry reads them (checked at import),
    no entry is compiled and ``hessian_into`` checks and scatters in Python."""
    from symhess import native

    assert native._LAYOUT is not None  # this NumPy: the entry is used (above)
    monkeypatch.setattr(native, "_LAYOUT", None)
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    x = np.linspace(-0.7, 0.9, 4)
    f = symhess.compile(lambda x: (x ** 3).sum(), x, cache=False)
    layout = f._built.layout
    kernels = native_kernels(f.source, layout.n, layout.rows, layout.cols)
    out = np.zeros((4, 4))
    assert kernels.hessian_into(x, out) is True and kernels._entry is None
    hv = np.empty(4)
    assert kernels.hvp_into(x, np.ones(4), hv) == pytest.approx((x ** 3).sum()) and kernels._hvp_entry is None
    np.testing.assert_array_equal(hv, 6 * x)
    np.testing.assert_array_equal(out, np.diag(6 * x))
    assert kernels.hessian_into(x.tolist(), out) is None
