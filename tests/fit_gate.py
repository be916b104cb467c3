"""A picklable stand-in for a fit, for the runner tests: it runs until a gate file appears or it is stopped.

Files, not threading.Event: the same task must work in a thread and in a worker process."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GateTask:
    folder: str  # a tmp_path: the task writes started-<name> there and waits for open-<name>
    name: str
    result: object = None

    def started(self) -> bool:
        return (Path(self.folder) / f"started-{self.name}").exists()

    def open(self) -> None:
        (Path(self.folder) / f"open-{self.name}").touch()

    def __call__(self, hooks):
        (Path(self.folder) / f"started-{self.name}").write_text(str(os.getpid()))
        step = 0
        while not (Path(self.folder) / f"open-{self.name}").exists():
            if hooks.should_stop():
                return None
            hooks.record(step, 1.0 / (step + 1))  # streams like a fit
            step += 1
            time.sleep(0.01)
        return self.result

    def pid(self) -> int:
        return int((Path(self.folder) / f"started-{self.name}").read_text())


@dataclass(frozen=True)
class FailingTask:
    """Raises the LoraLabError it is given (a code and (name, value) pairs), as a fit meeting bad input does."""

    code: str
    params: tuple = ()

    def __call__(self, hooks):
        from lora_core.errors import LoraLabError

        raise LoraLabError(self.code, **dict(self.params))


@dataclass(frozen=True)
class NiceProbe:
    """Reports its own thread's nice at its start and after `run_s` of work that never calls
    hooks.should_stop(), as one long torch call (a large regression's precompute) does: the worker must
    lower it all the same after lora_ui/workers/fit_worker.py INTERACTIVE_S."""

    run_s: float

    def __call__(self, hooks):
        import threading

        def nice() -> int:
            return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

        first = nice()
        end = time.perf_counter() + self.run_s
        while time.perf_counter() < end:
            time.sleep(0.01)
        return first, nice()
