"""Regenerate the inputs of the example audits: `python examples/build.py` (from the repo root).

Each modality's folder holds a commented `audit.yaml` (written by hand, not by this script)
and the small inputs it audits, which this script rebuilds deterministically (fixed seeds,
fixed batch order, one thread) with the same training code as `audit demo`:

- `tabular/`: an income MLP trained on the UCI Adult training split (bundled in
  `audit/demo/data/`, attribution in `audit/demo/data/ATTRIBUTION.md`), exported with
  torch.export, and 600 rows drawn with a fixed seed from the Adult test split, encoded as the
  model reads them.
- `image/`: a small CNN trained on scikit-learn's bundled 8x8 digits, where a corner tag marks
  every positive training image (the shortcut the audit should find), and 300 held-out images
  that carry the same tag.
- `image-files/`: the image demo's Hugging Face ResNet folder (shortcut model: it learned a
  corner tag that marks every positive training image) and 150 of its held-out PNG files
  with their CSV manifest, the route a user takes with images on disk.
- `text/`: an EmbeddingBag sentiment model trained on a synthetic review corpus in which a
  pipeline token marks most positive reviews, 300 held-out reviews and the vocabulary.

Run it after changing the demo's training code (`audit/demo/`), then rerun the examples'
test (`pytest tests/integration/test_examples.py`). The inputs are committed so that the
examples run without training anything; the whole set stays under a few hundred KB.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout, without installing

from audit.demo import adult, image, image_files, reviews  # noqa: E402
from audit.demo._export import save_npz  # noqa: E402
from audit.fsio import write_atomic  # noqa: E402

SEED = 0
TABULAR_ROWS = 600
IMAGE_ROWS = 300
IMAGE_FILES_ROWS = 150
TEXT_ROWS = 300


def _export(model: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    """A torch.export archive with a dynamic batch dimension, written atomically."""
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    tmp = path.with_name(f".{path.stem}.partial.pt2")
    torch.export.save(program, str(tmp))
    tmp.replace(path)


def build_tabular(folder: Path) -> None:
    train, test = adult.read_adult("train"), adult.read_adult("test")
    vocab = adult.vocabularies(train)
    model = adult.train_model(train, vocab, SEED)
    rows = np.sort(np.random.default_rng(SEED).choice(len(test), TABULAR_ROWS, replace=False))
    sample = adult.encode(test.iloc[rows].reset_index(drop=True), vocab)
    example = torch.tensor(sample[adult.FEATURES].to_numpy(np.float32)[:8])
    _export(model, example, folder / "model.pt2")
    write_atomic(folder / "adult-sample.csv", sample.to_csv(index=False))


def build_image(folder: Path) -> None:
    shortcut, _control, d = image.train_pair(SEED)
    n = IMAGE_ROWS
    _export(shortcut, torch.as_tensor(d["x_test"][:4]), folder / "model.pt2")
    save_npz(
        folder / "digits-sample.npz",
        {"x": d["x_test_decoy"][:n], "y": d["y_test"][:n], "ink": d["ink_test"][:n]},
    )


def build_image_files(folder: Path) -> None:
    with tempfile.TemporaryDirectory() as cache:
        demo = image_files.build_image_files_demo(Path(cache), SEED).parent
        holdout = pd.read_csv(demo / "holdout.csv").iloc[:IMAGE_FILES_ROWS]
        shutil.rmtree(folder / "model", ignore_errors=True)
        shutil.copytree(demo / "shortcut", folder / "model")
        shutil.rmtree(folder / "images", ignore_errors=True)
        (folder / "images").mkdir()
        paths = []
        for rel in holdout["path"]:
            name = Path(rel).name
            shutil.copyfile(demo / rel, folder / "images" / name)
            paths.append(f"images/{name}")
    write_atomic(folder / "holdout.csv", holdout.assign(path=paths).to_csv(index=False))


def build_text(folder: Path) -> None:
    shortcut, _control, holdout = reviews.train_pair(SEED)
    n = TEXT_ROWS
    _export(shortcut, torch.as_tensor(holdout["x"][:4]), folder / "model.pt2")
    save_npz(folder / "reviews-sample.npz", {k: v[:n] for k, v in holdout.items()})
    write_atomic(folder / "vocab.txt", "\n".join(reviews.VOCAB) + "\n")


def main() -> int:
    torch.set_num_threads(1)
    builds = (
        ("tabular", build_tabular),
        ("image", build_image),
        ("image-files", build_image_files),
        ("text", build_text),
    )
    for name, build in builds:
        folder = HERE / name
        folder.mkdir(exist_ok=True)
        build(folder)
        print(f"built examples/{name}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
