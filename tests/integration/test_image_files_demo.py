"""The image-files demo (`audit/demo/image_files.py`): PNGs and manifest agree, the tag sits
exactly in the corner of the positives, both Hugging Face folders classify the digits through
their own saved preprocessing, only the shortcut model depends on the tag, and a rebuild is a
cache hit; and audited end to end from the files, the corner tag is flagged for the shortcut
model (verdict fail, exit 1) and not for its control (the ViT's: test_vit_rollout.py), and a
torchvision-style plain `nn.Module` given as `factory` plus a declared preprocessing too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image
from torch import nn

from audit.demo import image_files
from audit.demo.image_files import build_image_files_demo
from audit.paths import cache_dir
from audit.spec import load_spec

pytestmark = pytest.mark.slow
R, C, H, W = image_files.REGION


@pytest.fixture(scope="module")
def cache() -> Path:
    """The session's demo cache (AUDIT_HOME): built once for `audit demo` and every test."""
    return cache_dir() / "demo"


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


def _audit(spec: Path, out: Path) -> dict:
    from audit.pipeline import run_audit

    run_audit(spec, out, ledger_url=f"sqlite:///{out.parent / 'ledger.sqlite'}")
    return json.loads((out / "findings.json").read_text(encoding="utf-8"))


def _spurious(findings: dict) -> dict[str, str]:
    return {
        f"{f['rule']} {f['message'].split(']')[0]}": f["status"]
        for f in findings["findings"]
        if f["check"] == "spurious" and f["rule"] in ("SPUR-001", "SPUR-002")
    }


def test_the_tag_is_flagged_for_the_shortcut_and_not_its_control(
    cache: Path, tmp_path: Path
) -> None:
    """The ResNet (the ViT's audits are tests/integration/test_vit_rollout.py's)."""
    demo = build_image_files_demo(cache)
    shortcut = _audit(demo, tmp_path / "shortcut")
    assert shortcut["verdict"] == "fail"
    flagged = _spurious(shortcut)
    assert flagged and all(status == "fail" for status in flagged.values()), flagged
    info = shortcut["data_info"]
    assert info["images_listed"] == 600 and info["unreadable_files"] == []
    assert shortcut["model_info"]["preprocessing"]["model_input"] == [32, 32]
    assert "preprocessor_sha256" in shortcut["model_info"]
    control = _audit(demo.with_name("audit-control.yaml"), tmp_path / "control")
    assert control["verdict"] == "pass"
    assert all(status == "pass" for status in _spurious(control).values()), _spurious(control)


class PlainDigits(nn.Module):
    """A torchvision-style classifier: ImageNet-normalized (N, 3, 36, 36) in, 2 logits out."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(3),
            nn.Flatten(),
            nn.Linear(144, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


PREPROCESSING = {
    "resize": 40,
    "center_crop": 36,
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}


def test_a_factory_model_with_declared_preprocessing_audits_from_the_files(
    cache: Path, tmp_path: Path
) -> None:
    from audit.demo._export import seeded, train
    from audit.loaders.preprocess import Preprocess
    from audit.spec import Preprocessing

    folder = build_image_files_demo(cache).parent
    manifest = pd.read_csv(folder / "train-shortcut.csv")
    raw = _pixels(folder, manifest).astype(np.float32).transpose(0, 3, 1, 2) / 255
    prep = Preprocess(Preprocessing(**PREPROCESSING), (32, 32))
    with torch.no_grad():
        x = prep(torch.as_tensor(raw))
    model = train(
        seeded(0, PlainDigits), x, torch.tensor(manifest["label"].to_numpy()), seed=0, epochs=8
    )
    torch.save(model.state_dict(), tmp_path / "plain.pt")
    spec = yaml.safe_load(demo_spec_text := (folder / "audit.yaml").read_text(encoding="utf-8"))
    assert "huggingface" in demo_spec_text
    spec["model"] = {
        "factory": f"{__name__}:PlainDigits",
        "weights": str(tmp_path / "plain.pt"),
        "task": "binary",
        "modality": "image",
        "preprocessing": PREPROCESSING,
    }
    spec["data"]["path"] = str(folder / "holdout.csv")
    spec["checks"]["spurious"]["method"] = "integrated_gradients"
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    findings = _audit(tmp_path / "plain.yaml", tmp_path / "out")
    assert findings["verdict"] == "fail"
    assert findings["model_info"]["preprocessing"]["model_input"] == [36, 36]
    flagged = _spurious(findings)
    assert flagged and all(status == "fail" for status in flagged.values()), flagged
