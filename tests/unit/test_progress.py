"""One progress mechanism: stages reach every installed sink, from any thread, and the
front ends (a live display, log lines) show what ran and what failed."""

from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass, field

import pytest
from rich.console import Console

from audit import progress


@dataclass
class Recorder:
    """A sink that keeps every event, to check what front ends are told."""

    events: list[tuple[str, str, int | None]] = field(default_factory=list)
    labels: dict[int, str] = field(default_factory=dict)

    def begin(self, key: int, label: str, total: int | None) -> None:
        self.labels[key] = label
        self.events.append(("begin", label, total))

    def advance(self, key: int, done: int) -> None:
        self.events.append(("advance", self.labels[key], done))

    def end(self, key: int, failed: bool) -> None:
        self.events.append(("failed" if failed else "done", self.labels[key], None))


def test_a_stage_reaches_the_sink_in_order() -> None:
    seen = Recorder()
    with progress.reporting(seen), progress.stage("Predicting", total=3) as shown:
        shown.advance(2)
        shown.advance()
    assert seen.events == [
        ("begin", "Predicting", 3),
        ("advance", "Predicting", 2),
        ("advance", "Predicting", 3),
        ("done", "Predicting", None),
    ]


def test_a_raising_or_failed_stage_ends_as_failed() -> None:
    seen = Recorder()
    with progress.reporting(seen):
        with pytest.raises(RuntimeError), progress.stage("Check: bias"):
            raise RuntimeError("boom")
        with progress.stage("Check: robustness") as shown:
            shown.fail()
    assert [e for e in seen.events if e[0] in ("done", "failed")] == [
        ("failed", "Check: bias", None),
        ("failed", "Check: robustness", None),
    ]


def test_without_a_sink_stages_cost_nothing_visible() -> None:
    with progress.stage("Nobody watches", total=2) as shown:
        shown.advance(2)
    assert shown.done == 2


def test_a_sink_stops_hearing_after_its_block() -> None:
    seen = Recorder()
    with progress.reporting(seen):
        pass
    with progress.stage("Later"):
        pass
    assert seen.events == []


@pytest.mark.parametrize("repeat", range(5))
def test_concurrent_stages_count_every_step(repeat: int) -> None:
    """Checks advance their stages from their own threads at once; no step is lost."""
    seen = Recorder()
    threads, steps = 8, 500

    def work(i: int) -> None:
        with progress.stage(f"check {i}", total=steps) as shown:
            for _ in range(steps):
                shown.advance()

    with progress.reporting(seen):
        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    last = {label: done for kind, label, done in seen.events if kind == "advance"}
    assert last == {f"check {i}": steps for i in range(threads)}
    assert sum(kind == "done" for kind, _, _ in seen.events) == threads


def test_log_lines_come_every_tenth_not_every_step() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("test-progress-log")
    logger.propagate = False
    logger.handlers = [logging.StreamHandler(stream)]
    logger.setLevel(logging.INFO)
    with (
        progress.reporting(progress.LogSink(logger)),
        progress.stage("Robustness: typos", total=1000) as shown,
    ):
        for _ in range(1000):
            shown.advance()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "Robustness: typos (1,000): started"
    assert lines[1:-1] == [
        f"Robustness: typos: {p}% (" + f"{p * 10:,}/1,000)" for p in range(10, 100, 10)
    ]
    assert lines[-1].startswith("Robustness: typos: done after ")


def test_the_cli_log_stream_is_timestamped() -> None:
    stream = io.StringIO()
    sink = progress.LogSink(progress.stream_logger(stream))
    with progress.reporting(sink), progress.stage("Loading the model"):
        pass
    first = stream.getvalue().splitlines()[0]
    hh, mm, rest = first.split(":", 2)
    assert hh.isdigit() and mm.isdigit() and rest[:2].isdigit()
    assert first.endswith("Loading the model: started")


def test_the_live_display_keeps_a_line_per_stage_with_its_outcome() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    with progress.reporting(progress.RichSink(console)):
        with progress.stage("Predicting every row", total=4) as shown:
            shown.advance(4)
        with progress.stage("Check: [bias] & <spurious>") as shown:  # markup is escaped
            shown.fail()
    text = screen.getvalue()
    assert "✓ Predicting every row" in text and "4/4" in text
    assert "1/1" not in text  # a stage of unknown size shows no count
    assert "✗ Check: [bias] & <spurious> (failed)" in text
