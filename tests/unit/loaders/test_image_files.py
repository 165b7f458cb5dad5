"""Image files (issue #18): the folder and manifest layouts, lazy decoding, refusals, unreadable
files, and the model's preprocessing run in front of it on raw pixels, with known answers."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile
from torch import nn

from audit.checks.spurious.probes import image_variants
from audit.checks.spurious.spec import PatchProbe
from audit.errors import DataError, ModelError
from audit.loaders.data import data_sha256, load_dataset
from audit.loaders.images import ImageFiles, require_readable_share
from audit.loaders.model import image_preprocessing, load_runner
from audit.loaders.preprocess import Geometry, Preprocess, resized_size
from audit.spec import DataSpec, ModelSpec, Preprocessing


def _png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)


def _manifest(folder: Path, n: int = 6, size: tuple[int, int] = (8, 10)) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        _png(folder / "img" / f"{i}.png", rng.integers(0, 256, (*size, 3)))
        rows.append({"file": f"img/{i}.png", "y": i % 2, "site": "ab"[i % 2]})
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


def _data(path: Path, **fields: object) -> DataSpec:
    return DataSpec(path=path, **({"image": "file", "label": "y", "sensitive": ["site"]} | fields))


IMAGE_MODEL = ModelSpec(factory="m:f", task="binary", modality="image", preprocessing={})


def test_a_manifest_decodes_rows_on_demand_to_the_pixels_on_disk(tmp_path: Path) -> None:
    data = load_dataset(_data(_manifest(tmp_path)), IMAGE_MODEL)
    files = data.x
    assert isinstance(files, ImageFiles)
    assert files.shape == (6, 3, 8, 10) and len(data) == 6
    first = np.asarray(Image.open(tmp_path / "img" / "0.png").convert("RGB"), dtype=np.float32)
    np.testing.assert_array_equal(files[0], first.transpose(2, 0, 1) / 255)
    np.testing.assert_array_equal(files[[3, 1]], np.stack([files[3], files[1]]))
    np.testing.assert_array_equal(files[np.arange(6) % 2 == 1], files[1::2])
    np.testing.assert_array_equal(files[2:4, :, 0:2], files[2:4][:, :, 0:2])
    assert data.value_bounds == (0.0, 1.0)
    assert list(data.sensitive["site"]) == list("ababab") and list(data.y) == [0, 1] * 3
    # pickles as its paths (Dask workers decode their own shards)
    assert len(pickle.dumps(files)) < 2000
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(files))[5], files[5])


def test_an_image_folder_takes_its_labels_from_sorted_sub_folders(tmp_path: Path) -> None:
    for label, name in enumerate(["benign", "malignant"]):
        for i in range(3):
            _png(tmp_path / "set" / name / f"{i}.png", np.full((4, 4, 3), 50 * label + i))
    data = load_dataset(DataSpec(path=tmp_path / "set"), IMAGE_MODEL)
    assert list(data.y) == [0, 0, 0, 1, 1, 1]
    assert data.sha256 == data_sha256(DataSpec(path=tmp_path / "set"), IMAGE_MODEL)
    assert data.class_names == ("benign", "malignant")
    with pytest.raises(DataError, match="sub-folders") as err:
        load_dataset(DataSpec(path=tmp_path / "set", label="y"), IMAGE_MODEL)
    assert err.value.where == "data.label"
    with pytest.raises(DataError, match="no sensitive columns"):
        load_dataset(DataSpec(path=tmp_path / "set", sensitive=["site"]), IMAGE_MODEL)


def test_missing_files_and_paths_leaving_the_folder_are_refused(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path / "data")
    frame = pd.read_csv(manifest)
    frame.loc[2, "file"] = "img/nope.png"
    frame.to_csv(manifest, index=False)
    with pytest.raises(DataError, match="not found") as err:
        load_dataset(_data(manifest), IMAGE_MODEL)
    assert "row 3" in str(err.value.where)
    _png(tmp_path / "outside.png", np.zeros((8, 10, 3)))
    frame.loc[2, "file"] = "../outside.png"
    frame.to_csv(manifest, index=False)
    with pytest.raises(DataError, match="leaves the data folder"):
        load_dataset(_data(manifest), IMAGE_MODEL)


def test_unreadable_files_are_left_out_named_and_bounded_by_the_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as in a real run: importing WeasyPrint makes Pillow pad truncated images silently
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    manifest = _manifest(tmp_path)
    (tmp_path / "img" / "4.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    whole = (tmp_path / "img" / "1.png").read_bytes()
    (tmp_path / "img" / "1.png").write_bytes(whole[: len(whole) // 2])  # truncated, header intact
    data = load_dataset(_data(manifest), IMAGE_MODEL)
    assert len(data) == 4 and data.listed == 6
    assert [u.path for u in data.unreadable] == ["img/1.png", "img/4.png"]
    assert list(data.sensitive["site"]) == ["a", "a", "b", "b"]  # rows 0, 2, 3, 5
    require_readable_share(data.unreadable, data.listed, 0.5, "data")  # 33% tolerated
    with pytest.raises(DataError, match=r"2 of 6 image files \(33.3%\)") as err:
        require_readable_share(data.unreadable, data.listed, 0.01, "data")
    assert "max_unreadable_share" in str(err.value.fix)


def test_sizes_must_agree_unless_a_canvas_is_given(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    _png(tmp_path / "img" / "3.png", np.zeros((12, 12, 3)))
    with pytest.raises(DataError, match="differ in size") as err:
        load_dataset(_data(manifest), IMAGE_MODEL)
    assert "image_size" in str(err.value.fix)
    data = load_dataset(_data(manifest, image_size=[16, 20]), IMAGE_MODEL)
    assert data.x.shape == (6, 3, 16, 20) and data.x[3].shape == (3, 16, 20)


def test_the_data_hash_follows_every_image_file(tmp_path: Path) -> None:
    spec = _data(_manifest(tmp_path))
    before = data_sha256(spec, IMAGE_MODEL)
    # the load hashes the bytes it reads anyway, to the value a worker recomputes from disk
    assert load_dataset(spec, IMAGE_MODEL).sha256 == before
    pixels = np.asarray(Image.open(tmp_path / "img" / "5.png")).copy()
    pixels[0, 0, 0] ^= 1
    _png(tmp_path / "img" / "5.png", pixels)
    assert data_sha256(spec, IMAGE_MODEL) != before


def test_image_files_need_the_models_preprocessing_declared() -> None:
    with pytest.raises(ModelError, match="preprocessing") as err:
        image_preprocessing(ModelSpec(factory="m:f", task="binary", modality="image"))
    assert err.value.where == "model.preprocessing" and "center_crop" in str(err.value.fix)


# --- the preprocessing: torchvision's semantics, known answers -------------------------------


@pytest.mark.parametrize(
    ("canvas", "resize", "expected"),
    [
        ((32, 48), 16, (16, 24)),
        ((48, 32), 16, (24, 16)),
        ((33, 50), 20, (20, 30)),
        ((9, 9), [4, 6], (4, 6)),
    ],
)
def test_resize_keeps_the_aspect_ratio_as_torchvision_does(
    canvas: tuple[int, int], resize: int | list[int], expected: tuple[int, int]
) -> None:
    assert resized_size(canvas, resize) == expected


def _coordinates(height: int, width: int) -> torch.Tensor:
    """A raw image whose pixels say where they are: channel 0 the row, channel 1 the column."""
    rows = torch.arange(height, dtype=torch.float32)[:, None].expand(height, width)
    cols = torch.arange(width, dtype=torch.float32)[None, :].expand(height, width)
    return torch.stack([rows, cols, torch.zeros(height, width)])[None]


def test_a_raw_probe_region_lands_on_the_intended_pixels_after_resize_and_crop() -> None:
    # canvas 20x30, shorter side to 40 (x2, nearest: every model pixel copies one raw pixel),
    # centre crop 32x48 -> offsets (4, 6) in the resized image
    spec = Preprocessing(resize=40, center_crop=[32, 48], interpolation="nearest")
    prep = Preprocess(spec, (20, 30))
    seen = prep(_coordinates(20, 30))[0]
    i, j = torch.meshgrid(torch.arange(32), torch.arange(48), indexing="ij")
    assert torch.equal(seen[0], ((i + 4) // 2).float()) and torch.equal(
        seen[1], ((j + 6) // 2).float()
    )
    # the corner tag at raw rows 3-6, cols 5-8, pasted by the probe, is where the model sees it
    probe = PatchProbe(type="patch", region=[3, 5, 4, 4], value=1.0)
    raw = np.zeros((2, 3, 20, 30), dtype=np.float32)
    tagged = image_variants(probe, raw, 1, np.random.default_rng(0)).artifacts["insert"].x
    changed = prep(torch.as_tensor(tagged[:1]))[0, 0] != 0
    rows, cols = torch.nonzero(changed, as_tuple=True)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (2, 9, 4, 11)  # 2*3-4 .. 2*7-4-1


def test_a_fraction_region_is_the_same_box_in_pixels() -> None:
    probe = PatchProbe(type="patch", fraction=[0.0, 0.0, 0.125, 0.125], value=1.0)
    assert probe.pixels(32, 32) == [0, 0, 4, 4] and probe.pixels(224, 160) == [0, 0, 28, 20]


@settings(max_examples=25, deadline=None)
@given(
    canvas=st.tuples(st.integers(6, 40), st.integers(6, 40)),
    side=st.integers(4, 48),
    crop=st.floats(0.3, 1.0),
    mode=st.sampled_from(["bilinear", "bicubic", "nearest"]),
    seed=st.integers(0, 100),
)
def test_mapping_back_to_raw_pixels_preserves_the_total_mass(
    canvas: tuple[int, int], side: int, crop: float, mode: str, seed: int
) -> None:
    resized = resized_size(canvas, side)
    cut = [max(1, int(resized[0] * crop)), max(1, int(resized[1] * crop))]
    geometry = Geometry.of(Preprocessing(resize=side, center_crop=cut, interpolation=mode), canvas)
    grid = torch.rand((2, 3, *geometry.output_size), generator=torch.Generator().manual_seed(seed))
    raw = geometry.to_raw(grid.double())
    assert raw.shape == (2, 3, *canvas)
    torch.testing.assert_close(raw.sum(dim=(1, 2, 3)), grid.double().sum(dim=(1, 2, 3)))


def test_gradients_reach_raw_pixels_through_the_preprocessing(tmp_path: Path) -> None:
    """Integrated gradients on raw pixels: complete (they add up to the change in the score)."""
    from captum.attr import IntegratedGradients

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh(), nn.Flatten(), nn.LazyLinear(1))
    prep = Preprocess(
        Preprocessing(resize=12, center_crop=10, mean=[0.5], std=[0.25], color="gray"), (16, 16)
    )
    model = nn.Sequential(prep, net)
    raw = torch.rand(1, 3, 16, 16)
    model(raw)  # materialize the lazy layer
    attr, delta = IntegratedGradients(model).attribute(
        raw, baselines=raw * 0, n_steps=200, return_convergence_delta=True
    )
    assert attr.shape == raw.shape
    assert abs(float(delta)) < 1e-3
    torch.testing.assert_close(
        attr.sum(), (model(raw) - model(raw * 0)).sum(), atol=1e-3, rtol=1e-3
    )


def test_the_runner_runs_the_model_on_its_own_preprocessing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = _manifest(tmp_path, size=(20, 30))

    class Sees(nn.Module):
        """Two logits from the mean of the model-grid input, and what shape it got."""

        shape: tuple[int, ...] = ()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            Sees.shape = tuple(x.shape)
            m = x.mean(dim=(1, 2, 3))
            return torch.stack([m, -m], dim=1)

    monkeypatch.setattr("audit.loaders.model.load_module", lambda spec: Sees())
    model = ModelSpec(
        factory="m:f",
        task="binary",
        modality="image",
        preprocessing={"resize": 10, "center_crop": 8, "mean": [0.5] * 3, "std": [0.5] * 3},
    )
    data = load_dataset(_data(manifest), model)
    runner = load_runner(model, data)
    proba = runner.predict_proba(data.x, batch_size=4)
    assert Sees.shape[1:] == (3, 8, 8) and proba.shape == (6, 2)
    assert runner.preprocess is not None
    assert runner.preprocess.describe()["model_input"] == [8, 8]


def test_subsets_stay_undecoded_and_batches_are_capped_by_memory(tmp_path: Path) -> None:
    from audit.checks.rows import cut
    from audit.loaders.images import BATCH_BYTES, rows_per_batch, take_rows

    files = load_dataset(_data(_manifest(tmp_path)), IMAGE_MODEL).x
    part = take_rows(files, np.array([4, 1]))
    assert isinstance(part, ImageFiles) and len(part) == 2
    np.testing.assert_array_equal(part[0], files[4])
    shard = cut({"x": files, "y": np.arange(6)}, slice(2, 5))
    assert isinstance(shard["x"], ImageFiles) and list(shard["y"]) == [2, 3, 4]
    np.testing.assert_array_equal(shard["x"][:], files[2:5])
    # a 224 x 224 canvas: a requested 4096-row batch would be 2.4 GB of pixels
    big = ImageFiles(files.paths, (224, 224), True)
    rows = rows_per_batch(big, 4096)
    assert rows * 3 * 224 * 224 * 4 <= BATCH_BYTES < (rows + 1) * 3 * 224 * 224 * 4
    assert rows_per_batch(np.zeros((10, 3)), 4096) == 4096
