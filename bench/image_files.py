"""Image files through the audit's path: throughput against raw inference, memory as sets grow.

1. Throughput (issue #18's goal: >= 0.8). The audit's path on PNG files: a manifest loaded by
   `load_dataset`, the model by `load_runner` (so the model's preprocessing, resize 256 ->
   centre crop 224 -> ImageNet mean/std, runs inside it), then per batch of 64: decode the
   rows (`ImageFiles`), apply one corruption at one level (`image.corrupt`) and score
   (`ModelRunner.predict_proba`). Against it, in the same run: the same network (a ResNet-18
   written here in plain torch.nn; torchvision is not installed) on the same images already
   in memory as preprocessed 224x224 tensors, same batches. Ratio = raw time / audit-path
   time. Each image is decoded for one scoring only: the robustness check itself decodes
   each batch of its sample once and scores it 40 times (8 corruptions x 5 levels), so
   there decoding weighs far less. The stages of the audit path are timed on their own in the same
   interleaved run, to show where its extra time goes.
2. Memory. The streaming prediction pass (`load_dataset` + `load_runner` + `predict_proba`
   over every row, batch 64) on 224x224 PNGs, each set size in a fresh process: its peak RSS,
   and the growth per 1,000 images. The network is a tiny CNN, because memory is measured
   here, not speed (a ResNet-18 would need ~10 minutes per 10,000 images on one core).

The images are written once into a cache folder (`--cache`) and reused: smooth multi-scale
noise, a gradient and a little grain, so the PNGs compress about as photos do. Times are best
of `--repeat` interleaved runs, wall and process CPU seconds (CPU: all threads, Pillow's decode
threads included), with `--threads` torch intra-op threads.

    PYTHONPATH=. python bench/image_files.py [--images 192] [--repeat 3]
        [--sizes 1000 5000 10000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _timing import Best, best_times
from PIL import Image
from torch import nn

from audit.loaders.data import load_dataset
from audit.loaders.images import ImageFiles
from audit.loaders.model import ModelRunner, load_runner
from audit.spec import DataSpec, ModelSpec

BATCH = 64
CLASSES = 10
LEVEL = 3  # the corruption level timed (1 mildest, 5 harshest)
PREPROCESSING = {
    "resize": 256,
    "center_crop": 224,
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}
CACHE = Path(tempfile.gettempdir()) / "audit-bench-image-files"
FACTORIES = Path(__file__).stem  # this file, importable by `model.factory` (bench/ on the path)


# --- the networks ------------------------------------------------------------------------


class _Block(nn.Module):
    """ResNet's basic block: two 3x3 convolutions and the identity (or a 1x1 projection)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.down(x))


def resnet18() -> nn.Module:
    """torchvision's ResNet-18 layout (11.2M parameters at 10 classes), seeded weights: the
    cost of a pass does not depend on them."""
    torch.manual_seed(0)
    layers: list[nn.Module] = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [_Block(cin, cout, stride), _Block(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, CLASSES)]
    return nn.Sequential(*layers)


def tiny_net() -> nn.Module:
    """For the memory series: a strided convolution and a linear head."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 5, stride=4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, CLASSES),
    )


# --- the image files ---------------------------------------------------------------------


def picture(i: int, height: int, width: int) -> np.ndarray:
    """Image `i` as (H, W, 3) uint8: noise at three scales, smoothly upsampled, a gradient,
    and a little grain (so neighbouring pixels correlate, and PNG compresses, as in photos)."""
    rng = np.random.default_rng([20260118, i])
    out = np.zeros((height, width, 3), dtype=np.float32)
    for cells, weight in ((3, 0.45), (10, 0.3), (40, 0.15)):
        coarse = Image.fromarray(rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8))
        out += weight * np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC))
    out += 0.1 * 255 * np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    out += rng.normal(0.0, 2.0, out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class ImageSet:
    """One kind of image files in the cache: how big each file is, and the canvas they are
    decoded on (`data.image_size`; None: the files' own common size)."""

    name: str
    size: Callable[[int], tuple[int, int]]  # image index -> (height, width) on disk
    canvas: tuple[int, int] | None

    def manifest(self, root: Path, n: int) -> Path:
        """A manifest of images 0..n-1, writing the files not cached yet (each atomically:
        an interrupted run leaves no truncated PNG behind)."""
        folder = root / self.name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            path = folder / f"{i:05d}.png"
            if not path.exists():
                partial = path.with_suffix(".part")
                Image.fromarray(picture(i, *self.size(i))).save(partial, format="PNG")
                os.replace(partial, path)
        manifest = folder / f"manifest-{n}.csv"
        frame = pd.DataFrame({"file": [f"{i:05d}.png" for i in range(n)]})
        frame.assign(y=np.arange(n) % CLASSES).to_csv(manifest, index=False)
        return manifest

    def bytes_per_image(self, root: Path, n: int) -> tuple[float, float]:
        """Mean file size, and its share of the raw RGB bytes."""
        files = [root / self.name / f"{i:05d}.png" for i in range(n)]
        sizes = [f.stat().st_size for f in files]
        raw = [3 * h * w for h, w in map(self.size, range(n))]
        return float(np.mean(sizes)), sum(sizes) / sum(raw)


def _varied(i: int) -> tuple[int, int]:
    """Photo-like sizes: each side 256-400 pixels, from the image's own seed."""
    height, width = np.random.default_rng([7, i]).integers(256, 401, 2)
    return int(height), int(width)


THROUGHPUT_SETS = (
    ImageSet("varied-288", _varied, (288, 288)),
    ImageSet("256", lambda i: (256, 256), None),
)
MEMORY_SET = ImageSet("224", lambda i: (224, 224), None)


def load(
    manifest: Path, canvas: tuple[int, int] | None, factory: str
) -> tuple[ImageFiles, ModelRunner]:
    """The files and the model, through the audit's own loaders."""
    data_spec = DataSpec(
        path=manifest,
        image="file",
        label="y",
        image_size=list(canvas) if canvas else None,
    )
    model_spec = ModelSpec(
        factory=f"{FACTORIES}:{factory}",
        task="multiclass",
        modality="image",
        preprocessing=PREPROCESSING,
    )
    data = load_dataset(data_spec, model_spec)
    assert isinstance(data.x, ImageFiles)
    return data.x, load_runner(model_spec, data)


# --- 1. throughput -----------------------------------------------------------------------


def _batches(n: int) -> list[slice]:
    return [slice(start, min(start + BATCH, n)) for start in range(0, n, BATCH)]


def throughput(
    root: Path, image_set: ImageSet, n: int, family: str, repeat: int
) -> dict[str, Best]:
    """The audit path and raw inference on `n` images of one set, with the audit path's stages
    timed alone on the same batches, all in one interleaved run."""
    # here, not at the top: the memory children need only the loaders (captum and scipy,
    # which the robustness check imports, would add seconds to each child's start)
    from audit.checks.robustness.image import CORRUPTIONS, corrupt

    files, runner = load(image_set.manifest(root, n), image_set.canvas, "resnet18")
    preprocess = runner.preprocess
    assert preprocess is not None
    bare = replace(runner, module=runner.module.net)  # the network alone, no preprocessing
    bounds = (0.0, 1.0)  # decoded image files (`Dataset.value_bounds`)
    batches = _batches(n)

    def corrupted(rows: slice, x: np.ndarray) -> np.ndarray:
        return corrupt(x, family, LEVEL, np.random.default_rng(rows.start), bounds)

    decoded = [files[rows] for rows in batches]
    hurt = [corrupted(rows, x) for rows, x in zip(batches, decoded, strict=True)]
    with torch.no_grad():
        ready = np.concatenate([preprocess(torch.from_numpy(x)).numpy() for x in hurt])

    def audit_path() -> None:
        for rows in batches:
            runner.predict_proba(corrupted(rows, files[rows]), BATCH)

    def decode() -> None:
        for rows in batches:
            files[rows]

    def corruption() -> None:
        for rows, x in zip(batches, decoded, strict=True):
            corrupted(rows, x)

    def preprocessing() -> None:
        with torch.no_grad():
            for x in hurt:
                preprocess(torch.from_numpy(x))

    def family_on_first_batch(name: str) -> Callable[[], object]:
        return lambda: corrupt(decoded[0], name, LEVEL, np.random.default_rng(0), bounds)

    return best_times(
        {
            "audit": audit_path,
            "raw": lambda: bare.predict_proba(ready, BATCH),
            "decode": decode,
            "corrupt": corruption,
            "preprocess": preprocessing,
            **{f"family {name}": family_on_first_batch(name) for name in CORRUPTIONS},
        },
        repeat,
    )


def throughput_table(root: Path, n: int, family: str, repeat: int) -> tuple[list[str], float]:
    """Markdown rows of both image sets; the lowest CPU ratio."""
    rows = [
        f"ResNet-18 (plain torch.nn, 11.2M parameters), {n} images, batch {BATCH}, "
        f"corruption `{family}` at level {LEVEL}; preprocessing resize 256 -> centre crop "
        f"224 -> ImageNet mean/std inside the model. Best of {repeat}.",
        "",
        "| files on disk | canvas | PNG KB (share of raw) | audit path: CPU s (wall) "
        "| raw inference: CPU s (wall) | images/CPU s audit / raw | ratio CPU (goal >= 0.8) "
        "| ratio wall |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    stages = [
        "",
        "Where the audit path's time goes (each stage timed alone on the same batches, CPU s; "
        "the network is the raw inference):",
        "",
        "| files on disk | decode (Pillow, threads) | corrupt | preprocess (resize, crop, "
        "normalize) | network | sum | audit path |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    families: list[str] = []
    worst = np.inf
    for image_set in THROUGHPUT_SETS:
        best = throughput(root, image_set, n, family, repeat)
        if not families:
            names = [k.removeprefix("family ") for k in best if k.startswith("family ")]
            families += [
                "",
                f"Each corruption at level {LEVEL} on the first batch ({min(n, BATCH)} "
                "images on the canvas), against the network's pass, CPU ms per image:",
                "",
                "| files on disk | network | " + " | ".join(names) + " |",
                "|---|" + "---:|" * (len(names) + 1),
            ]
        audit, raw = best["audit"], best["raw"]
        kb, share = image_set.bytes_per_image(root, n)
        canvas = "x".join(map(str, image_set.canvas)) if image_set.canvas else "files' own"
        label = "256-400 px a side" if image_set.canvas else "256x256"
        ratio = raw.cpu / audit.cpu
        worst = min(worst, ratio)
        rows.append(
            f"| {label} | {canvas} | {kb / 1024:.0f} ({share:.0%}) | {audit.cpu:.2f} "
            f"({audit.wall:.2f}) | {raw.cpu:.2f} ({raw.wall:.2f}) | {n / audit.cpu:.1f} / "
            f"{n / raw.cpu:.1f} | {ratio:.2f} | {raw.wall / audit.wall:.2f} |"
        )
        parts = [best[k].cpu for k in ("decode", "corrupt", "preprocess", "raw")]
        stages.append(
            f"| {label} | " + " | ".join(f"{p:.2f}" for p in parts) + f" | {sum(parts):.2f} "
            f"| {audit.cpu:.2f} |"
        )
        per_image = [best[k].cpu / min(n, BATCH) for k in best if k.startswith("family ")]
        families.append(
            f"| {label} | {raw.cpu / n * 1e3:.1f} | "
            + " | ".join(f"{t * 1e3:.1f}" for t in per_image)
            + " |"
        )
    return rows + stages + families, worst


# --- 2. memory ---------------------------------------------------------------------------


def _peak_mb() -> float:
    """This process's peak RSS so far (Linux `VmHWM`). Not `getrusage`'s `ru_maxrss`: Linux
    carries that over fork and exec, so a child would start at the parent's RSS."""
    status = Path("/proc/self/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024  # kB


def memory_child(manifest: Path) -> None:
    """One streaming prediction pass over every listed image; prints its figures as JSON."""
    imports = _peak_mb()
    start = time.perf_counter()
    files, runner = load(manifest, None, "tiny_net")
    loaded, load_s = _peak_mb(), time.perf_counter() - start
    start = time.perf_counter()
    proba = runner.predict_proba(files, BATCH)
    assert proba.shape == (len(files), CLASSES)
    figures = {
        "images": len(files),
        "imports_mb": imports,
        "loaded_mb": loaded,
        "peak_mb": _peak_mb(),
        "load_s": load_s,
        "predict_s": time.perf_counter() - start,
    }
    print(json.dumps(figures))


def memory_table(root: Path, sizes: list[int], threads: int) -> tuple[list[str], float]:
    """Markdown rows, one fresh process per set size; the largest set's peak RSS in MB."""
    for n in sizes:  # write the files first, so no child's timing includes it
        MEMORY_SET.manifest(root, n)
    runs = []
    for n in sizes:
        child = [
            sys.executable,
            __file__,
            "--memory-child",
            str(root / MEMORY_SET.name / f"manifest-{n}.csv"),
        ]
        done = subprocess.run(
            [*child, "--threads", str(threads)], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    rows = [
        f"Streaming prediction pass over 224x224 PNGs (`load_dataset` + `load_runner` + "
        f"`predict_proba`, batch {BATCH}), a tiny CNN behind the same preprocessing, a fresh "
        "process per set.",
        "",
        "| images | peak RSS (MB) | after imports (MB) | after loading (MB) | peak - imports (MB) "
        "| load + file check (s) | prediction pass (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        rows.append(
            f"| {run['images']:,} | {run['peak_mb']:.0f} | {run['imports_mb']:.0f} | "
            f"{run['loaded_mb']:.0f} | {run['peak_mb'] - run['imports_mb']:.0f} | "
            f"{run['load_s']:.1f} | {run['predict_s']:.1f} |"
        )
    first, last = runs[0], runs[-1]
    per_k = (last["peak_mb"] - first["peak_mb"]) / ((last["images"] - first["images"]) / 1000)
    rows += [
        "",
        f"Peak RSS growth: {per_k:+.1f} MB per 1,000 images "
        f"({first['images']:,} -> {last['images']:,}).",
    ]
    return rows, float(last["peak_mb"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=192, help="images in the throughput run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--sizes", type=int, nargs="+", default=[1000, 5000, 10000], help="memory series"
    )
    ap.add_argument("--family", default="gaussian_noise", help="the corruption timed")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--cache", type=Path, default=CACHE, help="folder the PNGs are cached in")
    ap.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, one repeat")
    ap.add_argument("--memory-child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child is not None:
        memory_child(args.memory_child)
        return
    if args.quick:
        args.images, args.repeat, args.sizes = 8, 1, [16, 48]
    start = time.perf_counter()
    speed, ratio = throughput_table(args.cache, args.images, args.family, args.repeat)
    memory, peak = memory_table(args.cache, args.sizes, args.threads)
    print(
        f"`PYTHONPATH=. python bench/image_files.py{' --quick' if args.quick else ''}` on "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch thread(s); "
        f"1-minute load average {os.getloadavg()[0]:.1f} at the end.\n"
    )
    print("\n".join([*speed, "", *memory, ""]))
    print(f"Lowest throughput ratio (CPU): {ratio:.2f} (goal >= 0.8).")
    print(f"Peak RSS at {args.sizes[-1]:,} images: {peak:.0f} MB (goal < 2048 MB at 10,000).")
    print(f"Bench wall time: {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
