"""Timing shared by the benches (run as `python bench/<name>.py`, so this folder is on the path)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Best:
    """A function's best wall time and best process CPU time (all threads), in seconds.

    Both, because on shared cores wall time swings with the other jobs while CPU time does
    not, and a pipeline that spreads work over threads shows its gain in wall time only."""

    wall: float
    cpu: float


def best_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, Best]:
    """Best wall and CPU time of each function, the runs interleaved so load drift hits all
    alike (each clock's best may come from a different run)."""
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[key].append(time.perf_counter() - start)
            cpu[key].append(time.process_time() - start_cpu)
    return {k: Best(min(wall[k]), min(cpu[k])) for k in fns}


def best_of(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best wall time of each function, the runs interleaved so load drift hits all alike."""
    return {k: t.wall for k, t in best_times(fns, repeats).items()}
