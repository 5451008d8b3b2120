"""The cache's size cap and its management: ``symhess cache info | prune | clear``, least recently used
entries first, Numba's files and tier-0 object files with their entry, entries in use kept."""

import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from scipy.optimize import rosen, rosen_hess

import symhess
from symhess import cache, jit, pipeline
from symhess.cli import main

HOUR = 3600.0


def fake_entry(directory, key, age, size=1000, metadata=True):
    """A cache entry as symhess writes it (module, metadata, tier-0 object files, Numba's files), all
    files ``age`` seconds old; returns its files."""
    pycache = directory / "__pycache__"
    pycache.mkdir(parents=True, exist_ok=True)
    files = [directory / f"symhess_{key}.py", directory / f"symhess_{key}.hessian_full.znver3.sealed.o",
             pycache / f"symhess_{key}.hessian_into-127.py311.sealed.nbi",
             pycache / f"symhess_{key}.hessian_into-127.py311.1.sealed.nbc"]
    if metadata:
        meta = directory / f"symhess_{key[-8:] * 4}.json"
        meta.write_text(json.dumps({"source_key": key, "n": 2}), encoding="utf-8")
        files.append(meta)
    for path in files[:4]:
        path.write_bytes(b"x" * size)
    stamp = time.time() - age
    for path in files:
        os.utime(path, (stamp, stamp))
    return files


def key_of(k: int) -> str:
    return f"{k:024x}"


@pytest.fixture
def directory(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    monkeypatch.setenv("SYMHESS_CACHE_DIR", str(directory))
    monkeypatch.delenv("SYMHESS_CACHE_MAX_SIZE", raising=False)
    return directory


def test_sizes_are_read_as_people_write_them(monkeypatch):
    assert cache.parse_size("500M") == 500 << 20
    assert cache.parse_size("2G") == 2 << 30
    assert cache.parse_size("1.5g") == 3 << 29
    assert cache.parse_size("750KiB") == 750 << 10
    assert cache.parse_size("123456") == 123456
    for bad in ("", "M", "2X", "-1G", "1 2"):
        with pytest.raises(ValueError, match="not a size"):
            cache.parse_size(bad)
    monkeypatch.delenv("SYMHESS_CACHE_MAX_SIZE", raising=False)
    assert cache.max_size() == cache.DEFAULT_MAX_SIZE == 1 << 30
    monkeypatch.setenv("SYMHESS_CACHE_MAX_SIZE", "200M")
    assert cache.max_size() == 200 << 20
    monkeypatch.setenv("SYMHESS_CACHE_MAX_SIZE", "none")
    assert cache.max_size() is None
    monkeypatch.setenv("SYMHESS_CACHE_MAX_SIZE", "lots")
    with pytest.warns(cache.CacheWarning, match="SYMHESS_CACHE_MAX_SIZE"):
        assert cache.max_size() == cache.DEFAULT_MAX_SIZE


def test_an_entry_is_its_module_with_its_metadata_object_files_and_numba_files(directory):
    files = fake_entry(directory, key_of(1), HOUR)
    (directory / "symhess_unrelated.txt").write_text("not ours", encoding="utf-8")
    (directory / "notes.txt").write_text("not ours", encoding="utf-8")
    found = cache.survey(directory)
    assert [entry.key for entry in found.entries] == [key_of(1)]
    (entry,) = found.entries
    assert set(entry.files) == set(files) and entry.files[0].suffix == ".json"  # metadata goes first
    assert entry.size == sum(path.stat().st_size for path in files)
    assert abs(entry.last_use - (time.time() - HOUR)) < 5
    assert [path.name for path, _, _ in found.stray] == ["symhess_unrelated.txt"]  # named as ours, of no entry


def test_prune_removes_the_least_recently_used_entries_first(directory):
    entries = {k: fake_entry(directory, key_of(k), age=k * HOUR) for k in range(1, 6)}  # 5 is the oldest
    size = sum(path.stat().st_size for files in entries.values() for path in files)
    per_entry = size // 5
    done = cache.prune(directory, max_size=3 * per_entry)
    assert done.entries == 2 and done.files == 10 and done.size == 2 * per_entry
    for k, files in entries.items():
        assert all(path.exists() == (k <= 3) for path in files), k
    assert cache.survey(directory).size == 3 * per_entry


def test_prune_removes_files_of_removed_modules_and_old_temporary_files(directory):
    kept = fake_entry(directory, key_of(1), HOUR)
    orphans = fake_entry(directory, key_of(2), HOUR)
    orphans[0].unlink()  # the module is gone: its metadata, object and Numba files are of no entry
    pycache = directory / "__pycache__"
    killed = [directory / ".symhess_00.py.abc123.tmp", pycache / f"symhess_{key_of(1)}.f-1.py311.nbi.tmp.0123abcd",
              directory / ".symhess-probe-xyz"]
    writing = [directory / ".symhess_01.json.def456.tmp", pycache / f"symhess_{key_of(1)}.g-2.py311.nbi.tmp.89ab"]
    for path in killed + writing:
        path.write_bytes(b"partial")
    old = time.time() - 11 * 60
    for path in killed:
        os.utime(path, (old, old))
    assert all(path.exists() for path in orphans[1:] + killed + writing)
    done = cache.prune(directory, max_size=None)
    assert done.entries == 0 and done.files == len(orphans) - 1 + len(killed)
    assert not any(path.exists() for path in orphans + killed)
    assert all(path.exists() for path in kept + writing)  # a writer may still be at those


def test_an_entry_in_use_by_this_process_is_never_removed(directory, monkeypatch):
    monkeypatch.setattr(cache, "_IN_USE", set())
    used = fake_entry(directory, key_of(1), age=10 * HOUR)  # the oldest
    other = fake_entry(directory, key_of(2), age=HOUR)
    jit.write_once(used[0], used[0].read_text(encoding="utf-8"))  # what loading it does
    assert key_of(1) in cache._IN_USE
    assert abs(used[0].stat().st_mtime - time.time()) < 60  # its last use renewed
    os.utime(used[0], (time.time() - 10 * HOUR,) * 2)
    done = cache.clear(directory)
    assert done.entries == 1
    assert all(path.exists() for path in used) and not any(path.exists() for path in other)


def test_the_size_cap_is_applied_when_symhess_writes(directory, monkeypatch):
    """Old entries beyond $SYMHESS_CACHE_MAX_SIZE go when a compilation writes its own; the new one stays."""
    monkeypatch.setattr(pipeline, "_MEMORY", {})
    monkeypatch.setattr(jit, "_LOADED", {})
    monkeypatch.setattr(cache, "_CHECKS", {})
    old = [fake_entry(directory, key_of(k), age=(10 + k) * HOUR, size=100_000) for k in range(1, 4)]
    monkeypatch.setenv("SYMHESS_CACHE_MAX_SIZE", "700K")
    assert cache.survey(directory).size > cache.parse_size("700K")
    x = np.linspace(-0.5, 0.7, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = symhess.compile(rosen, x)
        np.testing.assert_allclose(f.hessian(x), rosen_hess(x), rtol=1e-13)
        assert f.wait_for_jit(120)
    found = cache.survey(directory)
    assert found.size <= cache.parse_size("700K")
    assert not any(path.exists() for path in old[2])  # the oldest went first
    assert f._built.layout.source_key in {entry.key for entry in found.entries}
    np.testing.assert_allclose(f.hessian(x), rosen_hess(x), rtol=1e-13)


def cache_command(capsys, *args):
    status = main(["cache", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_cache_info_prune_and_clear_on_the_command_line(directory, capsys):
    for k in range(1, 5):
        fake_entry(directory, key_of(k), age=k * 24 * HOUR, size=300_000)
    status, out, _ = cache_command(capsys, "info")
    assert status == 0
    assert f"directory   {directory}" in out and "entries     4 (20 files)" in out
    assert "size        4.6 MiB (the cap is 1.0 GiB: $SYMHESS_CACHE_MAX_SIZE)" in out
    assert "(4 days ago)" in out and "(1 day ago)" in out
    status, out, _ = cache_command(capsys, "info", "--format", "json")
    info = json.loads(out)
    assert info["entries"] == 4 and info["bytes"] == cache.survey(directory).size and info["max_size"] == 1 << 30
    status, out, _ = cache_command(capsys, "prune", "--max-size", "2.5M")
    assert status == 0 and out.startswith("removed 2 entries (10 files, ") and "2 entries left" in out
    assert {entry.key for entry in cache.survey(directory).entries} == {key_of(1), key_of(2)}
    status, _, err = cache_command(capsys, "prune", "--max-size", "lots")
    assert status == 2 and "bad --max-size" in err
    status, out, _ = cache_command(capsys, "clear")
    assert status == 0 and out.startswith("removed 2 entries") and "0 entries left, 0 B" in out
    assert not list(directory.rglob("symhess_*"))
    assert main(["cache", "--help"]) == 0


CLEARED = """
import numpy as np, warnings
from scipy.optimize import rosen, rosen_hess
import symhess
from symhess.cli import main
x = np.linspace(-0.5, 0.7, 4)
with warnings.catch_warnings():
    warnings.simplefilter("error")
    f = symhess.compile(rosen, x)
    assert f.wait_for_jit(120)
    assert main(["cache", "clear"]) == 0   # this process uses the entry: it stays
    assert np.allclose(f.hessian(x), rosen_hess(x), rtol=1e-13)
"""


def test_a_cleared_cache_compiles_again_without_warnings(directory):
    """``clear`` in another process removes module, metadata, object files and Numba's files; a process
    that uses the entry keeps it; the next one compiles it again, without a warning."""
    env = dict(os.environ)
    done = subprocess.run([sys.executable, "-c", CLEARED], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    names = {path.suffix for path in directory.rglob("symhess_*")}
    assert {".py", ".json", ".o", ".nbi", ".nbc"} <= names  # kept: it was in use
    cleared = subprocess.run([sys.executable, "-m", "symhess", "cache", "clear"], env=env, capture_output=True,
                             text=True, timeout=300)
    assert cleared.returncode == 0, cleared.stderr
    assert not list(directory.rglob("symhess_*"))
    done = subprocess.run([sys.executable, "-c", CLEARED], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
