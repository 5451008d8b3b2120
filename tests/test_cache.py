"""Fault injection into the disk cache: every fault is first shown to have reached its file
or directory; then the result must be the exact Hessian, with exactly one warning."""

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
from scipy.optimize import rosen, rosen_hess

import symhess
from symhess import cache, jit, pipeline
from symhess.jit import source_key

X = np.linspace(-0.5, 0.7, 4)
EXACT = rosen_hess(X)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A complete cache entry for Rosenbrock n = 4 (module, metadata, object files, Numba's files),
    made once; each test corrupts a copy of it."""
    directory = tmp_path_factory.mktemp("template") / "cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYMHESS_CACHE_DIR", str(directory))
        patch.setattr(pipeline, "_MEMORY", {})
        patch.setattr(jit, "_LOADED", {})
        f = symhess.compile(rosen, X)
        assert f.wait_for_jit(120)
        np.testing.assert_allclose(f.hessian(X), EXACT, rtol=1e-13)
    return directory


@pytest.fixture
def entry(template, tmp_path, monkeypatch):
    """A copy of the template entry as this test's cache; nothing of it loaded in this process yet."""
    directory = tmp_path / "cache"
    shutil.copytree(template, directory)
    monkeypatch.setenv("SYMHESS_CACHE_DIR", str(directory))
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    monkeypatch.setattr(jit, "_LOADED", {})
    return directory


def module_file(directory):
    (path,) = directory.glob("symhess_*.py")
    return path


def metadata_file(directory):
    (path,) = directory.glob("symhess_*.json")
    return path


def object_file(directory, kernel="hessian_full"):
    (path,) = directory.glob(f"symhess_*.{kernel}.*.o")
    return path


@contextmanager
def warnings_seen():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def compile_and_check(tier_zero=True):
    """Compile from the (faulty) cache; the Hessian is exact on tier 0 and on Numba's kernels."""
    f = symhess.compile(rosen, X)
    np.testing.assert_allclose(f.hessian(X), EXACT, rtol=1e-13)
    assert f.wait_for_jit(120)
    assert f._kernels is f._built.module.module()  # Numba's kernels now
    np.testing.assert_allclose(f.hessian(X), EXACT, rtol=1e-13)
    return f


def assert_one_warning(caught, *names):
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    for name in names:
        assert name in messages[0], messages[0]
    assert issubclass(caught[0].category, UserWarning)


def test_a_clean_entry_is_used_without_warnings(entry):
    with warnings_seen() as caught:
        f = compile_and_check()
    assert f.stats["cache_hit"]
    assert [str(w.message) for w in caught] == []


def test_another_llvm_backend_never_reuses_the_machine_code_cached_for_a_module(entry, monkeypatch):
    """A symhess whose LLVM backend (llvm.py, native.py) changed, e.g. by an upgrade, generates
    the same three-address code: its module must still get a name of its own, or it would
    link the machine code the old backend left in the cache (Numba's, tier 0's)."""
    from symhess import codegen

    (before,) = [path.name for path in entry.glob("symhess_*.py")]
    monkeypatch.setattr(pipeline, "package_fingerprint", lambda: "an upgraded symhess")
    monkeypatch.setattr(codegen, "backend_fingerprint", lambda: "another LLVM backend")
    f = compile_and_check()
    assert not f.stats["cache_hit"]  # the upgrade reached the cache lookup
    assert f"symhess_{f._built.layout.source_key}.py" != before
    assert sorted(path.name for path in entry.glob("symhess_*.py")) == sorted([before, module_file_name(f)])


def module_file_name(f):
    return f"symhess_{f._built.layout.source_key}.py"


def test_a_truncated_module_is_rebuilt(entry):
    path = module_file(entry)
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: len(text) // 3], encoding="utf-8")
    assert path.stat().st_size < len(text) and source_key(path.read_text(encoding="utf-8")) not in path.name
    with warnings_seen() as caught:
        f = compile_and_check()
    assert_one_warning(caught, path.name)
    assert path.read_text(encoding="utf-8") == text == f.source  # rewritten from the verified source


def edit(path):
    """Valid Python with different numbers: the dense Hessian's 1200 becomes 1300."""
    text = path.read_text(encoding="utf-8")
    edited = text.replace("1200.0", "1300.0")
    path.write_text(edited, encoding="utf-8")
    assert edited != text and path.read_text(encoding="utf-8") == edited
    compile(edited, str(path), "exec")  # still valid Python
    assert source_key(edited) not in path.name
    return text


def test_an_edited_module_is_rebuilt_with_its_object_files(entry):
    path = module_file(entry)
    text = edit(path)
    assert list(entry.glob("symhess_*.o"))
    with warnings_seen() as caught:
        compile_and_check()
    assert_one_warning(caught, path.name)
    assert path.read_text(encoding="utf-8") == text


def test_an_edited_module_is_rebuilt_without_object_files(entry):
    path = module_file(entry)
    for saved in entry.glob("symhess_*.o"):
        saved.unlink()
    assert not list(entry.glob("symhess_*.o"))
    text = edit(path)
    with warnings_seen() as caught:
        compile_and_check()
    assert_one_warning(caught, path.name)
    assert path.read_text(encoding="utf-8") == text


def test_an_edited_module_found_when_compiling_from_scratch_is_replaced(entry):
    """No metadata: the source is generated again, and the edited file of the same name is not imported."""
    metadata_file(entry).unlink()
    path = module_file(entry)
    text = edit(path)
    with warnings_seen() as caught:
        f = compile_and_check()
    assert not f.stats["cache_hit"]
    assert_one_warning(caught, path.name)
    assert path.read_text(encoding="utf-8") == text


def test_a_deleted_module_is_rebuilt(entry):
    path = module_file(entry)
    path.unlink()
    assert not path.exists() and metadata_file(entry).exists()
    with warnings_seen() as caught:
        compile_and_check()
    assert_one_warning(caught, path.name)
    assert path.exists()


def test_deleted_object_files_are_compiled_again_and_saved(entry):
    """Object files are kept per CPU model, so a missing one is normal: no warning, made again."""
    saved = object_file(entry)
    saved.unlink()
    assert not saved.exists()
    with warnings_seen() as caught:
        compile_and_check()
    assert [str(w.message) for w in caught] == []
    assert saved.exists()


@pytest.mark.parametrize("garbage", ["{not json", '{"n": 3}', "edited"])
def test_garbage_metadata_is_discarded(entry, garbage):
    path = metadata_file(entry)
    if garbage == "edited":  # valid JSON, every field present, one number changed
        meta = json.loads(path.read_text(encoding="utf-8"))
        meta["n"] = 3
        garbage = json.dumps(meta)
    path.write_text(garbage, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == garbage
    with warnings_seen() as caught:
        f = compile_and_check()
    assert not f.stats["cache_hit"]
    assert_one_warning(caught, path.name)
    assert json.loads(path.read_text(encoding="utf-8"))["n"] == 4  # written again


CORRUPTED = textwrap.dedent("""
    import json, warnings
    import numpy as np
    from scipy.optimize import rosen, rosen_hess
    import symhess
    x = np.linspace(-0.5, 0.7, 4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = symhess.compile(rosen, x)
        first = f.hessian(x)
        f.wait_for_jit(120)
        second = f.hessian(x)
    exact = rosen_hess(x)
    print(json.dumps({"right": bool(np.allclose(first, exact, rtol=1e-13) and np.allclose(second, exact, rtol=1e-13)),
                      "warnings": [str(w.message) for w in caught]}))
""")


def random_bytes(path):
    """100 random bytes over the middle third of ``path``."""
    data = bytearray(path.read_bytes())
    start = len(data) // 3
    data[start:start + 100] = np.random.default_rng(15).integers(0, 256, 100, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    assert path.read_bytes() == bytes(data) and len(data) > start + 100
    return bytes(data)


def run_corrupted(entry, path):
    """Compile in a new process (a crash must not take pytest with it): exact Hessians, one warning naming ``path``."""
    env = dict(os.environ, SYMHESS_CACHE_DIR=str(entry))
    done = subprocess.run([sys.executable, "-c", CORRUPTED], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["right"]
    assert len(result["warnings"]) == 1 and path.name in result["warnings"][0], result["warnings"]


def test_a_corrupted_object_file_is_compiled_again(entry):
    """100 random bytes in the middle of the dense Hessian's machine code: LLVM crashed the interpreter."""
    path = object_file(entry)
    data = random_bytes(path)
    run_corrupted(entry, path)
    assert path.read_bytes() != data  # saved again


def test_another_kernels_object_file_is_not_linked(entry):
    """A well-formed object file under the wrong name (the Hessian-vector product's): its function is missing."""
    path = object_file(entry)
    shutil.copyfile(object_file(entry, "hvp"), path)
    assert path.read_bytes() == object_file(entry, "hvp").read_bytes()
    run_corrupted(entry, path)
    assert path.read_bytes() != object_file(entry, "hvp").read_bytes()


@pytest.mark.parametrize("kind", ["nbc", "nbi"])
def test_corrupted_numba_cache_files_are_compiled_again(entry, kind):
    """Numba's machine code (``.nbc``) or index (``.nbi``) of the dense Hessian's entry, 100 random bytes."""
    (path,) = (entry / "__pycache__").glob(f"symhess_*.hessian_into-*.{kind}")
    random_bytes(path)
    for saved in entry.glob("symhess_*.o"):  # tier 0 compiles: Numba's kernels are loaded meanwhile
        saved.unlink()
    run_corrupted(entry, path)


def private_fallback(caught, reason):
    """The one warning names the reason; the process caches in a private temporary directory."""
    assert_one_warning(caught, reason)
    private = cache.cache_dir()
    assert str(private) in str(caught[0].message)
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert list(private.glob("symhess_*.py"))


def test_a_cache_directory_under_a_regular_file_falls_back(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("in the way", encoding="utf-8")
    wanted = blocker / "cache"
    monkeypatch.setenv("SYMHESS_CACHE_DIR", str(wanted))
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    with pytest.raises(NotADirectoryError):
        wanted.mkdir(parents=True)
    with warnings_seen() as caught:
        compile_and_check()
    private_fallback(caught, str(wanted))
    assert blocker.read_text(encoding="utf-8") == "in the way"


def test_a_world_writable_cache_directory_is_refused(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert stat.S_IMODE(shared.stat().st_mode) & 0o002
    monkeypatch.setenv("SYMHESS_CACHE_DIR", str(shared))
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    with warnings_seen() as caught:
        compile_and_check()
    private_fallback(caught, str(shared))
    assert "writable" in str(caught[0].message)
    assert list(shared.iterdir()) == []  # nothing written there, nothing read from there


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes whatever the permissions")
def test_a_cache_directory_without_write_permission_falls_back(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    monkeypatch.setenv("SYMHESS_CACHE_DIR", str(locked))
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    with pytest.raises(PermissionError):
        (locked / "probe").write_bytes(b"x")
    try:
        with warnings_seen() as caught:
            compile_and_check()
        private_fallback(caught, "not writable")
    finally:
        locked.chmod(0o700)


def test_a_full_disk_falls_back(tmp_path, monkeypatch):
    import errno

    directory = tmp_path / "full"
    monkeypatch.setenv("SYMHESS_CACHE_DIR", str(directory))
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    real = cache._write_file

    def full(path, content):
        if path.parent == directory:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, content)

    monkeypatch.setattr(cache, "_write_file", full)
    with pytest.raises(OSError, match="No space left"):
        cache._write_file(directory / "probe", b"x")
    with warnings_seen() as caught:
        compile_and_check()
    private_fallback(caught, "No space left")
    assert not list(directory.glob("symhess_*"))


def test_a_new_cache_directory_is_private(tmp_path, monkeypatch):
    directory = tmp_path / "new" / "cache"
    monkeypatch.setenv("SYMHESS_CACHE_DIR", str(directory))
    assert cache.cache_dir() == directory
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


NO_CACHE = textwrap.dedent("""
    import json, stat, sys
    import numpy as np
    from scipy.optimize import rosen, rosen_hess
    import symhess
    x = np.linspace(-0.5, 0.7, 4)
    f = symhess.compile(rosen, x, cache=False)
    f.wait_for_jit(120)
    module = f._built.module.module()
    from pathlib import Path
    directory = Path(module.__file__).parent
    print(json.dumps({"directory": str(directory), "mode": stat.S_IMODE(directory.stat().st_mode),
                      "right": bool(np.allclose(f.hessian(x), rosen_hess(x), rtol=1e-13))}))
""")


def test_cache_false_uses_a_private_directory_removed_at_exit(tmp_path):
    import tempfile

    env = dict(os.environ, SYMHESS_CACHE_DIR=str(tmp_path / "unused"))
    results = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", NO_CACHE], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    for result in results:
        assert result["right"]
        assert result["mode"] == 0o700
        assert os.path.dirname(result["directory"]) == tempfile.gettempdir()
        assert not os.path.exists(result["directory"])  # removed when the process ended
    assert results[0]["directory"] != results[1]["directory"]  # made for each process, not a fixed name
    assert not (tmp_path / "unused").exists()


SAME_TIME = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np
    from scipy.optimize import rosen, rosen_hess
    import symhess
    n = int(sys.argv[1])
    x = np.linspace(-0.5, 0.7, n)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = symhess.compile(rosen, x)
        first = f.hessian(x)
        f.wait_for_jit(300)
        right = bool(np.allclose(first, rosen_hess(x), rtol=1e-13) and np.allclose(f.hessian(x), rosen_hess(x), rtol=1e-13))
    print(json.dumps({"right": right, "warnings": [str(w.message) for w in caught]}))
""")


@pytest.mark.slow
def test_eight_processes_compiling_at_once_share_one_cache(tmp_path):
    """Four pairs of processes compile four functions into one empty cache at the same time, then one more
    process finds every entry: nothing is seen half-written, so no warning, and every Hessian is exact."""
    env = dict(os.environ, SYMHESS_CACHE_DIR=str(tmp_path))
    sizes = [3, 4, 5, 6] * 2
    runs = [subprocess.Popen([sys.executable, "-c", SAME_TIME, str(n)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for n in sizes]
    outputs = [run.communicate(timeout=600) for run in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode == 0, err[-2000:]
        assert json.loads(out.strip().splitlines()[-1]) == {"right": True, "warnings": []}
    assert len(list(tmp_path.glob("symhess_*.json"))) == 4
    done = subprocess.run([sys.executable, "-c", SAME_TIME, "5"], env=env, capture_output=True, text=True, timeout=300)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"right": True, "warnings": []}


INTERRUPTED = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from scipy.optimize import rosen
    import symhess
    from symhess import cache
    signal_name, suffix = sys.argv[1], sys.argv[2]
    real = cache._write_file

    def half_then_signal(path, content):
        if path.suffix != suffix:
            return real(path, content)
        temporary = path.with_name(f".{path.name}.interrupted.tmp")
        with open(temporary, "wb") as file:  # half written, as a write stopped midway leaves it
            file.write(content[: len(content) // 2])
        os.kill(os.getpid(), getattr(signal, signal_name))
        return real(path, content)  # SIGINT raises KeyboardInterrupt above; SIGKILL never returns

    cache._write_file = half_then_signal
    symhess.compile(rosen, np.linspace(-0.5, 0.7, 4))
    print("not interrupted")
""")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGKILL"])
@pytest.mark.parametrize("suffix", [".py", ".json"], ids=["module", "metadata"])
def test_a_compile_interrupted_in_the_middle_of_a_write_leaves_a_usable_cache(tmp_path, signal_name, suffix):
    """SIGINT (KeyboardInterrupt) or SIGKILL while the module or the metadata is half written: the
    next process compiles, with the exact Hessian on both tiers and no warning."""
    env = dict(os.environ, SYMHESS_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", INTERRUPTED, signal_name, suffix], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode != 0 and "not interrupted" not in done.stdout  # the signal reached the write
    (half,) = tmp_path.glob(f".symhess_*{suffix}.interrupted.tmp")
    assert half.stat().st_size > 0
    assert not list(tmp_path.glob(f"symhess_*{suffix}"))  # never moved into place
    if signal_name == "SIGINT":
        assert "KeyboardInterrupt" in done.stderr
    done = subprocess.run([sys.executable, "-c", SAME_TIME, "4"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"right": True, "warnings": []}
    assert len(list(tmp_path.glob("symhess_*.json"))) == 1 and len(list(tmp_path.glob("symhess_*.py"))) == 1
