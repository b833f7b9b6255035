"""How a training shows it is alive and ends: progress as log lines when stderr is not a terminal (a
run under ``nohup`` or a batch scheduler), and SIGTERM ending a training as Ctrl-C does."""

from __future__ import annotations

import functools
import signal
import threading
import time
from typing import Any, Callable

PROGRESS_LINES = 20  # progress lines per training when stderr is not a terminal (plus one per epoch)
PROGRESS_SECONDS = 300.0  # and at least one this often


class ProgressLines:
    """Progress as log lines, for a training whose stderr is a file: step, epoch, loss, tokens/s, time left."""

    def __init__(self, steps: int, epochs: int, log: Callable[[str], None]):
        self.steps, self.epochs, self.log = steps, epochs, log
        self.every = max(1, steps // PROGRESS_LINES)
        self.done, self.started = 0, time.perf_counter()
        self.last = self.started

    def _left(self) -> str:
        elapsed = time.perf_counter() - self.started
        left = elapsed / self.done * (self.steps - self.done) if self.done else 0.0
        return time.strftime("%H:%M:%S", time.gmtime(left))

    def step(self, epoch: int, loss: float, tokens_per_second: float) -> None:
        self.done += 1
        now = time.perf_counter()
        if self.done % self.every and now - self.last < PROGRESS_SECONDS and self.done != self.steps:
            return
        self.last = now
        self.log(f"step {self.done}/{self.steps} (epoch {epoch}/{self.epochs}): loss {loss:.3f}, "
                 f"{tokens_per_second:.0f} tokens/s, {self._left()} left")

    def epoch(self, record: dict[str, Any], tokens_per_second: float) -> None:
        dev = f", dev loss {record['dev_loss']:.3f}" if "dev_loss" in record else ""
        self.log(f"epoch {record['epoch']}/{self.epochs} done in {record['seconds']:.0f} s: train loss "
                 f"{record['train_loss']:.3f}{dev}, {tokens_per_second:.0f} tokens/s, {self._left()} left")


def terminated_as_exit(function: Callable[..., Any]) -> Callable[..., Any]:
    """While ``function`` runs, SIGTERM (``kill``, a batch scheduler's time limit) ends it as Ctrl-C does:
    through the clean-up that removes its unfinished folder. Only in the main thread, where Python runs
    signal handlers."""
    def terminate(number: int, frame: Any) -> None:
        raise SystemExit(128 + number)

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return function(*args, **kwargs)
        previous = signal.signal(signal.SIGTERM, terminate)
        try:
            return function(*args, **kwargs)
        finally:
            signal.signal(signal.SIGTERM, previous)

    return run
