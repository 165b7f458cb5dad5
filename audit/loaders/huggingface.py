"""Load a Hugging Face classifier, of text or of images, from a local folder, safely.

Trust-and-safety teams ship classifiers as `save_pretrained` folders: `config.json`,
`model.safetensors` and the tokenizer's files (text) or the image processor's
`preprocessor_config.json` (images). The folder is read offline (`local_files_only=True`; the
hub is never contacted), without `trust_remote_code` (a config that asks for its own Python
classes is refused: running them is running the folder's code), and weights only from
safetensors (a pickle-based `pytorch_model.bin` is refused with the fix to convert it; nothing
is unpickled). The folder checks run before any weights are read, so preflight can refuse a bad
folder within seconds.

An image folder's preprocessing is read from `preprocessor_config.json` as data, never by
instantiating the processor: `preprocessing_of` maps the common processors' resize, crop and
normalization to the audit's own `Preprocessing`, which the audit applies inside the model so
that probes, corruptions and heatmaps work on the decoded image's pixels. What it cannot
reproduce exactly it refuses, naming the key.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import torch
from pydantic import ValidationError
from torch import nn

from audit.errors import ModelError
from audit.spec import Preprocessing, Size
from audit.tokenization import TOKENIZER_FILES, TextEncoder, files_sha256, model_max_length

if TYPE_CHECKING:
    from transformers import PreTrainedModel

CONFIG = "config.json"
SAFETENSORS = ("model.safetensors", "model.safetensors.index.json")
PICKLED = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")
PREPROCESSOR = "preprocessor_config.json"
CONVERT_FIX = (
    'convert it where you trust the file: python -c "from transformers import '
    "{auto} as M; M.from_pretrained('{folder}')"
    ".save_pretrained('{folder}')\" writes model.safetensors; then delete {found}."
)


class Head(NamedTuple):
    """What a modality's folder must hold: its `architectures` suffix and transformers' class."""

    suffix: str
    runs: str  # "the audit runs ..."
    auto: str  # the transformers Auto class that loads it
    example: str  # a built-in class, for the remote-code fix


HEADS = {
    "text": Head(
        "ForSequenceClassification",
        "sequence classifiers",
        "AutoModelForSequenceClassification",
        "BertForSequenceClassification",
    ),
    "image": Head(
        "ForImageClassification",
        "image classifiers",
        "AutoModelForImageClassification",
        "ViTForImageClassification",
    ),
}


def head_of(modality: str) -> Head:
    """The modality's `Head`; a Hugging Face folder is a text or an image classifier."""
    if modality not in HEADS:
        raise ModelError(
            f"a Hugging Face folder holds a text or an image classifier, not a {modality} model.",
            where="model.modality",
            fix="set `modality: text` (a sequence classifier) or `modality: image` (an image "
            "classifier).",
        )
    return HEADS[modality]


def is_huggingface_folder(path: Path) -> bool:
    """A folder holding a `config.json`: the Hugging Face route (format detection)."""
    return path.is_dir() and (path / CONFIG).is_file()


def json_object(path: Path) -> dict[str, Any]:
    """A folder's JSON file (config, image processor), which must hold one object."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"could not read {path.name}: {exc}", where=str(path)) from None
    if not isinstance(content, dict):
        raise ModelError(f"{path.name} must hold a JSON object.", where=str(path))
    return content


def read_config(folder: Path, example: str = HEADS["text"].example) -> dict[str, Any]:
    """The folder's `config.json`, refused when it would need remote code (`example`: a
    built-in class the fix suggests)."""
    if not folder.is_dir():
        raise ModelError("model folder not found.", where=str(folder), fix="check `model.path`.")
    path = folder / CONFIG
    if not path.is_file():
        raise ModelError(
            "not a Hugging Face model folder: it has no config.json.",
            where=str(folder),
            fix="save the model with model.save_pretrained(folder), or point `model.path` at a "
            ".pt2/.pt file.",
        )
    config = json_object(path)
    if "auto_map" in config or config.get("trust_remote_code"):
        raise ModelError(
            "the config asks for the folder's own Python code (`auto_map`); the audit never "
            "runs code shipped with a model (trust_remote_code).",
            where=str(path),
            fix=f"save the model from a transformers class (e.g. {example}) "
            "so that its config names a built-in `model_type`, without `auto_map`.",
        )
    return config


def check_folder(folder: Path, modality: str = "text") -> dict[str, Any]:
    """Everything knowable about the folder without loading it: config, weights, and the
    tokenizer (`text`) or the image processor's preprocessing (`image`)."""
    head = head_of(modality)
    config = read_config(folder, head.example)
    if not any((folder / name).is_file() for name in SAFETENSORS):
        found = [name for name in PICKLED if (folder / name).is_file()]
        if found:
            raise ModelError(
                f"the weights are in {found[0]}, a pickle-based format; loading it could run "
                "arbitrary code, so it is refused (nothing was unpickled).",
                where=str(folder / found[0]),
                fix=CONVERT_FIX.format(auto=head.auto, folder=folder, found=found[0]),
            )
        raise ModelError(
            "the folder has no model.safetensors.",
            where=str(folder),
            fix="save the model with model.save_pretrained(folder) (safetensors by default).",
        )
    architectures = config.get("architectures") or []
    if not any(str(a).endswith(head.suffix) for a in architectures):
        raise ModelError(
            f"the model is a {', '.join(map(str, architectures)) or 'model of no stated class'}"
            f"; the audit runs {head.runs}.",
            where=str(folder / CONFIG),
            fix=f"save a *{head.suffix} model (its `architectures` names it).",
        )
    if modality == "image":
        preprocessing_of(folder)
    elif not (folder / "tokenizer.json").is_file():
        raise ModelError(
            "the folder has no tokenizer.json (a fast tokenizer), which the audit tokenizes "
            "raw text with.",
            where=str(folder),
            fix="save the tokenizer beside the model: tokenizer.save_pretrained(folder).",
        )
    return config


def folder_hashes(folder: Path) -> dict[str, str]:
    """Provenance of a model folder: the whole folder, its config and weights, and the
    `tokenizer` or the image `preprocessor` it carries (each only when its files are there)."""
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    hashes = {
        "folder": files_sha256(folder, files),
        "config": files_sha256(folder, [CONFIG]),
        "weights": files_sha256(folder, [n for n in files if ".safetensors" in n]),
    }
    if any((folder / name).is_file() for name in TOKENIZER_FILES):
        hashes["tokenizer"] = files_sha256(folder, TOKENIZER_FILES)
    if (folder / PREPROCESSOR).is_file():
        hashes["preprocessor"] = files_sha256(folder, [PREPROCESSOR])
    return hashes


def load_encoder(folder: Path, max_length: int | None = None) -> TextEncoder:
    """The folder's own tokenizer (offline, no remote code) as a `TextEncoder`."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            str(folder), local_files_only=True, trust_remote_code=False
        )
    except Exception as exc:
        raise ModelError(
            f"could not load the tokenizer: {type(exc).__name__}: {str(exc).splitlines()[0]}",
            where=str(folder),
            fix="save it with tokenizer.save_pretrained(folder).",
        ) from None
    config = None
    if (folder / CONFIG).is_file():
        config = AutoConfig.from_pretrained(
            str(folder), local_files_only=True, trust_remote_code=False
        )
    limit = model_max_length(tokenizer, config)
    if max_length is not None:
        if max_length > limit:
            raise ModelError(
                f"`data.max_length` {max_length} exceeds the model's maximum of {limit} tokens.",
                where="data.max_length",
                fix=f"give at most {limit}, or leave it unset.",
            )
        limit = max_length
    return TextEncoder(tokenizer, limit, files_sha256(folder, TOKENIZER_FILES))


class HFTextClassifier(nn.Module):
    """A transformers sequence classifier as a module of token ids returning logits.

    The rest of the audit passes one tensor of right-padded ids (as for any text model); the
    attention mask is built here from the padding id unless given, so padding never takes part
    in attention and captum's layer methods see the same masked model.
    """

    def __init__(self, model: PreTrainedModel, pad_id: int) -> None:
        super().__init__()
        self.model = model
        self.pad_id = pad_id

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if attention_mask is None:
            attention_mask = (input_ids != self.pad_id).long()
        logits: torch.Tensor = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        return logits


def _pretrained(modality: str, folder: Path, **options: Any) -> PreTrainedModel:
    """The checked folder's model through the modality's Auto class: safetensors only, offline,
    no remote code."""
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the audit reports its own progress
    auto = getattr(transformers, HEADS[modality].auto)
    try:
        model: PreTrainedModel = auto.from_pretrained(
            str(folder),
            local_files_only=True,
            trust_remote_code=False,
            use_safetensors=True,
            **options,
        )
    except Exception as exc:
        raise ModelError(
            f"could not load the model: {type(exc).__name__}: {str(exc).splitlines()[0]}",
            where=str(folder),
        ) from None
    return model


def load_classifier(folder: Path, device: str) -> HFTextClassifier:
    """Load the folder's sequence classifier (safetensors only, offline, no remote code)."""
    check_folder(folder)
    model = _pretrained("text", folder)
    pad = model.config.pad_token_id
    encoder = load_encoder(folder)
    if pad is not None and int(pad) != encoder.pad_id:
        raise ModelError(
            f"the config's pad_token_id {pad} differs from the tokenizer's {encoder.pad_id}.",
            where=str(folder / CONFIG),
            fix="save model and tokenizer together so that they agree.",
        )
    return HFTextClassifier(model.to(device), encoder.pad_id)


# --- image folders ------------------------------------------------------------------------------

_STANDARD = [0.5, 0.5, 0.5]  # transformers' IMAGENET_STANDARD_MEAN and _STD
_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]  # OPENAI_CLIP_MEAN
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]  # OPENAI_CLIP_STD
_SQUARE_224 = {"height": 224, "width": 224}
# What transformers 5.24 does when a key is absent or null: `BaseImageProcessor._set_attributes`
# takes the class attribute, and `BaseImageProcessor` itself sets only these two.
PROCESSOR_BASE = {"default_to_square": True, "rescale_factor": 1 / 255}
# The image processors whose pixels the audit reproduces, with their class attributes (each
# processor's `models/<name>/image_processing_<name>.py`; the `...Pil` twins carry the same).
# All but ConvNeXT run the backends' standard `_preprocess`: resize, centre crop, rescale,
# normalize (`image_processing_backends.py`). tests/unit/loaders/test_huggingface_vision.py
# checks this table against the installed classes.
PROCESSORS: dict[str, dict[str, Any]] = {
    "ViTImageProcessor": {
        "resample": 2,
        "image_mean": _STANDARD,
        "image_std": _STANDARD,
        "size": {"height": 224, "width": 224},
        "do_resize": True,
        "do_rescale": True,
        "do_normalize": True,
    },
    "DeiTImageProcessor": {
        "resample": 3,
        "image_mean": _STANDARD,
        "image_std": _STANDARD,
        "size": {"height": 256, "width": 256},
        "crop_size": _SQUARE_224,
        "do_resize": True,
        "do_center_crop": True,
        "do_rescale": True,
        "do_normalize": True,
    },
    "BitImageProcessor": {
        "resample": 3,
        "image_mean": _CLIP_MEAN,
        "image_std": _CLIP_STD,
        "size": {"shortest_edge": 224},
        "default_to_square": False,
        "crop_size": _SQUARE_224,
        "do_resize": True,
        "do_center_crop": True,
        "do_rescale": True,
        "do_normalize": True,
        "do_convert_rgb": True,
    },
    "MobileNetV1ImageProcessor": {
        "resample": 2,
        "image_mean": _STANDARD,
        "image_std": _STANDARD,
        "size": {"shortest_edge": 256},
        "default_to_square": False,
        "crop_size": _SQUARE_224,
        "do_resize": True,
        "do_center_crop": True,
        "do_rescale": True,
        "do_normalize": True,
    },
    "ConvNextImageProcessor": {
        "resample": 3,
        "image_mean": _STANDARD,
        "image_std": _STANDARD,
        "size": {"shortest_edge": 384},
        "default_to_square": False,
        "do_resize": True,
        "do_rescale": True,
        "do_normalize": True,
        "crop_pct": 224 / 256,
    },
}
# The `ImagesKwargs` keys the standard pipeline reads (`processing_utils.ImagesKwargs`).
PIPELINE_KEYS = frozenset(
    {
        "do_resize",
        "size",
        "default_to_square",
        "resample",
        "do_center_crop",
        "crop_size",
        "do_rescale",
        "rescale_factor",
        "do_normalize",
        "image_mean",
        "image_std",
        "do_pad",
        "pad_size",
        "data_format",
    }
)
# Keys that name the processor or steer how it runs, not what the pixels become. Converting to
# RGB is what the audit's image decoding does anyway.
_INERT_KEYS = frozenset(
    {
        "image_processor_type",
        "feature_extractor_type",
        "processor_class",
        "do_convert_rgb",
        "input_data_format",
        "device",
        "return_tensors",
        "disable_grouping",
        "image_seq_length",
    }
)
# PIL's resampling filters (`PILImageResampling`) the audit's `interpolation` can name. The
# torchvision backend turns NEAREST into `InterpolationMode.NEAREST_EXACT`.
Interpolation = Literal["bilinear", "bicubic", "nearest-exact"]
# PIL's NEAREST picks the pixel whose centre is nearest, which is torch's "nearest-exact"
_RESAMPLE: dict[int, Interpolation] = {0: "nearest-exact", 2: "bilinear", 3: "bicubic"}
_RESAMPLE_NAMES = {1: "LANCZOS", 4: "BOX", 5: "HAMMING"}
# ConvNeXT warps to a square without cropping from this size on (its `resize`).
_CONVNEXT_WARP = 384
_PROCESSOR_FIX = (
    "save the processor the model was trained with as one of "
    + ", ".join(PROCESSORS)
    + " if its preprocessing is one of theirs (image_processor.save_pretrained(folder)); "
    "otherwise export the model (torch.export) and declare `model.preprocessing` in the spec."
)


class _Refusal:
    """Builds the `ModelError` for one key of one `preprocessor_config.json`."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind

    def __call__(self, key: str, why: str, fix: str = _PROCESSOR_FIX) -> ModelError:
        return ModelError(
            f"`{key}` of the {self.kind}: {why}; the audit reproduces a model's preprocessing "
            "exactly or not at all.",
            where=str(self.path),
            fix=fix,
        )


def read_processor(folder: Path) -> dict[str, Any]:
    """The folder's `preprocessor_config.json` as JSON, refused when missing or when it asks for
    the folder's own Python code."""
    path = folder / PREPROCESSOR
    if not path.is_file():
        raise ModelError(
            "the folder has no preprocessor_config.json, which says how the model resizes, crops "
            "and normalizes an image.",
            where=str(folder),
            fix="save the image processor beside the model: "
            "image_processor.save_pretrained(folder).",
        )
    raw = json_object(path)
    if "auto_map" in raw:
        raise ModelError(
            "the image processor asks for the folder's own Python code (`auto_map`); the audit "
            "never runs code shipped with a model (trust_remote_code).",
            where=str(path),
            fix=_PROCESSOR_FIX,
        )
    return raw


def processor_kind(raw: Mapping[str, Any], path: Path) -> str:
    """The processor's class as `PROCESSORS` names it, as `AutoImageProcessor` resolves it: the
    `image_processor_type`, else a legacy `feature_extractor_type` with `FeatureExtractor` read
    as `ImageProcessor`, without the backend suffix (`...Fast`, `...Pil`)."""
    name = raw.get("image_processor_type")
    if name is None and isinstance(legacy := raw.get("feature_extractor_type"), str):
        name = legacy.replace("FeatureExtractor", "ImageProcessor")
    if not isinstance(name, str):
        raise ModelError(
            f"{PREPROCESSOR} names no `image_processor_type`, so its preprocessing is unknown.",
            where=str(path),
            fix=_PROCESSOR_FIX,
        )
    kind = name.removesuffix("Fast").removesuffix("Pil")
    if kind not in PROCESSORS:
        raise ModelError(
            f"the image processor {name} is not one whose preprocessing the audit reproduces "
            f"({', '.join(PROCESSORS)}).",
            where=str(path),
            fix=_PROCESSOR_FIX,
        )
    return kind


def preprocessing_of(folder: Path) -> Preprocessing:
    """The folder's image preprocessing, read from `preprocessor_config.json` (never by running
    the processor), as the audit's `Preprocessing` of [0, 1] RGB pixels.

    A key that is absent or null takes the class's default (`PROCESSORS`), as transformers
    does. The semantics are transformers 5.24's (`image_processing_backends.py`):

    - resize: `size` `{height, width}` warps to exactly that; `{shortest_edge: s}` scales the
      shorter side to s and the longer to `int(s * long / short)`, as torchvision's
      `Resize(int)`. An int `size` is a square when `default_to_square`, else a shortest edge.
    - ConvNeXT (`convnext/image_processing_convnext.py`, `ConvNextImageProcessor.resize`):
      below 384 the shortest edge goes to `int(s / crop_pct)` and the centre s x s is kept;
      from 384 on the image is warped to s x s, uncropped (`crop_pct` unused).
    - centre crop (`do_center_crop`, `crop_size`): the crop's top-left corner is
      `(H - h) // 2, (W - w) // 2`, rounded down (`crop_offset: floor`; torchvision's
      `CenterCrop` rounds to nearest: one pixel apart when `H - h` is 3 mod 4).
    - rescale: `rescale_factor` must be 1/255, which turns 0-255 pixels into the audit's [0, 1].
    - normalize: `(x - image_mean) / image_std` per channel.
    - resample: PIL's 0 nearest (torch's `nearest-exact`), 2 bilinear, 3 bicubic
      (antialiased when shrinking, as PIL and torchvision's `antialias=True` are). LANCZOS,
      BOX and HAMMING are refused, not approximated.

    Refused, with the key: any other key, padding (`do_pad`), sizes bounded by a longest edge
    or by a maximum height and width, a crop larger than the resized image (transformers pads
    it with zeros), and pixels not rescaled to [0, 1].
    """
    raw = read_processor(folder)
    path = folder / PREPROCESSOR
    kind = processor_kind(raw, path)
    refuse = _Refusal(path, kind)
    unknown = sorted(set(raw) - PIPELINE_KEYS - _INERT_KEYS - set(PROCESSORS[kind]))
    if unknown:
        raise refuse(unknown[0], "a setting the audit does not know how this processor applies")
    given = {key: value for key, value in raw.items() if value is not None}
    settings = {**PROCESSOR_BASE, **PROCESSORS[kind], **given}
    if settings.get("do_pad"):
        raise refuse("do_pad", "padding is not reproduced")
    if settings.get("data_format", "channels_first") != "channels_first":
        raise refuse("data_format", "the model's pixels must be channels-first")
    resize, crop = _geometry(kind, settings, refuse)
    mean, std = _normalization(settings, refuse)
    try:
        return Preprocessing(
            resize=resize,
            center_crop=crop,
            mean=mean,
            std=std,
            interpolation=_interpolation(settings, refuse) if resize is not None else "bilinear",
            crop_offset="floor",
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
        raise ModelError(
            f"the {kind}'s preprocessing is invalid: {first}.", where=str(path)
        ) from None


def _pixels(value: Any, key: str, refuse: _Refusal) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise refuse(key, f"sizes are positive whole pixel counts, got {value!r}")
    return value


def _size_dict(value: Any, key: str, square: bool, refuse: _Refusal) -> dict[str, int]:
    """`size` or `crop_size` as the size dict `image_processing_utils.get_size_dict` makes: an
    int is a square (`square`) or a shortest edge, a pair `[height, width]`."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"height": value, "width": value} if square else {"shortest_edge": value}
    elif isinstance(value, list) and len(value) == 2:
        value = {"height": value[0], "width": value[1]}
    if not isinstance(value, dict) or set(value) not in ({"height", "width"}, {"shortest_edge"}):
        raise refuse(
            key, f"the audit reproduces {{height, width}} or {{shortest_edge}}, got {value!r}"
        )
    return {name: _pixels(v, key, refuse) for name, v in value.items()}


def _geometry(
    kind: str, settings: Mapping[str, Any], refuse: _Refusal
) -> tuple[Size | None, Size | None]:
    """`(resize, center_crop)` as `Preprocessing` takes them."""
    resize: Size | None = None
    crop: Size | None = None
    if settings.get("do_resize"):
        size = _size_dict(settings.get("size"), "size", settings["default_to_square"], refuse)
        if kind == "ConvNextImageProcessor":
            resize, crop = _convnext(size, settings["crop_pct"], refuse)
        elif "shortest_edge" in size:
            resize = size["shortest_edge"]
        else:
            resize = [size["height"], size["width"]]
    if settings.get("do_center_crop"):
        if crop is not None:
            raise refuse(
                "do_center_crop",
                "ConvNeXT already crops in its resize; a second crop is not reproduced",
            )
        box = _size_dict(settings.get("crop_size"), "crop_size", True, refuse)
        height, width = box["height"], box["width"]
        bound = [resize, resize] if isinstance(resize, int) else resize  # the least it can be
        if bound is not None and (height > bound[0] or width > bound[1]):
            raise refuse(
                "crop_size",
                f"{height} x {width} is larger than the resized image, which "
                "transformers pads with zeros",
            )
        crop = [height, width]
    return resize, crop


def _convnext(size: Mapping[str, int], crop_pct: Any, refuse: _Refusal) -> tuple[Size, Size | None]:
    """ConvNeXT's own resize (`ConvNextImageProcessor.resize`, transformers 5.24)."""
    if "shortest_edge" not in size:
        raise refuse("size", "ConvNeXT needs {shortest_edge}")
    edge = size["shortest_edge"]
    if edge >= _CONVNEXT_WARP:
        return [edge, edge], None
    if isinstance(crop_pct, bool) or not isinstance(crop_pct, int | float) or not 0 < crop_pct <= 1:
        raise refuse("crop_pct", f"a fraction in (0, 1] is needed, got {crop_pct!r}")
    return int(edge / crop_pct), edge


def _normalization(
    settings: Mapping[str, Any], refuse: _Refusal
) -> tuple[list[float] | None, list[float] | None]:
    """`(mean, std)` of [0, 1] pixels, after checking they are rescaled to [0, 1]."""
    factor = settings.get("rescale_factor")
    if not settings.get("do_rescale"):
        raise refuse(
            "do_rescale",
            "without it the model reads 0-255 pixels from a PIL image, but [0, 1] ones from "
            "float input, and which it was trained on is unknown",
            fix="if the model was trained on [0, 1] pixels, set do_rescale: true and "
            "rescale_factor: 1/255 (the same for [0, 1] input).",
        )
    if not isinstance(factor, int | float) or not math.isclose(factor, 1 / 255, rel_tol=1e-6):
        raise refuse(
            "rescale_factor",
            f"{factor!r} is not 1/255, which maps 0-255 pixels to the audit's [0, 1]",
        )
    if not settings.get("do_normalize"):
        return None, None
    return (
        _channels(settings.get("image_mean"), "image_mean", refuse),
        _channels(settings.get("image_std"), "image_std", refuse),
    )


def _channels(value: Any, key: str, refuse: _Refusal) -> list[float]:
    """`image_mean` or `image_std`: a number, or one per channel."""
    values = value if isinstance(value, list) else [value]
    if not values or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ):
        raise refuse(key, f"a number per channel is needed, got {value!r}")
    return [float(v) for v in values]


def _interpolation(settings: Mapping[str, Any], refuse: _Refusal) -> Interpolation:
    resample = settings.get("resample")
    if isinstance(resample, int) and not isinstance(resample, bool) and resample in _RESAMPLE:
        return _RESAMPLE[resample]
    named = _RESAMPLE_NAMES.get(resample) if isinstance(resample, int) else None
    raise refuse(
        "resample",
        f"{named or repr(resample)} resampling is not one the audit applies (nearest, bilinear, "
        "bicubic)",
    )


class HFImageClassifier(nn.Module):
    """A transformers image classifier as a module of preprocessed `pixel_values` (N, C, H, W)
    returning logits; the audit's own `Preprocessing` runs before it."""

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.model(pixel_values=pixel_values).logits
        return logits


def load_image_classifier(folder: Path, device: str) -> HFImageClassifier:
    """Load the folder's image classifier (safetensors only, offline, no remote code).

    Attention is the eager implementation, the one that can return its attention weights
    (`output_attentions=True`; SDPA returns none), for attention rollout; a model without
    attention (ResNet, ConvNeXT) loads alike, as eager is every model's fallback.
    """
    check_folder(folder, "image")
    model = _pretrained("image", folder, attn_implementation="eager")
    return HFImageClassifier(model.to(device))
