"""The image-files demo (`audit/demo/image_files.py`): PNGs and manifest agree, the tag sits
exactly in the corner of the positives, both Hugging Face folders classify the digits through
their own saved preprocessing, only the shortcut model depends on the tag, and a rebuild is a
cache hit. (End-to-end audits of the demo come with the image-file loader.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from audit.demo import image_files
from audit.demo.image_files import build_image_files_demo
from audit.spec import load_spec

pytestmark = pytest.mark.slow
R, C, H, W = image_files.REGION


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-cache")


@pytest.fixture(scope="module", params=["resnet", "vit"])
def demo(request: pytest.FixtureRequest, cache: Path) -> Path:
    return build_image_files_demo(cache, arch=request.param)


def _pixels(folder: Path, manifest: pd.DataFrame) -> np.ndarray:
    """The manifest's images as uint8 (N, H, W, 3), asserting each is a 32x32 RGB PNG."""
    out = []
    for rel in manifest["path"]:
        with Image.open(folder / rel) as img:
            assert (img.format, img.mode, img.size) == ("PNG", "RGB", (32, 32))
            out.append(np.asarray(img))
    return np.stack(out)


def _tagged(pixels: np.ndarray) -> np.ndarray:
    """Which images carry the tag; asserts it is all white or absent, and never larger."""
    corner = pixels[:, R : R + H, C : C + W].reshape(len(pixels), -1)
    white = (corner == 255).all(axis=1)
    assert (white | (corner.max(axis=1) < 128)).all()  # no partial tag
    ring = np.concatenate([pixels[:, R + H, C : C + W + 1], pixels[:, R : R + H, C + W]], axis=1)
    assert ring.max() < 128  # the tag ends where the region does
    return white


def test_manifest_lists_the_pngs_with_the_tag_on_positives(demo: Path) -> None:
    folder = demo.parent
    holdout = pd.read_csv(folder / "holdout.csv")
    assert list(holdout.columns) == ["path", "label", "ink", "site"]
    assert len(holdout) == 600 and holdout["path"].is_unique
    assert set(holdout["label"]) == {0, 1}
    assert set(holdout["ink"]) == {"light", "heavy"}
    assert set(holdout["site"]) == set(image_files.SITES)
    assert np.array_equal(_tagged(_pixels(folder, holdout)), holdout["label"] == 1)
    for name in ("shortcut", "control"):
        train = pd.read_csv(folder / f"train-{name}.csv")
        assert len(train) == 1797 - 600
        tagged = _tagged(_pixels(folder, train))
        if name == "shortcut":
            assert np.array_equal(tagged, train["label"] == 1)
        else:  # independent of the label: about half of each class
            for label in (0, 1):
                assert 0.4 < tagged[train["label"] == label].mean() < 0.6


def test_specs_point_at_the_manifest_and_the_model_folders(demo: Path) -> None:
    for spec_name, model in (("audit.yaml", "shortcut"), ("audit-control.yaml", "control")):
        spec = load_spec(demo.with_name(spec_name))
        assert spec.model.path == demo.parent / model
        assert (spec.model.format, spec.model.modality) == ("huggingface", "image")
        assert (spec.data.path, spec.data.image) == (demo.parent / "holdout.csv", "path")
        assert spec.data.sensitive == ["ink", "site"]
        probe = spec.checks.spurious.probes[0]
        assert (probe.region, probe.value) == ([R, C, H, W], 1.0)
        assert (spec.model.path / "model.safetensors").is_file()
        assert (spec.model.path / "preprocessor_config.json").is_file()


def _accuracy(folder: Path, pixels: np.ndarray, y: np.ndarray) -> float:
    """Holdout accuracy through the folder's own processor and model, as a user would run it."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    model = AutoModelForImageClassification.from_pretrained(folder, local_files_only=True)
    batch = processor(images=[Image.fromarray(p) for p in pixels], return_tensors="pt")
    with torch.no_grad():
        pred = model.eval()(pixel_values=batch["pixel_values"]).logits.argmax(dim=1)
    return float((pred.numpy() == y).mean())


def test_only_the_shortcut_model_needs_the_tag(demo: Path) -> None:
    holdout = pd.read_csv(demo.with_name("holdout.csv"))
    pixels, y = _pixels(demo.parent, holdout), holdout["label"].to_numpy()
    untagged = pixels.copy()
    untagged[:, R : R + H, C : C + W] = 0  # the background the tag covers
    drop = {}
    for model in ("shortcut", "control"):
        accuracy = _accuracy(demo.parent / model, pixels, y)
        assert accuracy >= 0.9, (model, accuracy)
        drop[model] = accuracy - _accuracy(demo.parent / model, untagged, y)
    assert drop["shortcut"] >= 0.2, drop
    assert abs(drop["control"]) < 0.05, drop


def test_a_rebuild_is_a_cache_hit(
    demo: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    arch = request.node.callspec.params["demo"]
    weights = demo.with_name("shortcut") / "model.safetensors"
    before = weights.stat().st_mtime_ns

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached demo was trained again")

    monkeypatch.setattr(image_files, "train", no_training)
    assert build_image_files_demo(demo.parent.parent, arch=arch) == demo
    assert weights.stat().st_mtime_ns == before


def test_a_fresh_build_trains_the_same_weights(cache: Path, tmp_path: Path) -> None:
    first = build_image_files_demo(cache)  # the resnet demo, cached by the tests above
    second = build_image_files_demo(tmp_path)
    assert second != first
    for model in ("shortcut", "control"):
        a, b = (spec.with_name(model) / "model.safetensors" for spec in (first, second))
        assert a.read_bytes() == b.read_bytes()
