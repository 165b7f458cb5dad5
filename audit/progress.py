"""Progress of long stages, through one mechanism for every front end.

Work that takes long (prediction, each check and its families, attributions, attacks,
rendering) opens a `stage` and advances it; it never knows who is watching. Front ends
install sinks with `reporting`: the CLI shows a rich progress display on a terminal or plain
lines in a log, the Prefect flow logs to the run's logger, `--quiet` installs nothing. Without
a sink, a stage costs one lock and a counter.

Sinks are process-wide, not per context: the checks run on their own threads (and Prefect's
task threads), which a context variable would not reach. A sink is called under one lock, so
sinks need not be thread-safe themselves.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

# Plain sinks (logs) report each stage at every 1/LOG_STEPS of it, so a log stays short.
LOG_STEPS = 10


class Sink(Protocol):
    """Somewhere progress goes. `total` is None for a stage whose size is not known."""

    def begin(self, key: int, label: str, total: int | None) -> None: ...

    def advance(self, key: int, done: int) -> None: ...

    def end(self, key: int, failed: bool) -> None: ...


_lock = threading.Lock()
_sinks: list[Sink] = []
_keys = itertools.count()


@dataclass
class Stage:
    """A running stage; `advance` is safe from any thread."""

    key: int
    label: str
    total: int | None
    done: int = 0
    failed: bool = False

    def fail(self) -> None:
        """Show the stage as failed when it ends, without raising (a check's error run)."""
        self.failed = True

    def advance(self, n: int = 1) -> None:
        with _lock:
            self.done += n
            for sink in _sinks:
                sink.advance(self.key, self.done)


@contextmanager
def stage(label: str, total: int | None = None) -> Iterator[Stage]:
    """Report `label` as running until the block ends (as failed when it raises)."""
    with _lock:
        current = Stage(next(_keys), label, total)
        for sink in _sinks:
            sink.begin(current.key, label, total)
    raised = True
    try:
        yield current
        raised = False
    finally:
        with _lock:
            for sink in _sinks:
                sink.end(current.key, raised or current.failed)


@contextmanager
def reporting(*sinks: Sink) -> Iterator[None]:
    """Send every stage opened in this process to `sinks` until the block ends."""
    with _lock:
        _sinks.extend(sinks)
    try:
        yield
    finally:
        with _lock:
            for sink in sinks:
                _sinks.remove(sink)
            for sink in sinks:
                close = getattr(sink, "close", None)
                if close is not None:
                    close()


@dataclass
class _Seen:
    label: str
    total: int | None
    started: float
    logged: int = 0  # the last step (in 1/LOG_STEPS of the total) reported


@dataclass
class LogSink:
    """Progress as log lines: each stage's start, every 1/LOG_STEPS of its total, and its end.

    The Prefect flow gives it the run's logger, so the UI shows the same steps a terminal does.
    """

    logger: logging.Logger | logging.LoggerAdapter[logging.Logger]
    _seen: dict[int, _Seen] = field(default_factory=dict)

    def begin(self, key: int, label: str, total: int | None) -> None:
        self._seen[key] = _Seen(label, total, time.perf_counter())
        size = f" ({total:,})" if total else ""
        self.logger.info("%s%s: started", label, size)

    def advance(self, key: int, done: int) -> None:
        seen = self._seen.get(key)
        if seen is None or not seen.total:
            return
        step = done * LOG_STEPS // seen.total  # integers: 3 tenths is exactly 3
        if step >= LOG_STEPS or step <= seen.logged:
            return
        seen.logged = step
        count = f"{done:,}/{seen.total:,}"
        self.logger.info("%s: %.0f%% (%s)", seen.label, 100 * done / seen.total, count)

    def end(self, key: int, failed: bool) -> None:
        seen = self._seen.pop(key, None)
        if seen is None:
            return
        took = time.perf_counter() - seen.started
        self.logger.info("%s: %s after %.1f s", seen.label, "failed" if failed else "done", took)


def stream_logger(stream: IO[str]) -> logging.Logger:
    """A logger that writes `HH:MM:SS message` lines to `stream` (the CLI's log, not a TTY)."""
    logger = logging.getLogger(f"audit.progress.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    if not logger.handlers:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
    return logger


class RichSink:
    """A live display on a terminal: a bar per stage with a known size, a spinner otherwise.

    Finished stages stay on screen (one line each, with their time), so the terminal keeps a
    record of what ran; the display stops when the sink is closed.
    """

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            SpinnerColumn(finished_text=""),
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[int, TaskID] = {}
        self._progress.start()

    def begin(self, key: int, label: str, total: int | None) -> None:
        count = f"0/{total:,}" if total else ""  # a stage of unknown size shows no count
        self._tasks[key] = self._progress.add_task(escape(label), total=total, count=count)

    def advance(self, key: int, done: int) -> None:
        task = self._tasks.get(key)
        if task is not None:
            total = next(t.total for t in self._progress.tasks if t.id == task)
            count = f"{done:,}/{total:,}" if total else ""
            self._progress.update(task, completed=done, count=count)

    def end(self, key: int, failed: bool) -> None:
        task = self._tasks.pop(key, None)
        if task is None:
            return
        shown = next(t for t in self._progress.tasks if t.id == task)
        mark = "[red]✗[/]" if failed else "[green]✓[/]"
        note = " [red](failed)[/]" if failed else ""
        # ended stages count as complete (the mark tells how), so no spinner keeps turning;
        # one of unknown size becomes one step of one
        total = shown.total if shown.total else 1
        self._progress.update(
            task, description=f"{mark} {shown.description}{note}", total=total, completed=total
        )
        self._progress.stop_task(task)

    def close(self) -> None:
        self._progress.stop()
