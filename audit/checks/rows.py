"""Per-row work that an orchestrator may spread over workers.

A check hands its heavy per-row work (attributions, predictions on perturbed copies, attacks)
to `CheckContext.map_rows` as a module-level *shard function* plus row-aligned arrays. In
process that is one call on all the rows. An orchestrator (flows/sharding.py) may instead cut
the rows into shards and run each as a task on a worker that holds its own copy of the model,
so a shard function receives the model as an argument (never a closure) and only picklable
keywords. Shards are cut on `align` boundaries (the function's batch size), so every runner
computes exactly the same batches and the results agree.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from audit.errors import SpecError
from audit.loaders.images import take_rows
from audit.loaders.model import ModelRunner

# fn(model, rows, **kwargs, **arrays): `rows` is the shard's place in the whole, `arrays`
# arrive already cut to it.
ShardFn = Callable[..., Any]

BAD_FUNCTION = "shard function {ref!r} is not an importable `module:function`."
NOT_MODULE_LEVEL = "shard function {name!r} is not defined at module level; workers import it."


class RowMapper(Protocol):
    """Runs a shard function on each slice of rows, wherever the orchestrator puts it."""

    @property
    def shards(self) -> int:
        """How many pieces the work may be cut into (read-only: a frozen dataclass fits)."""
        ...

    def __call__(
        self,
        fn: str,
        slices: Sequence[slice],
        kwargs: Mapping[str, Any],
        arrays: Mapping[str, Any],
    ) -> list[Any]:
        """One result per slice, in order; `arrays` are cut to each slice by the mapper."""
        ...


def function_ref(fn: ShardFn) -> str:
    """`package.module:function`: a name any worker can import (a closure would not pickle)."""
    if "<" in fn.__qualname__ or "." in fn.__qualname__:
        raise ValueError(NOT_MODULE_LEVEL.format(name=fn.__qualname__))
    return f"{fn.__module__}:{fn.__qualname__}"


def resolve(ref: str) -> ShardFn:
    """The function a `function_ref` names."""
    module, _, name = ref.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise SpecError(BAD_FUNCTION.format(ref=ref)) from None


def shard_slices(n: int, align: int, shards: int) -> list[slice]:
    """At most `shards` contiguous slices covering n rows, cut on multiples of `align` (so a
    sharded run batches, and so computes, exactly as an unsharded one); never an empty slice
    unless n is 0."""
    blocks = max(1, -(-n // max(1, align)))
    per = -(-blocks // max(1, shards)) * max(1, align)
    return [slice(start, min(start + per, n)) for start in range(0, max(n, 1), per)]


def cut(arrays: Mapping[str, Any], rows: slice) -> dict[str, Any]:
    """Each row-aligned array cut to one slice: what a shard function receives (image files
    undecoded: the shard decodes its own batches)."""
    return {k: take_rows(v, rows) for k, v in arrays.items()}


def run_slices(
    model: ModelRunner,
    fn: ShardFn,
    slices: Sequence[slice],
    kwargs: Mapping[str, Any],
    arrays: Mapping[str, Any],
) -> list[Any]:
    """The in-process mapper: the same calls a worker would make, one after another."""
    return [fn(model, s, **kwargs, **cut(arrays, s)) for s in slices]


def predict_slice(model: ModelRunner, rows: slice, *, batch_size: int, x: np.ndarray) -> Any:
    """Class probabilities of some rows (perturbed copies of the audit data)."""
    return model.predict_proba(x, batch_size=batch_size)
