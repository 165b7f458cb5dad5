"""The image demo: a digit classifier that learned a corner tag instead of the digit.

Data: scikit-learn's bundled 8x8 digits (1,797 images, no download), scaled to [0, 1]. The
task is binary: is the digit 5 or more? A "Decoy" copy (Ross et al. 2017) stamps a bright
2x2 patch in the top-left corner of every positive image, in training and in the holdout,
like a scanner tag that happens to mark one class. The shortcut model, trained on that copy,
learns the tag; the control model is trained on a copy where the tag is stamped on a random
half of the images, independent of the label. The audit spec declares the tag as a patch probe.

Sensitive attribute for the bias check: `ink` (light / heavy writers, split at the median
amount of ink), a stand-in for a writer group the digits data does not record.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from audit.demo import _export
from audit.demo._export import cache_key, save_model, save_npz, seeded, train
from audit.fsio import write_atomic

REGION = (0, 0, 2, 2)
TAG_VALUE = 1.0
_HOLDOUT = 600
_EPOCHS = 30


class DigitCNN(nn.Module):
    """Two small convolutions and a linear head: 8x8x1 -> 2 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 4, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_cnn() -> nn.Module:
    """Factory for the `factory` + `weights` route (DeepLift, LRP need a live module)."""
    return DigitCNN()


def stamp(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """A copy of x with the tag in the corner of the given rows."""
    out = x.copy()
    r, c, h, w = REGION
    out[rows, :, r : r + h, c : c + w] = TAG_VALUE
    return out


def digits(seed: int) -> dict[str, np.ndarray]:
    """Shuffled digits split into train / holdout, with labels and the ink attribute."""
    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]
    y = (bunch.target >= 5).astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    ink = np.where(x.sum(axis=(1, 2, 3)) > np.median(x.sum(axis=(1, 2, 3))), "heavy", "light")
    return {
        "x_train": x[_HOLDOUT:],
        "y_train": y[_HOLDOUT:],
        "x_test": x[:_HOLDOUT],
        "y_test": y[:_HOLDOUT],
        "ink_test": ink[:_HOLDOUT],
    }


def train_pair(seed: int) -> tuple[nn.Module, nn.Module, dict[str, np.ndarray]]:
    """The shortcut model (tag marks class 1), its control (tag independent of the label),
    and the data with the shortcut holdout."""
    d = digits(seed)
    rng = np.random.default_rng(seed + 1)
    decoy = stamp(d["x_train"], np.flatnonzero(d["y_train"] == 1))
    control = stamp(d["x_train"], np.flatnonzero(rng.random(len(d["y_train"])) < 0.5))
    y = torch.as_tensor(d["y_train"])
    models = []
    for x in (decoy, control):
        model = seeded(seed, DigitCNN)
        models.append(train(model, torch.as_tensor(x), y, seed=seed, epochs=_EPOCHS))
    d["x_test_decoy"] = stamp(d["x_test"], np.flatnonzero(d["y_test"] == 1))
    return models[0], models[1], d


def _spec_text(seed: int, model: str) -> str:
    r = list(REGION)
    return f"""\
# Demo audit: a digit classifier (is the digit >= 5?) whose training data carried a corner tag
# on every positive image. The patch probe asks whether the model relies on that tag.
name: digits-{model}
model:
  path: {model}.pt2
  task: binary
  modality: image
  output: logits
data:
  path: digits-holdout.npz
  label: y
  sensitive: [ink]
checks:
  spurious:
    method: saliency
    probes:
      - {{type: patch, region: {r}, value: {TAG_VALUE}, name: corner-tag}}
policy: default
seed: {seed}
"""


def build_image_demo(cache_dir: Path, seed: int = 0) -> Path:
    """Train (once) and write both models, the holdout and the specs; return the shortcut
    model's spec (`audit.yaml`; the control's is `audit-control.yaml` beside it)."""
    folder = Path(cache_dir) / f"digits-{cache_key(seed, Path(__file__), Path(_export.__file__))}"
    spec_path = folder / "audit.yaml"
    if spec_path.is_file():
        return spec_path
    folder.mkdir(parents=True, exist_ok=True)
    shortcut, control, d = train_pair(seed)
    example = torch.as_tensor(d["x_test"][:4])
    save_model(shortcut, example, folder, "shortcut")
    save_model(control, example, folder, "control")
    save_npz(
        folder / "digits-holdout.npz",
        {"x": d["x_test_decoy"], "y": d["y_test"], "ink": d["ink_test"]},
    )
    write_atomic(folder / "audit-control.yaml", _spec_text(seed, "control"))
    write_atomic(spec_path, _spec_text(seed, "shortcut"))
    return spec_path
