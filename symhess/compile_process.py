"""Numba's compilation of the generated modules (or LLVM's, :func:`pipeline.write_machine_code`),
in a process of its own.

Compiling in a thread of the user's process held the interpreter lock for seconds: a Hessian
served by tier 0 meanwhile cost 40-220 times the steady state.  Here one child process per
user process (started at the first compile that needs it, then reused) imports each verified
generated module from the cache directory and compiles its kernels with Numba's ``cache=True``
into that directory; the user's process only loads the machine code from Numba's cache when
the child says it is there (:func:`pipeline._tiers`).

The child reads requests from its standard input, one JSON line each, and answers on its
standard output.  It exits when its standard input closes (the parent exited, or was killed:
no orphan keeps compiling), and the parent kills it at exit without waiting for it (Numba
writes its cache files by atomic renames).  A child that fails, or dies, fails the requests it
had: the caller compiles in its own process instead, with a warning.

A child that hangs is killed: one that wrote nothing for :data:`SILENCE` seconds (it writes a
line every :data:`HEARTBEAT` seconds while it lives: a stopped or wedged process), or whose
request has run for :data:`DEADLINE` seconds.  Its requests go once to a new child (a stopped
process is no reason to give up); a request that meets a hung child twice fails as a dead
child's do.  Tier 0 serves the calls all the while.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from .jit import import_file, initialise_numba

RESTARTS = 2
"""Children that may die in one process before every compilation stays in the process."""

HEARTBEAT = 1.0
"""Seconds between the child's lines saying it lives."""

SILENCE = 30.0
"""Seconds without a line from a child with requests before it counts as hung (stopped, wedged)."""

DEADLINE = float(os.environ.get("SYMHESS_COMPILE_DEADLINE", 1800))
"""Seconds one request may take before its child counts as hung (``$SYMHESS_COMPILE_DEADLINE``).
Numba took more than 300 s for the 44,838-line module of MLP 10-50-1."""


class Request:
    """One module to compile: ``wait()`` returns whether the child compiled it (and saved it in Numba's cache)."""

    def __init__(self, path: Path, key: str, machine_code: tuple | None = None):
        self.path, self.key = path, key
        self.machine_code = machine_code  # (n, m, nnz, where): LLVM's optimised object file instead of Numba's
        self.ok = False
        self.error = ""
        self.sent = 0.0    # time.monotonic() when sent to its current child
        self.hung = 0      # children that hung with it
        self._done = threading.Event()

    def finish(self, ok: bool, error: str = "") -> None:
        self.ok, self.error = ok, error
        self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        if not self._done.wait(timeout):
            return False
        return self.ok


class _Child:
    """A compiling process and the threads that read what it writes."""

    def __init__(self, server: Server):
        package = str(Path(__file__).resolve().parent.parent)
        boot = ("import sys; sys.path.insert(0, sys.argv[1]); "
                "from symhess.compile_process import serve; serve()")
        self.process = subprocess.Popen(
            [sys.executable, "-c", boot, package], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1"), close_fds=True)
        self.server = server
        self.pending: dict[int, Request] = {}
        self.stderr = collections.deque(maxlen=30)
        self.heard = time.monotonic()  # when it last wrote a line
        self.hung = ""                 # why it was killed as hung
        threading.Thread(target=self._read, name="symhess-compile-process", daemon=True).start()
        threading.Thread(target=self._drain, name="symhess-compile-process-stderr", daemon=True).start()

    def send(self, number: int, request: Request) -> None:
        asked = {"id": number, "path": str(request.path), "key": request.key}
        if request.machine_code is not None:
            n, m, nnz, where = request.machine_code
            asked.update(machine_code={"n": n, "m": m, "nnz": nnz, "where": str(where)})
        line = json.dumps(asked) + "\n"
        request.sent = time.monotonic()
        if not self.pending:
            self.heard = request.sent  # silence counts while it has work
        self.pending[number] = request
        self.process.stdin.write(line.encode("utf-8"))
        self.process.stdin.flush()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.heard = time.monotonic()
            try:
                answer = json.loads(line.decode("utf-8"))
                request = self.server.answered(self, int(answer["id"]))
            except (ValueError, KeyError, TypeError):
                continue  # not an answer (nothing else should be written there)
            if request is not None:
                request.finish(bool(answer.get("ok")), str(answer.get("error", "")))
        self.process.stdout.close()
        status = self.process.wait()
        self.server.died(self, self.hung or (f"the compiling process exited with status {status}"
                                             + (f" (signal {-status})" if status < 0 else "")
                                             + ("; it wrote:\n" + "".join(self.stderr) if self.stderr else "")))

    def hanging(self, now: float) -> str:
        """Why this child counts as hung at ``now`` (``""`` if it does not)."""
        if not self.pending:
            return ""
        if now - self.heard > SILENCE:
            return f"the compiling process wrote nothing for {now - self.heard:.0f} s (stopped or wedged)"
        oldest = min(request.sent for request in self.pending.values())
        if now - oldest > DEADLINE:
            return f"the compiling process took more than {DEADLINE:.0f} s over one module"
        return ""

    def _drain(self) -> None:
        for line in self.process.stderr:
            self.stderr.append(line.decode("utf-8", "replace"))
        self.process.stderr.close()

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


class Server:
    """The process's compiling child, started when first needed, started again if it dies
    (at most :data:`RESTARTS` times)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._child: _Child | None = None
        self._numbers = iter(range(1, 1 << 62))
        self._deaths = 0
        self._exiting = False
        self._watching = False

    def submit(self, path: Path, key: str, machine_code: tuple | None = None) -> Request:
        """Ask the child to compile the module ``path`` (source hash ``key``) with Numba, or with
        ``machine_code=(n, m, nnz, where)`` LLVM's optimised object file of its kernels into ``where``;
        a request that cannot be sent fails at once (the caller compiles in its own process)."""
        request = Request(path, key, machine_code)
        with self._lock:
            if self._exiting:
                request.finish(False, "the interpreter is exiting")
                return request
            if self._deaths >= RESTARTS:
                request.finish(False, f"the compiling process died {self._deaths} times")
                return request
            self._send(request)
        return request

    def _send(self, request: Request) -> None:
        """``request`` to the child (started if need be); under ``self._lock``."""
        try:
            if self._child is None or self._child.process.poll() is not None:
                self._child = _Child(self)
                _register_exit()
                if not self._watching:
                    self._watching = True
                    threading.Thread(target=self._watch, name="symhess-compile-watchdog", daemon=True).start()
            self._child.send(next(self._numbers), request)
        except OSError as error:  # no interpreter to start, or the child died meanwhile
            request.finish(False, f"the compiling process could not be used ({error})")

    def _watch(self) -> None:
        """Kill a child that hangs (:meth:`_Child.hanging`); its reader then fails or resends its requests."""
        tick = min(1.0, HEARTBEAT)
        last = time.monotonic()
        while not self._exiting:
            time.sleep(tick)
            now = time.monotonic()
            with self._lock:
                child = self._child
                if child is None:
                    continue
                if now - last > 5 * tick + 1:  # this process was stopped (Ctrl-Z stops both): not the child's silence
                    child.heard = max(child.heard, now)
                last = now
                why = child.hanging(now)
                if why:
                    child.hung = why
            if why:
                child.kill()

    def answered(self, child: _Child, number: int) -> Request | None:
        with self._lock:
            return child.pending.pop(number, None)

    def died(self, child: _Child, why: str) -> None:
        """The child exited (or was killed as hung): its requests fail, or go once to a new child
        when it hung (one that hung with another child already fails)."""
        failed = []
        with self._lock:
            pending, child.pending = list(child.pending.values()), {}
            if self._child is child:
                self._child = None
            if not self._exiting and not child.hung:  # a hung child's requests are sent again: not a death
                self._deaths += 1
            for request in pending:
                request.hung += child.hung != ""
                if child.hung and request.hung < 2 and not self._exiting:
                    self._send(request)
                else:
                    failed.append(request)
        for request in failed:
            request.finish(False, why)

    @property
    def exiting(self) -> bool:
        return self._exiting

    def shutdown(self) -> None:
        """Kill the child without waiting for its compilations (at exit)."""
        with self._lock:
            self._exiting = True
            child, self._child = self._child, None
        if child is not None:
            child.kill()

    def pid(self) -> int | None:
        """The child's process id, if one runs (for tests): once it has its requests (a child
        killed before they were sent failed them for another reason than its death)."""
        with self._lock:
            child = self._child
        return child.process.pid if child is not None and child.process.poll() is None else None


SERVER = Server()


_registered = []


def _register_exit() -> None:
    if not _registered:
        _registered.append(True)
        atexit.register(SERVER.shutdown)


# ----- the child ------------------------------------------------------------------------
def serve() -> None:
    """The child's loop: compile each requested module's kernels into Numba's cache, answer, repeat;
    exit when the standard input closes."""
    if hasattr(signal, "SIGINT"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent; it kills this at exit
    answers = sys.stdout.buffer
    sys.stdout = sys.stderr  # whatever prints goes to the parent's error tail, not into the answers
    requests: queue.Queue = queue.Queue()

    def read():
        for line in sys.stdin.buffer:
            requests.put(line)
        os._exit(0)  # the parent is gone: stop, even in the middle of a compilation

    threading.Thread(target=read, daemon=True).start()
    writing = threading.Lock()

    def write(answer: dict) -> None:
        with writing:
            answers.write((json.dumps(answer) + "\n").encode("utf-8"))
            answers.flush()

    def beat():
        while True:
            write({"alive": True})
            time.sleep(HEARTBEAT)

    threading.Thread(target=beat, daemon=True).start()
    from .pipeline import compile_kernels, write_machine_code

    initialise_numba()
    while True:
        line = requests.get()
        start = time.perf_counter()
        try:
            request = json.loads(line.decode("utf-8"))
            number = request["id"]
            if "machine_code" in request:
                asked = request["machine_code"]
                write_machine_code(Path(request["path"]), request["key"], asked["n"], asked["m"], asked["nnz"],
                                   Path(asked["where"]))
            else:
                compile_kernels(import_file(Path(request["path"]), request["key"]))
            answer = {"id": number, "ok": True, "seconds": time.perf_counter() - start}
        except BaseException:  # every failure is the parent's to report
            answer = {"id": locals().get("number"), "ok": False, "error": traceback.format_exc()}
        write(answer)
