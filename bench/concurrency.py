"""What keeping the concurrent checks apart costs: private model copies against a lock.

The checks run concurrently on one loaded model; captum's hook methods must not hook the
module other checks run (issue #16). Two ways out, measured on the text and image demos on
the `factory` route (text: LayerIntegratedGradients on an `nn.Embedding` copy of the demo
model; image: DeepLift on the demo CNN):

- copy: what the audit does (`audit.loaders.model.private_runner`): the hook method runs on
  a pooled deep copy. Cost: the copy's bytes and the deep copy's time.
- lock: the hook method holds a lock that keeps every other forward pass out (a reader-writer
  lock: forward passes share it, the hooked call holds it alone, re-entering for its own
  passes). Cost: the checks' lost concurrency.

Both run all four checks concurrently on a 4-thread pool, as the flow does; best of
`--repeat`, wall seconds (the point is concurrency). The copy cost of a ResNet-18-sized
module is added for scale.

    PYTHONPATH=. python bench/concurrency.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
import yaml
from torch import nn

from audit import pipeline
from audit.checks.spurious import attribution
from audit.demo.image import build_image_demo
from audit.demo.reviews import VOCAB, build_reviews_demo
from audit.loaders.model import ModelRunner, copy_module
from audit.paths import cache_dir


class TokenMean(nn.Module):
    """The text demo's model with an `nn.Embedding` (same state dict keys)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(VOCAB), 16, padding_idx=0)
        self.head = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = (x != 0).unsqueeze(-1).float()
        return self.head((self.embed(x) * keep).sum(1) / keep.sum(1).clamp(min=1.0))


def token_mean() -> nn.Module:
    return TokenMean()


_FACTORY = {
    "text": ("bench.concurrency:token_mean", None),
    "image": ("audit.demo.image:build_cnn", "deeplift"),
}
_SIZES = {
    "bias": {"n_boot": 200},
    "spurious": {"sample": 256, "n_boot": 200},
    "robustness": {"sample": 1000, "min_flip_sample": 100},
}


def _spec(case: str, folder: Path) -> Path:
    # the `.npz` demos, whose models have factory twins
    builders = {"image": build_image_demo, "text": build_reviews_demo}
    demo = builders[case](cache_dir() / "demo")
    spec = yaml.safe_load(demo.read_text(encoding="utf-8"))
    factory, method = _FACTORY[case]
    spec["model"].pop("path")
    spec["model"].update(factory=factory, weights=str(demo.parent / "shortcut_state.pt"))
    spec["data"]["path"] = str(demo.parent / spec["data"]["path"])
    spec["checks"]["spurious"]["method"] = method
    if "vocab" in spec["checks"]["spurious"]:
        spec["checks"]["spurious"]["vocab"] = str(demo.parent / spec["checks"]["spurious"]["vocab"])
    for check, sizes in _SIZES.items():
        spec["checks"][check] = {**(spec["checks"].get(check) or {}), **sizes}
    path = folder / f"{case}.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


class _ExclusiveLock:
    """Shared by forward passes, held alone by a hooked call (which re-enters freely)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._owner: int | None = None

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._owner != me:
                self._cond.wait_for(lambda: self._owner is None)
                self._readers += 1
        try:
            yield
        finally:
            if self._owner != me:
                with self._cond:
                    self._readers -= 1
                    self._cond.notify_all()

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self._owner is None and self._readers == 0)
            self._owner = threading.get_ident()
        try:
            yield
        finally:
            with self._cond:
                self._owner = None
                self._cond.notify_all()


@contextlib.contextmanager
def _lock_instead_of_copies() -> Iterator[None]:
    """Patch the audit to guard the shared module with `_ExclusiveLock` instead of copying."""
    lock = _ExclusiveLock()
    scores = ModelRunner.scores

    def guarded(self: ModelRunner, x: torch.Tensor) -> torch.Tensor:
        with lock.shared():
            return scores(self, x)

    @contextlib.contextmanager
    def locked(runner: ModelRunner) -> Iterator[ModelRunner]:
        with lock.alone():
            yield runner

    saved = attribution.private_runner
    ModelRunner.scores, attribution.private_runner = guarded, locked  # type: ignore[method-assign]
    try:
        yield
    finally:
        ModelRunner.scores, attribution.private_runner = scores, saved  # type: ignore[method-assign]


def _checks(spec: Path) -> tuple[float, dict[str, float]]:
    """Wall seconds of the four checks run concurrently (as the flow does), and per check."""
    loaded = pipeline.load(spec)
    predictions = pipeline.predict(loaded)
    names = list(loaded.spec.checks.enabled())
    start = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                lambda n: pipeline.measure(
                    n, pipeline.context(loaded, predictions, n), timeout=600
                ),
                names,
            )
        )
    wall = time.perf_counter() - start
    errors = [r.run.message for r in results if r.run.state != "ran"]
    assert not errors, errors
    return wall, {r.run.check: r.run.seconds for r in results}


def _copy_cost(module: nn.Module, repeat: int = 20) -> tuple[float, float]:
    """MB of parameters and buffers, and milliseconds per deep copy (best of `repeat`)."""
    size = sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        copy_module(module)
        best = min(best, time.perf_counter() - t)
    return size / 1e6, best * 1e3


def _resnet18_sized() -> nn.Module:
    """11.7 M parameters in conv layers like ResNet-18's (torchvision is not installed)."""
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 7), nn.BatchNorm2d(64)]
    for c_in, c_out, n in ((64, 64, 4), (64, 128, 4), (128, 256, 4), (256, 512, 4)):
        for i in range(n):
            layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, 1000))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in ("text", "image"):
            spec = _spec(case, Path(tmp))
            best: dict[str, tuple[float, dict[str, float]]] = {}
            for _ in range(args.repeat):  # interleaved, so machine load hits both alike
                for variant in ("copy", "lock"):
                    guard = (
                        _lock_instead_of_copies() if variant == "lock" else contextlib.nullcontext()
                    )
                    with guard:
                        wall, per = _checks(spec)
                    if variant not in best or wall < best[variant][0]:
                        best[variant] = (wall, per)
            module = pipeline.load(spec).runner.module
            mb, ms = _copy_cost(module)
            copy_wall, lock_wall = best["copy"][0], best["lock"][0]
            rows.append(
                f"| {case} ({'LayerIntegratedGradients' if case == 'text' else 'DeepLift'}) "
                f"| {copy_wall:.2f} | {lock_wall:.2f} | {lock_wall / copy_wall:.2f} "
                f"| {mb * 1e3:.1f} kB | {ms:.2f} |"
            )
    mb, ms = _copy_cost(_resnet18_sized(), repeat=5)
    rows.append(f"| ResNet-18-sized module, copy only | | | | {mb:.0f} MB | {ms:.0f} |")
    print(
        "\n".join(
            [
                f"`PYTHONPATH=. python bench/concurrency.py` on {platform.machine()}, torch "
                f"{torch.__version__}, {torch.get_num_threads()} threads, best of {args.repeat}, "
                "wall seconds of the four checks run concurrently.",
                "",
                "| demo (hook method) | checks, copies (s) | checks, lock (s) | lock / copy "
                "| copy size | one deep copy (ms) |",
                "|---|---:|---:|---:|---:|---:|",
                *rows,
            ]
        )
    )


if __name__ == "__main__":
    main()
