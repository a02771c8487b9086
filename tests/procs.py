"""Real ``iop`` processes: released together through a gate, and scheduler daemons watched as they run.

Python's start-up takes longer than the work a race is about, so processes started
one after another would mostly run one after another. Each process here imports the
CLI and the database layers first, touches its ``ready`` file, and polls for the
``gate`` file; the test opens the gate once every process is ready. After the gate the
process runs ``iop_workflow.cli.main.main()`` with the given arguments: the same entry
point as ``python -m iop_workflow``.

:class:`Daemon` runs ``iop scheduler run`` and collects its structured stderr lines as
they come, so a test can wait for an event (polling with a deadline, never sleeping).
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.cli_helpers import IOP, Result

_GATED = """\
import pathlib, sys, time
ready, gate = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
import iop_workflow.api, iop_workflow.cli.batch, iop_workflow.cli.cases, iop_workflow.cli.main
import iop_workflow.cli.scheduler_cmds, iop_workflow.store.engine
ready.touch()
deadline = time.monotonic() + 120
while not gate.exists():
    if time.monotonic() > deadline:
        sys.exit("the gate never opened")
    time.sleep(0.002)
sys.argv = ["iop", *sys.argv[3:]]
iop_workflow.cli.main.main()
"""


class Gate:
    """Processes wait here, after start-up, until :meth:`open`."""

    def __init__(self, workdir: Path) -> None:
        self.path = workdir / "gate"
        self.workdir = workdir
        self.ready: list[Path] = []

    def argv(self, args: Sequence[str]) -> list[str]:
        """The command line of a process that runs ``iop ARGS`` once the gate opens."""
        ready = self.workdir / f"ready.{len(self.ready)}"
        self.ready.append(ready)
        return [IOP[0], "-c", _GATED, str(ready), str(self.path), *args]

    def open(self, procs: Sequence[subprocess.Popen[str]], timeout: float = 120) -> None:
        """Open the gate once every process is ready (fail if one dies or times out first)."""
        deadline = time.monotonic() + timeout
        while not all(r.exists() for r in self.ready):
            dead = [p.args for p in procs if p.poll() is not None]
            assert not dead, f"a process exited before the gate opened: {dead}"
            assert time.monotonic() < deadline, "processes not ready in time"
            time.sleep(0.01)
        self.path.touch()


class Gang:
    """Processes of ``iop`` started now, held at a gate until :meth:`release`."""

    def __init__(self, env: dict[str, str], commands: Sequence[Sequence[str]], workdir: Path) -> None:
        self.gate = Gate(workdir)
        self.procs = [
            subprocess.Popen(
                self.gate.argv(args),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                cwd=workdir,
            )
            for args in commands
        ]

    def release(self, timeout: float = 120) -> None:
        self.gate.open(self.procs, timeout)

    def finish(self, timeout: float = 300) -> list[Result]:
        """Wait for every process; their exit statuses and output."""
        outs = [p.communicate(timeout=timeout) for p in self.procs]
        return [Result(p.returncode, out, err) for p, (out, err) in zip(self.procs, outs, strict=True)]


class Daemon:
    """A real ``iop scheduler run``; its stderr JSON lines are collected as they come."""

    def __init__(self, env: dict[str, str], *args: str, gate: Gate | None = None) -> None:
        command = ["scheduler", "run", *args]
        self.proc = subprocess.Popen(
            gate.argv(command) if gate is not None else [*IOP, *command],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.events: list[dict[str, Any]] = []
        self.other: list[str] = []  # stderr lines that are not JSON events (there should be none)
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                if line.startswith("{"):
                    self.events.append(json.loads(line))
                else:
                    self.other.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, matches: Callable[[dict[str, Any]], bool], *, after: int = 0, timeout: float = 120) -> int:
        """The index of the first event from ``after`` on that ``matches``; fails after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((i for i in range(after, len(self.events)) if matches(self.events[i])), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                assert left > 0 and self._reader.is_alive(), f"no such event; last: {self.events[-3:]} {self.other}"
                self._changed.wait(left)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit status once the daemon has shut down (it is killed if it hangs)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self._reader.join(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode
