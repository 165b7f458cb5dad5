"""Hugging Face image classifier folders: issue #18 ("Image models as people ship them").

Tiny models are built from configs and saved with `save_pretrained` beside their image
processor, as a user ships them; `preprocessing_of` reads the processor's JSON, and the known
answers below check its `Preprocessing` against transformers' own `pixel_values`.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import transformers
from PIL import Image
from transformers.image_processing_backends import PilBackend

from audit.errors import ModelError
from audit.loaders.huggingface import (
    PIPELINE_KEYS,
    PREPROCESSOR,
    PROCESSOR_BASE,
    PROCESSORS,
    check_folder,
    folder_hashes,
    load_image_classifier,
    preprocessing_of,
)
from audit.loaders.preprocess import Preprocess
from audit.preflight import model_files
from audit.spec import Preprocessing, load_spec
from audit.testing.hf import tiny_bert_folder

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def _vit_folder(folder: Path) -> torch.nn.Module:
    """A tiny ViT on 16 x 16 images with ImageNet's mean and std; returns the model saved."""
    torch.manual_seed(0)
    config = transformers.ViTConfig(
        image_size=16,
        patch_size=4,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=2,
    )
    model = transformers.ViTForImageClassification(config).eval()
    model.save_pretrained(folder)
    # the Pil backend (torchvision is not installed here) saves as `ViTImageProcessor`
    transformers.ViTImageProcessorPil(
        size={"height": 16, "width": 16}, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD
    ).save_pretrained(folder)
    return model


def _resnet_folder(folder: Path) -> torch.nn.Module:
    """A tiny ResNet with ConvNeXT's processor (as microsoft/resnet-* ship), 32 x 32 input."""
    torch.manual_seed(0)
    config = transformers.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=2
    )
    model = transformers.ResNetForImageClassification(config).eval()
    model.save_pretrained(folder)
    transformers.ConvNextImageProcessorPil(
        size={"shortest_edge": 32}, crop_pct=0.875
    ).save_pretrained(folder)
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, torch.nn.Module]]:
    root = tmp_path_factory.mktemp("vision")
    return {
        "vit": (root / "vit", _vit_folder(root / "vit")),
        "resnet": (root / "resnet", _resnet_folder(root / "resnet")),
    }


def _copy(saved: dict[str, tuple[Path, torch.nn.Module]], name: str, to: Path) -> Path:
    return Path(shutil.copytree(saved[name][0], to / name))


def _edit(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def _processor_file(folder: Path, settings: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PREPROCESSOR).write_text(json.dumps(settings))
    return folder


# --- loading --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "side"), [("vit", 16), ("resnet", 32)])
def test_folder_loads_and_returns_the_saved_models_logits(
    saved: dict[str, tuple[Path, torch.nn.Module]], name: str, side: int
):
    folder, original = saved[name]
    module = load_image_classifier(folder, "cpu")
    x = torch.rand(3, 3, side, side, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = module(x)
        expected = original(pixel_values=x).logits
    assert logits.shape == (3, 2)
    torch.testing.assert_close(logits, expected)  # the weights went through safetensors


def test_vit_loads_with_eager_attention_that_returns_its_weights(
    saved: dict[str, tuple[Path, torch.nn.Module]],
):
    module = load_image_classifier(saved["vit"][0], "cpu")
    with torch.no_grad():
        out = module.model(pixel_values=torch.rand(2, 3, 16, 16), output_attentions=True)
    assert module.model.config._attn_implementation == "eager"
    # 2 layers of (batch, heads, 1 + 16 patches, 1 + 16 patches); SDPA would return none
    assert [tuple(a.shape) for a in out.attentions] == [(2, 2, 17, 17)] * 2
    torch.testing.assert_close(out.attentions[0].sum(-1), torch.ones(2, 2, 17))


class _Marker:
    """Unpickling this writes a file: proof that something was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.write_text, (self.path, "unpickled"))


def test_pickle_weights_are_refused_with_the_image_convert_fix(
    saved: dict[str, tuple[Path, torch.nn.Module]], tmp_path: Path
):
    folder = _copy(saved, "vit", tmp_path)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "unpickled.txt"
    with open(folder / "pytorch_model.bin", "wb") as fh:
        pickle.dump(_Marker(marker), fh)
    for attempt in (
        lambda: check_folder(folder, "image"),
        lambda: load_image_classifier(folder, "cpu"),
    ):
        with pytest.raises(ModelError, match=r"pytorch_model\.bin") as refused:
            attempt()
        assert "AutoModelForImageClassification" in (refused.value.fix or "")
    assert not marker.exists()


def test_remote_code_is_refused_in_the_config_and_in_the_processor(
    saved: dict[str, tuple[Path, torch.nn.Module]], tmp_path: Path
):
    folder = _copy(saved, "vit", tmp_path)
    _edit(folder / "config.json", auto_map={"AutoModelForImageClassification": "evil.Evil"})
    with pytest.raises(ModelError, match="own Python code") as refused:
        check_folder(folder, "image")
    assert "ViTForImageClassification" in (refused.value.fix or "")
    shutil.rmtree(folder)
    folder = _copy(saved, "vit", tmp_path)
    _edit(folder / PREPROCESSOR, auto_map={"AutoImageProcessor": "evil.EvilProcessor"})
    with pytest.raises(ModelError, match="own Python code") as refused:
        check_folder(folder, "image")
    assert refused.value.where == str(folder / PREPROCESSOR)


def test_a_folder_of_the_other_modality_is_refused(
    saved: dict[str, tuple[Path, torch.nn.Module]], tmp_path: Path
):
    text = tiny_bert_folder(tmp_path / "bert", ["the", "cat"])
    with pytest.raises(ModelError, match="BertForSequenceClassification; the audit runs image"):
        check_folder(text, "image")
    with pytest.raises(ModelError, match="ViTForImageClassification; the audit runs sequence"):
        check_folder(saved["vit"][0])  # text, the default
    with pytest.raises(ModelError, match="text or an image classifier") as refused:
        check_folder(saved["vit"][0], "tabular")
    assert refused.value.where == "model.modality"


def test_missing_processor_is_refused_with_the_save_fix(
    saved: dict[str, tuple[Path, torch.nn.Module]], tmp_path: Path
):
    folder = _copy(saved, "resnet", tmp_path)
    (folder / PREPROCESSOR).unlink()
    with pytest.raises(ModelError, match=r"no preprocessor_config\.json") as refused:
        check_folder(folder, "image")
    assert refused.value.fix is not None
    assert "image_processor.save_pretrained(folder)" in refused.value.fix


def test_preflight_checks_an_image_folder_and_its_processor(
    saved: dict[str, tuple[Path, torch.nn.Module]], tmp_path: Path
):
    folder = _copy(saved, "vit", tmp_path)
    (tmp_path / "images").mkdir()
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        "name: vision\nmodel: {path: vit, task: binary, modality: image}\ndata: {path: images}\n"
    )
    spec = load_spec(spec_path)
    model_files(spec)  # a good folder passes, without a tokenizer
    _edit(folder / PREPROCESSOR, rescale_factor=1 / 127)
    with pytest.raises(ModelError, match="rescale_factor"):
        model_files(spec)


# --- preprocessing_of: known answers ------------------------------------------------------------


def test_saved_processors_map_to_known_preprocessing(
    saved: dict[str, tuple[Path, torch.nn.Module]], tmp_path: Path
):
    assert preprocessing_of(saved["vit"][0]) == Preprocessing(
        crop_offset="floor",
        resize=[16, 16],
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        interpolation="bilinear",
    )
    # ConvNeXT below 384: shortest edge to int(32 / 0.875) = 36, then the centre 32 x 32
    assert preprocessing_of(saved["resnet"][0]) == Preprocessing(
        crop_offset="floor",
        resize=36,
        center_crop=32,
        mean=[0.5] * 3,
        std=[0.5] * 3,
        interpolation="bicubic",
    )
    bit = tmp_path / "bit"
    transformers.BitImageProcessorPil(
        size={"shortest_edge": 20}, crop_size={"height": 16, "width": 18}
    ).save_pretrained(bit)
    assert preprocessing_of(bit) == Preprocessing(
        crop_offset="floor",
        resize=20,
        center_crop=[16, 18],
        mean=CLIP_MEAN,
        std=CLIP_STD,
        interpolation="bicubic",
    )
    big = tmp_path / "convnext384"
    transformers.ConvNextImageProcessorPil(size={"shortest_edge": 384}).save_pretrained(big)
    assert preprocessing_of(big) == Preprocessing(
        crop_offset="floor",  # from 384 on: warped, not cropped
        resize=[384, 384],
        mean=[0.5] * 3,
        std=[0.5] * 3,
        interpolation="bicubic",
    )


LEGACY_CONVNEXT = {  # the shape of microsoft/resnet-50's file, written by transformers 4.x
    "crop_pct": 0.875,
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "ConvNextFeatureExtractor",
    "image_mean": IMAGENET_MEAN,
    "image_std": IMAGENET_STD,
    "resample": 3,
    "size": 224,
}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            LEGACY_CONVNEXT,  # an int size is a shortest edge for ConvNeXT; 224 / 0.875 = 256
            Preprocessing(
                crop_offset="floor",
                resize=256,
                center_crop=224,
                mean=IMAGENET_MEAN,
                std=IMAGENET_STD,
                interpolation="bicubic",
            ),
        ),
        (  # only the type: the class defaults; an int size is a square for ViT
            {"image_processor_type": "ViTImageProcessorFast", "size": 32, "resample": 0},
            Preprocessing(
                resize=[32, 32],
                mean=[0.5] * 3,
                std=[0.5] * 3,
                interpolation="nearest-exact",
                crop_offset="floor",
            ),
        ),
        (
            {"image_processor_type": "DeiTImageProcessor", "do_center_crop": None},  # null: default
            Preprocessing(
                crop_offset="floor",
                resize=[256, 256],
                center_crop=[224, 224],
                mean=[0.5] * 3,
                std=[0.5] * 3,
                interpolation="bicubic",
            ),
        ),
        (
            {"image_processor_type": "MobileNetV1ImageProcessor", "do_normalize": False},
            Preprocessing(
                crop_offset="floor", resize=256, center_crop=[224, 224], interpolation="bilinear"
            ),
        ),
        (  # no resize: the resampling filter is moot, even one the audit does not apply
            {"image_processor_type": "ViTImageProcessor", "do_resize": False, "resample": 1},
            Preprocessing(crop_offset="floor", mean=[0.5] * 3, std=[0.5] * 3),
        ),
        (
            {"image_processor_type": "BitImageProcessor", "image_mean": 0.5, "image_std": 0.25},
            Preprocessing(
                crop_offset="floor",
                resize=224,
                center_crop=[224, 224],
                mean=[0.5],
                std=[0.25],
                interpolation="bicubic",
            ),
        ),
    ],
)
def test_written_processor_files_map_to_known_preprocessing(
    tmp_path: Path, settings: dict[str, Any], expected: Preprocessing
):
    assert preprocessing_of(_processor_file(tmp_path, settings)) == expected


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        (
            {"image_processor_type": "ViTImageProcessor", "rescale_factor": 1 / 127},
            "rescale_factor",
        ),
        ({"image_processor_type": "ViTImageProcessor", "do_rescale": False}, "do_rescale"),
        ({"image_processor_type": "ViTImageProcessor", "resample": 1}, "LANCZOS"),
        ({"image_processor_type": "ViTImageProcessor", "do_pad": True}, "do_pad"),
        ({"image_processor_type": "ViTImageProcessor", "crop_pct": 0.9}, "crop_pct"),  # not ViT's
        ({"image_processor_type": "ViTImageProcessor", "size": {"longest_edge": 32}}, "size"),
        ({"image_processor_type": "ViTImageProcessor", "image_std": [0.5, 0]}, "std"),
        ({"image_processor_type": "BitImageProcessor", "size": 200}, "crop_size"),  # 224 > 200
        (
            {"image_processor_type": "ConvNextImageProcessor", "size": 32, "crop_pct": 1.5},
            "crop_pct",
        ),
        (
            {"image_processor_type": "ConvNextImageProcessor", "size": {"height": 8, "width": 8}},
            "size",
        ),
        (
            {"image_processor_type": "ConvNextImageProcessor", "size": 32, "do_center_crop": True},
            "do_center_crop",
        ),
        ({"image_processor_type": "EfficientNetImageProcessor"}, "EfficientNetImageProcessor"),
        ({"size": 16}, "image_processor_type"),
    ],
)
def test_processor_settings_the_audit_cannot_reproduce_are_refused_by_name(
    tmp_path: Path, settings: dict[str, Any], key: str
):
    folder = _processor_file(tmp_path, settings)
    with pytest.raises(ModelError, match=key) as refused:
        preprocessing_of(folder)
    assert refused.value.where == str(folder / PREPROCESSOR)


def _pil_class(kind: str) -> type:
    """The installed PIL-backend twin of a processor (torchvision is not installed here)."""
    cls: type = getattr(transformers, kind + "Pil")
    return cls


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return int(value) if type(value).__name__ == "PILImageResampling" else value


@pytest.mark.parametrize("kind", sorted(PROCESSORS))
def test_the_table_of_processors_is_what_transformers_installs(kind: str):
    """A transformers upgrade that changes a default or a pipeline fails here, not silently."""
    cls = _pil_class(kind)
    for key in PIPELINE_KEYS | set(PROCESSORS[kind]):
        expected = PROCESSORS[kind].get(key, PROCESSOR_BASE.get(key))
        assert _plain(getattr(cls, key, None)) == expected, key
    custom = kind == "ConvNextImageProcessor"  # its own resize; the others the backend's
    assert (cls.resize is not PilBackend.resize) == custom
    assert (cls._preprocess is not PilBackend._preprocess) == custom
    assert cls.center_crop is PilBackend.center_crop and cls.normalize is PilBackend.normalize


# --- the semantics, against transformers' pixel_values --------------------------------------------


def _apply(pre: Preprocessing, image: np.ndarray) -> torch.Tensor:
    """The audit's own preprocessing module (what runs in front of the model) on an 8-bit
    image decoded to [0, 1], as the image-file loader does."""
    raw = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        return Preprocess(pre, (image.shape[0], image.shape[1]))(raw)


def _smooth_image(height: int, width: int) -> np.ndarray:
    """A random image as smooth as a photo. PIL resamples 8-bit pixels in two passes, rounding
    and clipping between them, so on random noise its bicubic differs from float resampling by
    up to ~18 grey levels at overshoots; on smooth pixels by about one."""
    coarse = np.random.default_rng(0).integers(0, 256, (height // 4, width // 4, 3), np.uint8)
    return np.array(Image.fromarray(coarse).resize((width, height), Image.Resampling.BILINEAR))


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("vit", {}),  # bilinear warp to 16 x 16
        ("vit", {"resample": 0}),  # nearest
        ("resnet", {}),  # ConvNeXT: bicubic 43 x 36, the centre 32 x 32 from row 5
        ("bit", {}),
    ],
)
def test_preprocessing_reproduces_transformers_pixel_values(
    saved: dict[str, tuple[Path, torch.nn.Module]],
    tmp_path: Path,
    name: str,
    settings: dict[str, Any],
):
    """To one grey level, over the normalizing std (1/255/0.225 = 0.017 at worst): PIL's
    8-bit resampling against float resampling."""
    if name == "bit":
        folder = tmp_path / "bit"
        transformers.BitImageProcessorPil(
            size={"shortest_edge": 20}, crop_size={"height": 16, "width": 16}
        ).save_pretrained(folder)
    else:
        folder = _copy(saved, name, tmp_path)
        _edit(folder / PREPROCESSOR, **settings)
    image = _smooth_image(45, 37)  # portrait, and not a multiple of any size above
    processor = transformers.AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    theirs = processor(Image.fromarray(image), return_tensors="pt")["pixel_values"]
    ours = _apply(preprocessing_of(folder), image)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, atol=2e-2, rtol=0)


def test_the_crop_corner_is_rounded_down_not_to_nearest(
    saved: dict[str, tuple[Path, torch.nn.Module]],
):
    """ConvNeXT on 45 x 37: resized to 43 x 36, the crop's top row is (43 - 32) // 2 = 5;
    torchvision's CenterCrop would start at round(5.5) = 6, one row off."""
    folder = saved["resnet"][0]
    image = _smooth_image(45, 37)
    processor = transformers.AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    theirs = processor(Image.fromarray(image), return_tensors="pt")["pixel_values"]
    pre = preprocessing_of(folder)
    whole = _apply(pre.model_copy(update={"center_crop": None}), image)
    assert whole.shape[-2:] == (43, 36)
    errors = {top: (whole[..., top : top + 32, 2:34] - theirs).abs().max().item() for top in (5, 6)}
    assert errors[5] < 2e-2 < errors[6]


# --- provenance -------------------------------------------------------------------------------


def test_image_folder_hashes_its_processor_and_no_tokenizer(
    saved: dict[str, tuple[Path, torch.nn.Module]], tmp_path: Path
):
    folder = _copy(saved, "vit", tmp_path)
    hashes = folder_hashes(folder)
    assert set(hashes) == {"folder", "config", "weights", "preprocessor"}
    assert len(set(hashes.values())) == 4
    _edit(folder / PREPROCESSOR, image_std=[0.5, 0.5, 0.5])
    changed = folder_hashes(folder)
    assert {k for k in hashes if hashes[k] != changed[k]} == {"folder", "preprocessor"}
