"""ImageNet-C style corruptions at five levels, made locally (numpy, torch, Pillow).

Parameters follow Hendrycks & Dietterich (2019), in their CIFAR-10-C setting (small images
are what an audit usually sees); blur scales with the image size, pixelate uses whole
blocks of 2 to 6 pixels (ImageNet-C's fractional resize aliases on small images). Images are
mapped from the data's value range to [0, 1], corrupted, clipped and mapped back, so shape
and range are preserved whatever the data's scale.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from audit.checks.base import CheckContext
from audit.loaders.data import Dataset
from audit.loaders.images import rows_per_batch
from audit.loaders.model import ModelRunner
from audit.records import Metric

from ._common import CHECK, MAX_EXAMPLES, PerturbationSample, outcome_metrics, rng_for
from .adversarial import AttackSpace

# Level 1..5 parameters per family.
_GAUSSIAN = (0.04, 0.06, 0.08, 0.09, 0.10)  # noise standard deviation
_SHOT = (500, 250, 100, 75, 50)  # photons per unit intensity
_IMPULSE = (0.01, 0.02, 0.03, 0.05, 0.07)  # share of salt-and-pepper pixels
_BLUR = (0.4, 0.6, 0.7, 0.8, 1.0)  # Gaussian σ in pixels at 32×32
_BRIGHTNESS = (0.05, 0.1, 0.15, 0.2, 0.3)  # added intensity
_CONTRAST = (0.75, 0.5, 0.4, 0.3, 0.15)  # kept share of the deviation from the mean
_PIXELATE = (2, 3, 4, 5, 6)  # block size in pixels
_JPEG = (80, 65, 58, 50, 40)  # JPEG quality

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def _gaussian_noise(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    return x + rng.normal(0.0, _GAUSSIAN[s - 1], x.shape)


def _shot_noise(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    c = _SHOT[s - 1]
    return rng.poisson(np.clip(x, 0, 1) * c) / c


def _impulse_noise(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(x.shape)
    amount = _IMPULSE[s - 1]
    out = x.copy()
    out[u < amount / 2] = 0.0
    out[(u >= amount / 2) & (u < amount)] = 1.0
    return out


def _gaussian_blur(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    sigma = _BLUR[s - 1] * x.shape[-1] / 32
    radius = max(1, int(np.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    n, c, h, w = x.shape
    img = torch.from_numpy(x.astype(np.float32)).reshape(n * c, 1, h, w)
    img = F.conv2d(F.pad(img, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    img = F.conv2d(F.pad(img, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1))
    return img.reshape(n, c, h, w).numpy()


def _brightness(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    return x + _BRIGHTNESS[s - 1]


def _contrast(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    mean = x.mean(axis=(2, 3), keepdims=True)
    return (x - mean) * _CONTRAST[s - 1] + mean


def _pixelate(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    """Each b×b block takes its mean. Whole blocks, unlike a fractional resize, never shift
    content, so the change grows with b at every image size."""
    b = _PIXELATE[s - 1]
    h, w = x.shape[-2:]
    img = torch.from_numpy(x.astype(np.float64))
    blocks = F.avg_pool2d(img, b, ceil_mode=True, count_include_pad=False)
    up = blocks.repeat_interleave(b, dim=2).repeat_interleave(b, dim=3)
    return up[..., :h, :w].numpy()


def _jpeg(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    """Pillow encodes one image at a time: the only per-image loop among the corruptions."""
    quality = _JPEG[s - 1]
    n, c, h, w = x.shape
    planes = np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)
    # RGB goes through the codec together; other channel counts one grey plane at a time.
    groups = planes.transpose(0, 2, 3, 1) if c == 3 else planes.reshape(n * c, h, w)
    out = np.empty_like(groups)
    for i, arr in enumerate(groups):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
        out[i] = np.asarray(Image.open(buf))
    back = out.transpose(0, 3, 1, 2) if c == 3 else out.reshape(n, c, h, w)
    return back.astype(np.float64) / 255.0


CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": _gaussian_noise,
    "shot_noise": _shot_noise,
    "impulse_noise": _impulse_noise,
    "gaussian_blur": _gaussian_blur,
    "brightness": _brightness,
    "contrast": _contrast,
    "pixelate": _pixelate,
    "jpeg": _jpeg,
}
LEVELS = (1, 2, 3, 4, 5)


def value_range(x: np.ndarray) -> tuple[float, float]:
    """The data's value range; a constant dataset gets a unit range to avoid dividing by 0."""
    lo, hi = float(x.min()), float(x.max())
    return lo, (hi if hi > lo else lo + 1.0)


def data_bounds(data: Dataset) -> tuple[float, float]:
    """The range corruptions and attacks stay in: decoded image files' [0, 1] (known without
    reading every file), else the preprocessed `.npz` images' own range."""
    return data.value_bounds or value_range(data.x)


def attack_space(bounds: tuple[float, float], like: torch.Tensor) -> AttackSpace:
    """Attacks move in units of the value range, and stay inside it."""
    lo, hi = bounds
    one = torch.ones_like(like[:1])
    return AttackSpace(shift=one * lo, scale=one * (hi - lo), lower=one * 0.0, upper=one)


def corrupt(
    x: np.ndarray,
    family: str,
    level: int,
    rng: np.random.Generator,
    value_range: tuple[float, float],
) -> np.ndarray:
    """Apply one corruption to a batch (N, C, H, W); same shape, dtype and value range."""
    lo, hi = value_range
    unit = (x.astype(np.float64) - lo) / (hi - lo)
    out = np.clip(CORRUPTIONS[family](unit, level, rng), 0.0, 1.0)
    return (out * (hi - lo) + lo).astype(x.dtype)


def corruption_metrics(clean_error: float, errors: dict[str, list[float]], n: int) -> list[Metric]:
    """Per family the mean error over levels (CE) and its rise over clean; their means.

    Without a reference model (ImageNet-C divides by AlexNet's errors) the aggregate is the
    unnormalized mean, and the relative form is taken against the model's own clean error.
    """
    out: list[Metric] = []
    for family, errs in errors.items():
        ce = float(np.mean(errs))
        out.append(Metric(check=CHECK, name="corruption_error", value=ce, perturbation=family, n=n))
        out.append(
            Metric(
                check=CHECK,
                name="relative_corruption_error",
                value=ce - clean_error,
                perturbation=family,
                n=n,
            )
        )
    mce = float(np.mean([np.mean(e) for e in errors.values()]))
    out.append(Metric(check=CHECK, name="mean_corruption_error", value=mce, n=n))
    out.append(
        Metric(check=CHECK, name="relative_mean_corruption_error", value=mce - clean_error, n=n)
    )
    return out


def _corrupt_batch(
    x: np.ndarray,
    family: str,
    level: int,
    seed: int,
    first_row: int,
    value_range: tuple[float, float],
) -> np.ndarray:
    """One batch corrupted with its own stream, fixed by its place in the sample, so any
    sharding of the sample (or a re-run of one batch) draws the same noise."""
    return corrupt(x, family, level, rng_for(seed, family, level, first_row), value_range)


def corrupt_slice(
    model: ModelRunner,
    rows: slice,
    *,
    seed: int,
    bounds: tuple[float, float],
    batch_size: int,
    x: np.ndarray,
) -> np.ndarray:
    """Shard function: decisions (families, levels, rows) under every corruption.

    Batch by batch, each corrupted every way: image files are decoded once per batch, and
    memory holds one batch (each batch's noise is fixed by its place, so the order of the
    loops changes no number)."""
    out = np.empty((len(CORRUPTIONS), len(LEVELS), len(x)), dtype=np.int64)
    step = rows_per_batch(x, batch_size)
    for start in range(0, len(x), step):
        end = start + step
        clean = x[start:end]
        for f, family in enumerate(CORRUPTIONS):
            for j, s in enumerate(LEVELS):
                chunk = _corrupt_batch(clean, family, s, seed, rows.start + start, bounds)
                out[f, j, start:end] = model.decide(model.predict_proba(chunk, step))
    return out


def _example(
    sample: PerturbationSample,
    pred_after: np.ndarray,
    family: str,
    s: int,
    seed: int,
    batch: int,
    bounds: tuple[float, float],
) -> dict[str, Any] | None:
    """The first input whose decision the corruption flipped, as report evidence (its batch
    corrupted again here, from the same stream)."""
    flips = np.flatnonzero(pred_after != sample.pred)
    if not len(flips):
        return None
    i = int(flips[0])
    first = i // batch * batch
    chunk = _corrupt_batch(sample.x[first : first + batch], family, s, seed, first, bounds)
    return {
        "before": sample.x[i],
        "after": chunk[i - first],
        "pred": int(sample.pred[i]),
        "pred_after": int(pred_after[i]),
        "perturbation": family,
        "level": s,
    }


def measure_image(
    ctx: CheckContext, sample: PerturbationSample
) -> tuple[list[Metric], dict[str, Any]]:
    """Every corruption at every level, corrupted and scored in batches (sharded over
    workers when an orchestrator provides them).

    Evidence keeps one flipped image per family, at the lowest level that flips one.
    """
    bounds = data_bounds(ctx.data)
    batch = ctx.config.batch_size
    parts = ctx.map_rows(
        corrupt_slice,
        len(sample.y),
        align=batch,
        kwargs={"seed": ctx.seed, "bounds": bounds, "batch_size": batch},
        arrays={"x": sample.x},
    )
    decisions = np.concatenate(parts, axis=2)
    metrics: list[Metric] = []
    errors: dict[str, list[float]] = {}
    examples: dict[str, dict[str, Any]] = {}
    for f, family in enumerate(CORRUPTIONS):
        for j, s in enumerate(LEVELS):
            pred_after = decisions[f, j]
            if family not in examples:
                found = _example(sample, pred_after, family, s, ctx.seed, batch, bounds)
                if found is not None:
                    examples[family] = found
            metrics += outcome_metrics(
                sample, pred_after, ctx.confidence, perturbation=family, level=s
            )
            errors.setdefault(family, []).append(float((pred_after != sample.y).mean()))
    clean_error = float((sample.pred != sample.y).mean())
    metrics += corruption_metrics(clean_error, errors, len(sample.y))
    evidence = {
        "flipped_images": list(examples.values())[:MAX_EXAMPLES],
        "value_range": list(bounds),
    }
    return metrics, evidence
