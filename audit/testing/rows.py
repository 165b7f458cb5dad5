"""A row mapper that behaves like remote workers: sharding must change no measurement.

Each shard runs in a thread pool on its own deep copy of the model (a worker loads its own),
with the function sent by name and every argument pickled and unpickled, as Dask would.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from audit.checks.rows import cut, resolve
from audit.loaders.model import ModelRunner


@dataclass
class WorkerLikeRows:
    model: ModelRunner
    shards: int = 3
    calls: list[tuple[str, int]] = field(default_factory=list)  # (function, number of shards)

    def __call__(
        self,
        fn: str,
        slices: Sequence[slice],
        kwargs: Mapping[str, Any],
        arrays: Mapping[str, Any],
    ) -> list[Any]:
        self.calls.append((fn, len(slices)))
        workers = [copy.deepcopy(self.model) for _ in range(2)]

        def run(i: int, rows: slice) -> Any:
            wire = pickle.dumps((fn, rows, dict(kwargs), cut(arrays, rows)))
            name, rows, kw, arr = pickle.loads(wire)
            return pickle.loads(pickle.dumps(resolve(name)(workers[i % 2], rows, **kw, **arr)))

        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(run, range(len(slices)), slices))
