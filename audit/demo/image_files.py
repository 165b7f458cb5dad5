"""The image-files demo: a Hugging Face vision model that learned a corner tag, audited on PNGs.

What a team ships for an image model: a `save_pretrained` folder (config.json,
model.safetensors, preprocessor_config.json) and a folder of image files listed in a CSV
manifest. The images are scikit-learn's bundled 8x8 digits (no download; the split, the task
"is the digit 5 or more?" and the `ink` attribute of `audit.demo.image`), upsampled to 32x32
with Pillow (bilinear) and saved as RGB PNGs. Each comes from one of two scanners (`site`,
drawn independently of the label); scanner-b tints the ink slightly blue, so the bias check
has a second attribute with a real, label-independent shift.

The shortcut: a white 4x4 tag in the top-left corner (raw pixels, rows 0-3 and cols 0-3) on
every positive image, in training and in the holdout, like a scanner stamp that happens to
mark one class. The shortcut model learns the tag; the control model is trained on images
where the tag falls on a random half, independent of the label. The holdout the audit sees is
tagged like the shortcut's training data, so both models look accurate on it.

Both models are trained on exactly what the audit feeds them: each PNG read back from disk,
decoded by Pillow to RGB in [0, 1], then normalized with the mean and std of the image
processor saved beside the model (its resize is to the images' own size, a no-op).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn

from audit.demo import _export, image
from audit.demo._export import cache_key, seeded, train
from audit.fsio import write_atomic

Arch = Literal["resnet", "vit"]
SIZE = 32
REGION = (0, 0, 4, 4)  # [row, col, height, width] in raw canvas pixels
TAG = 255  # white: the probe's value 1.0 after decoding
MEAN = STD = 0.5  # the image processor's normalization, on every channel
SITES = {"scanner-a": (1.0, 1.0, 1.0), "scanner-b": (0.85, 0.92, 1.0)}  # per-channel ink gain
# Adam settings per architecture: the ResNet's batch norm takes the shared rate; the small ViT
# needs a lower rate and more, smaller steps to learn the digits (0.85 holdout accuracy at
# 3e-3 and batch 64 against 0.95 here).
_TRAINING: dict[str, dict[str, Any]] = {
    "resnet": {"epochs": 20, "lr": 1e-2, "batch": 64},
    "vit": {"epochs": 40, "lr": 5e-4, "batch": 16},
}


class _Logits(nn.Module):
    """A Hugging Face image classifier as `_export.train` drives it: pixels in, logits out."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.model(pixel_values=x).logits
        return logits


def build_classifier(arch: Arch) -> nn.Module:
    """An untrained two-class Hugging Face classifier for 32x32 RGB images."""
    from transformers import (
        ResNetConfig,
        ResNetForImageClassification,
        ViTConfig,
        ViTForImageClassification,
    )

    if arch == "vit":
        return ViTForImageClassification(
            ViTConfig(
                image_size=SIZE,
                patch_size=4,
                num_channels=3,
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=64,
                num_labels=2,
            )
        )
    return ResNetForImageClassification(
        ResNetConfig(
            num_channels=3,
            embedding_size=16,
            hidden_sizes=[16, 32],
            depths=[1, 1],
            layer_type="basic",
            num_labels=2,
        )
    )


def image_processor() -> Any:
    """The preprocessing saved beside each model: rescale to [0, 1], normalize with MEAN, STD."""
    from transformers import ViTImageProcessorPil

    return ViTImageProcessorPil(
        size={"height": SIZE, "width": SIZE},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=[MEAN] * 3,
        image_std=[STD] * 3,
    )


def canvases(x: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """8x8 digits in [0, 1] (N, 1, 8, 8) as 32x32 RGB uint8 canvases (N, 32, 32, 3), each
    tinted by its scanner."""
    out = np.empty((len(x), SIZE, SIZE, 3), dtype=np.uint8)
    for i, (digit, site) in enumerate(zip(x, sites, strict=True)):
        small = Image.fromarray(np.round(digit[0] * 255).astype(np.uint8))
        gray = np.asarray(small.resize((SIZE, SIZE), Image.Resampling.BILINEAR), np.float32)
        out[i] = np.round(gray[..., None] * np.asarray(SITES[str(site)])).astype(np.uint8)
    return out


def stamp(canvas: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """A copy of the canvases with the white tag in the corner of the given rows."""
    out = canvas.copy()
    r, c, h, w = REGION
    out[rows, r : r + h, c : c + w] = TAG
    return out


def decode(path: Path) -> np.ndarray:
    """One image file as the audit decodes it: RGB, float in [0, 1], (3, H, W)."""
    with Image.open(path) as img:
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return rgb.transpose(2, 0, 1)


def _write_images(folder: Path, subset: str, canvas: np.ndarray) -> list[str]:
    """Save canvases as `images/<subset>/NNNNN.png`; return their paths relative to `folder`."""
    paths = []
    for i, pixels in enumerate(canvas):
        rel = f"images/{subset}/{i:05d}.png"
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG")
        write_atomic(folder / rel, buf.getvalue())
        paths.append(rel)
    return paths


@contextmanager
def _deterministic() -> Iterator[None]:
    """torch's deterministic algorithms for the block, the caller's setting restored after."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def _train_folder(
    folder: Path, name: str, paths: list[str], labels: np.ndarray, arch: Arch, seed: int
) -> None:
    """Train a classifier on the PNGs as decoded from disk; save it and its processor in
    `folder/name`."""
    x = torch.as_tensor(np.stack([decode(folder / p) for p in paths]))
    classifier: Any = seeded(seed, lambda: build_classifier(arch))
    with _deterministic():
        train(
            _Logits(classifier),
            (x - MEAN) / STD,
            torch.as_tensor(labels),
            seed=seed,
            **_TRAINING[arch],
        )
    classifier.save_pretrained(folder / name)
    image_processor().save_pretrained(folder / name)


def _spec_text(seed: int, model: str, arch: Arch) -> str:
    r = list(REGION)
    return f"""\
# Demo audit: a Hugging Face {arch} digit classifier (is the digit >= 5?) judging PNG files.
# Its training images carried a white corner tag on every positive; the patch probe asks
# whether the model relies on that tag. See audit/demo/image_files.py.
name: digits-files-{model}
model:
  path: {model}/
  format: huggingface
  modality: image
  task: binary
data:
  path: holdout.csv
  image: path
  label: label
  sensitive: [ink, site]
checks:
  bias:
    n_boot: 200
  spurious:
    method: saliency
    probes:
      - {{type: patch, region: {r}, value: {TAG / 255:.1f}, name: corner-tag}}
    sample: 150
    n_boot: 200
    location_nulls: 4
    examples: 2
  robustness:
    sample: 200
    epsilon: 0.1
    pgd_steps: 5
    min_flip_sample: 40
  performance: {{}}
policy: default
seed: {seed}
"""


def build_image_files_demo(cache_dir: Path, seed: int = 0, arch: Arch = "resnet") -> Path:
    """Write (once) the PNGs and their manifests, train both model folders and write the specs;
    return the shortcut model's spec (`audit.yaml`; the control's is `audit-control.yaml`)."""
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a demo's first run shows its own status line
    sources = (Path(__file__), Path(_export.__file__), Path(image.__file__))
    key = cache_key(seed, *sources, extra=f";transformers={transformers.__version__}")
    folder = Path(cache_dir) / f"digits-files-{arch}-{key}"
    spec_path = folder / "audit.yaml"
    if spec_path.is_file():
        return spec_path
    d = image.digits(seed)
    rng = np.random.default_rng(seed + 1)
    sites = np.asarray(list(SITES))
    site_train = rng.choice(sites, len(d["y_train"]))
    site_test = rng.choice(sites, len(d["y_test"]))
    train_canvas = canvases(d["x_train"], site_train)
    tagged = {"shortcut": d["y_train"] == 1, "control": rng.random(len(d["y_train"])) < 0.5}
    for name, rows in tagged.items():
        paths = _write_images(folder, f"train-{name}", stamp(train_canvas, np.flatnonzero(rows)))
        train_manifest = pd.DataFrame({"path": paths, "label": d["y_train"], "site": site_train})
        write_atomic(folder / f"train-{name}.csv", train_manifest.to_csv(index=False))
        _train_folder(folder, name, paths, d["y_train"], arch, seed)
    holdout = stamp(canvases(d["x_test"], site_test), np.flatnonzero(d["y_test"] == 1))
    manifest = pd.DataFrame(
        {
            "path": _write_images(folder, "holdout", holdout),
            "label": d["y_test"],
            "ink": d["ink_test"],
            "site": site_test,
        }
    )
    write_atomic(folder / "holdout.csv", manifest.to_csv(index=False))
    write_atomic(folder / "audit-control.yaml", _spec_text(seed, "control", arch))
    write_atomic(spec_path, _spec_text(seed, "shortcut", arch))
    return spec_path
