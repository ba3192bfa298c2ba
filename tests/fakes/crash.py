"""`impactlink run` in a child process that is SIGKILLed at a chosen point.

A zygote process imports impactlink once and forks one child per cycle, so a crash costs
a fork, not an interpreter start. A kill point is (where, n): the child kills itself right
after the nth call of ``where`` returns, with nothing flushed or closed. Or the test kills
it while the fake tracker holds one of its requests in flight (``fakes.faults.Gate``).
The zygote reaps each child, so its PID is provably gone when the next cycle starts.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

POINTS = {
    "ingest": ("impactlink.store.records", "save_batch"),
    "matches": ("impactlink.store.counts", "issue_counts"),
    "impacts": ("impactlink.store.state", "save_impacts"),
    "journal": ("impactlink.store.state:StoreJournal", "record"),
}
"""Where a child can kill itself: after each ingested batch, inside compute (its matches
saved in the still open transaction), after the figures are saved, after each journaled
write."""
_PRELOAD = ("impactlink.cli", "impactlink.pipeline", "impactlink.trackers.github",
            "impactlink.trackers.jira", "impactlink.sources.files")


class Zygote:
    """The forking process, driven over its stdin and stdout, one JSON line per cycle."""

    def __init__(self) -> None:
        tests = Path(__file__).resolve().parents[1]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(tests), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self._proc = subprocess.Popen([sys.executable, "-m", "fakes.crash"], cwd=tests, env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._read() == "ready"

    def start(self, config: Path, as_of: str, log: Path, point: str | None = None,
              nth: int = 1) -> int:
        """Fork a child running one cycle; return its PID."""
        stdin = self._proc.stdin
        assert stdin is not None
        stdin.write(json.dumps({"config": str(config), "as_of": as_of, "log": str(log),
                                "point": point, "nth": nth}) + "\n")
        stdin.flush()
        return int(self._read())

    def wait(self) -> int:
        """Return how the last child ended: its exit code, or minus the signal that killed it."""
        return int(self._read())

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait(10)

    def _read(self) -> str:
        out: IO[str] | None = self._proc.stdout
        assert out is not None
        line = out.readline()
        assert line, "the zygote died"
        return line.strip()


def serve() -> None:
    """The zygote's loop: fork a cycle per line read, say its PID, reap it, say how it ended."""
    for name in _PRELOAD:
        importlib.import_module(name)
    print("ready", flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(**job)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


def _child(config: str, as_of: str, log: str, point: str | None, nth: int) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(0)
    code = 70
    try:
        if point is not None:
            _arm(point, nth)
        from impactlink.cli import app

        result = app(["run", "-c", config, "--as-of", as_of], standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _arm(point: str, nth: int) -> None:
    where, attr = POINTS[point]
    module, _, cls = where.partition(":")
    owner: Any = importlib.import_module(module)
    if cls:
        owner = getattr(owner, cls)
    original: Callable[..., Any] = getattr(owner, attr)
    calls = 0

    def killing(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        out = original(*args, **kwargs)
        calls += 1
        if calls == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    setattr(owner, attr, killing)


if __name__ == "__main__":
    serve()
