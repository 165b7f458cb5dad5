"""The audit spec (docs/contract.md, section 2) as pydantic models, and `load_spec`.

Unknown keys are errors; relative paths resolve against the spec file's folder and may not
climb out of it (write an absolute path to mean a file elsewhere).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from audit.binning import Binning
from audit.errors import SpecError
from audit.plugin import PathResolver
from audit.registry import plugins
from audit.strict import Strict
from audit.validation import describe
from audit.yamlio import YamlSyntaxError, load_yaml, to_plain

Pair = Annotated[list[int], Field(min_length=2, max_length=2)]
Size = int | Pair


class Preprocessing(Strict):
    """How an image model turns a decoded image (RGB, values in [0, 1]) into its input, as
    torchvision's `Resize`, `CenterCrop` and `Normalize` would. The audit applies it inside the
    model, so probes, corruptions and heatmaps work on the raw image's pixels."""

    resize: Size | None = Field(
        None,
        description="An int: the shorter side to this many pixels, keeping the aspect ratio "
        "(torchvision `Resize(int)`); `[height, width]`: exactly that size. Unset: no resize.",
    )
    center_crop: Size | None = Field(
        None, description="The centre `[height, width]` (an int: a square) kept after resizing."
    )
    mean: list[float] | None = Field(
        None, min_length=1, max_length=3, description="Per-channel mean subtracted (Normalize)."
    )
    std: list[float] | None = Field(
        None, min_length=1, max_length=3, description="Per-channel std divided by (Normalize)."
    )
    color: Literal["rgb", "bgr", "gray"] = Field(
        "rgb", description="The channels the model reads: RGB, BGR, or one grey channel."
    )
    interpolation: Literal["bilinear", "bicubic", "nearest", "nearest-exact"] = Field(
        "bilinear",
        description="Resampling of the resize (antialiased, but the nearest ones): `nearest` "
        "as torchvision's tensors, `nearest-exact` as PIL (Hugging Face processors).",
    )
    crop_offset: Literal["round", "floor"] = Field(
        "round",
        description="Where the centre crop starts: half the margin rounded (torchvision's "
        "CenterCrop) or rounded down (Hugging Face processors); one pixel apart at most.",
    )

    @field_validator("resize", "center_crop")
    @classmethod
    def _positive(cls, v: Size | None) -> Size | None:
        sizes = (v,) if isinstance(v, int) else (v or ())
        if any(s < 1 for s in sizes):
            raise ValueError("sizes are positive pixel counts")
        return v

    @model_validator(mode="after")
    def _normalize_pair(self) -> Preprocessing:
        if (self.mean is None) != (self.std is None):
            raise ValueError("give `mean` and `std` together")
        if self.mean is not None and self.std is not None:
            channels = 1 if self.color == "gray" else 3
            if {len(self.mean), len(self.std)} - {1, channels}:
                raise ValueError(f"`mean` and `std` need 1 or {channels} values for `{self.color}`")
            if any(s <= 0 for s in self.std):
                raise ValueError("`std` values must be positive")
        return self


class ModelSpec(Strict):
    """The model under audit: give exactly one of `path` or `factory`."""

    version: str | None = Field(
        None, max_length=100, description="Model version, shown on the report's cover."
    )
    path: Path | None = Field(
        None,
        description="A torch.export archive (`.pt2`), a TorchScript file (`.pt`), or a Hugging "
        "Face `save_pretrained` folder (config.json, model.safetensors, tokenizer files); it "
        "carries its weights.",
    )
    format: Literal["export", "torchscript", "huggingface"] | None = Field(
        None,
        description="How `path` is stored; unset: detected (a folder is `huggingface`, `.pt2` "
        "`export`, `.pt` `torchscript`).",
    )
    inputs: list[Literal["input_ids", "attention_mask"]] = Field(
        ["input_ids"],
        description="Text, export/TorchScript/factory models: the tensors the model takes, in "
        "order; `[input_ids, attention_mask]` passes the mask (1 on real tokens) as well.",
    )
    factory: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="`module:callable` returning an `nn.Module`, instead of `path`; needed by "
        "the hook-based attribution methods (deeplift, lrp, layer_integrated_gradients).",
    )
    weights: Path | None = Field(
        None,
        description="With `factory`: a `state_dict` file, loaded with `weights_only=True`.",
    )
    task: Literal["binary", "multiclass"] = Field(
        description="`binary` (two classes, or one logit) or `multiclass`."
    )
    modality: Literal["tabular", "image", "text"] = Field(
        "tabular", description="What the model reads; decides the loaders and perturbations."
    )
    output: Literal["logits", "probabilities"] = Field(
        "logits", description="What the model returns: raw logits or class probabilities."
    )
    decision_threshold: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Binary only: predict class 1 when P(class 1) >= this threshold.",
    )
    device: Literal["cpu", "cuda"] = Field("cpu", description="Where the model runs.")
    preprocessing: Preprocessing | None = Field(
        None,
        description="Image files with an export/TorchScript/factory model (required there): "
        "the model's resize, crop and normalization; `{}` when it takes the decoded image as "
        "is. A Hugging Face vision folder's own `preprocessor_config.json` is used instead.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if (self.path is None) == (self.factory is None):
            raise ValueError("give exactly one of `path` (a .pt2/.pt file) or `factory`")
        if self.weights is not None and self.factory is None:
            raise ValueError("`weights` goes with `factory`; a `path` model carries its weights")
        if self.format == "huggingface" and self.inputs != ["input_ids"]:
            raise ValueError("a `huggingface` model builds its own attention mask; drop `inputs`")
        if self.inputs[0] != "input_ids" or len(set(self.inputs)) != len(self.inputs):
            raise ValueError("`inputs` is [input_ids] or [input_ids, attention_mask]")
        return self

    def source_format(self) -> Literal["export", "torchscript", "huggingface", "factory"]:
        """The loader route: the declared `format`, else detected from `path`."""
        if self.factory is not None:
            return "factory"
        if self.format is not None:
            return self.format
        assert self.path is not None  # guaranteed by _one_source
        if self.path.is_dir():
            return "huggingface"
        return "export" if self.path.suffix.lower() == ".pt2" else "torchscript"


class DataSpec(Strict):
    """The audit dataset: tabular `.csv`/`.parquet`, raw text in `.csv`/`.parquet`/`.jsonl`,
    image files (a folder per class, or a manifest), or `.npz` arrays for preprocessed images
    and pre-tokenized text."""

    path: Path = Field(
        description="Tabular: `.csv` or `.parquet`; raw text (with `text`): `.csv`, `.parquet` "
        "or `.jsonl`; image files: a folder with one sub-folder of images per class, or (with "
        "`image`) a `.csv`/`.parquet` manifest; preprocessed images and pre-tokenized text: "
        "`.npz` holding `x`, the label array and one array per sensitive attribute."
    )
    label: str | None = Field(
        None,
        description="The label column (tabular, text, image manifest) or array name (`.npz`); "
        "required but for an image folder, whose labels are its sub-folders.",
    )
    image: str | None = Field(
        None,
        description="Image files listed in a CSV/Parquet manifest (`path`): the column holding "
        "each image's path, relative to `root`.",
    )
    root: Path | None = Field(
        None,
        description="Image manifest: the folder its paths are relative to (default: the "
        "manifest's folder); no path may leave it.",
    )
    image_size: Pair | None = Field(
        None,
        description="Image files: `[height, width]` every image is resized to when decoded; "
        "unset, all images must have one size. Probe regions are in these pixels.",
    )
    text: str | None = Field(
        None,
        description="Text: the column of raw text; the model's tokenizer tokenizes it (with "
        "attention masks, truncation at the model's maximum length).",
    )
    tokenizer: Path | None = Field(
        None,
        description="Raw text with an export/TorchScript/factory model: a Hugging Face "
        "tokenizer folder (`tokenizer.json`); a `huggingface` model uses its own.",
    )
    max_length: int | None = Field(
        None, ge=2, description="Raw text: truncate at this many tokens (at most the model's)."
    )
    features: list[str] | None = Field(
        None,
        description="Tabular (required there): the model's input columns, in model input order.",
    )
    sensitive: list[str] = Field(
        [], description="Columns or arrays whose groups the bias check compares."
    )
    pad_id: int = Field(0, description="Text: the token id used for padding.")
    batch_size: int = Field(4096, ge=1, description="Rows per prediction batch.")
    bins: dict[str, Binning] = Field(
        {}, description="Per numeric sensitive column: how to cut it into groups."
    )
    categories: dict[str, Annotated[list[str], Field(min_length=1)]] = Field(
        {},
        description="Tabular: the labels of integer-coded feature columns (code i is the "
        "i-th label), so the report shows `Private`, not `2`.",
    )

    def label_name(self) -> str:
        """The label's column or array name (every layout but an image folder names one)."""
        if self.label is None:
            raise SpecError(
                "the data names no label.",
                where="data.label",
                fix="set `data.label` to the label's column (or `.npz` array).",
            )
        return self.label

    @model_validator(mode="after")
    def _images_fields(self) -> DataSpec:
        if self.root is not None and self.image is None:
            raise ValueError("`root` goes with `image` (a manifest's path column)")
        if self.image_size is not None and min(self.image_size) < 1:
            raise ValueError("`image_size` is [height, width] in pixels")
        return self

    @model_validator(mode="after")
    def _categories_are_features(self) -> DataSpec:
        unknown = sorted(set(self.categories) - set(self.features or ()))
        if unknown:
            raise ValueError(
                f"`categories` names {', '.join(unknown)}, not in `features`; list the labels "
                "of feature columns only"
            )
        return self

    @field_validator("features", "sensitive")
    @classmethod
    def _unique(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(set(v)) != len(v):
            dup = sorted({x for x in v if v.count(x) > 1})
            raise ValueError(f"names must be unique; repeated: {', '.join(dup)}")
        return v


class _ChecksBase(Strict):
    """The `checks` section: one field per registered check (`audit.registry`), each its
    check's own spec model, or `false` to switch the check off (`null` means defaults)."""

    @field_validator("*", mode="before")
    @classmethod
    def _none_is_default(cls, v: Any) -> Any:
        return {} if v is None else v

    def section(self, name: str) -> BaseModel | Literal[False]:
        """One check's section (its spec model), or False when the spec switched it off."""
        value: BaseModel | Literal[False] = getattr(self, name)
        return value

    def enabled(self) -> dict[str, BaseModel]:
        """The sections of the checks that run, in registry order."""
        return {k: v for k, v in self if v is not False}


class SigningSpec(Strict):
    """The key that signs the report; without this section, the user's key from
    `audit keys init` (created on first use)."""

    key: Path | None = Field(None, description="PEM private key (with `cert`).")
    cert: Path | None = Field(None, description="PEM certificate of `key`.")
    pkcs12: Path | None = Field(None, description="A PKCS#12 bundle, instead of `key` + `cert`.")
    passphrase_env: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of the environment variable holding the key's passphrase.",
    )
    tsa_url: str | None = Field(
        None, description="RFC 3161 timestamp authority; adds a signed timestamp (PAdES B-T)."
    )
    visible: bool = Field(False, description="Draw a visible signature box on the cover.")

    @model_validator(mode="after")
    def _source(self) -> SigningSpec:
        if self.pkcs12 is None and (self.key is None or self.cert is None):
            raise ValueError("give `key` and `cert` (PEM), or `pkcs12` with `passphrase_env`")
        return self


class RunnerSpec(Strict):
    """Where the flow's tasks run (flows/sharding.py) and whether measurements are cached."""

    kind: Literal["thread", "dask"] = Field(
        "thread", description="Prefect task runner: threads in-process, or a Dask cluster."
    )
    address: str | None = Field(
        None, description="Dask scheduler address (`tcp://host:port`); unset starts a LocalCluster."
    )
    workers: int = Field(
        2, ge=1, description="Dask LocalCluster worker processes (threads: at least 4 run)."
    )
    shards: int = Field(
        4, ge=1, description="Row slices per piece of per-row work, one task each (dask)."
    )
    check_timeout: float = Field(
        3600.0, gt=0, description="Seconds a check may run before it is recorded as `error`."
    )
    cache: bool = Field(
        False, description="Reuse predictions and measurements across runs (keyed on file hashes)."
    )


_CHECKS_DESCRIPTION = "One section per registered check; omitted means defaults, `false` skips."


class _AuditBase(Strict):
    """The audit spec (docs/contract.md, section 2); `checks` gets its fields from the
    registered checks."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
        description="The audit's name; used in output paths and the ledger.",
    )
    model: ModelSpec = Field(description="The model under audit.")
    data: DataSpec = Field(description="The audit dataset.")
    checks: _ChecksBase = Field(default_factory=_ChecksBase, description=_CHECKS_DESCRIPTION)
    policy: str = Field(
        "default",
        description="A shipped policy's name (a file in `policies/`), or a path (it holds a `/` "
        "or ends in `.yaml`/`.yml`) relative to the spec's folder.",
    )
    seed: int = Field(0, ge=0, description="Seed of every random stream of the audit.")
    signing: SigningSpec | None = Field(
        None, description="The key that signs the report; unset: the user's own key."
    )
    runner: RunnerSpec = Field(RunnerSpec(), description="Where the flow's tasks run.")


@functools.cache
def _models() -> tuple[type[_ChecksBase], type[_AuditBase]]:
    """`ChecksSpec` and `AuditSpec`, built from the registry on first use.

    Built lazily (not at import) so that a check's own modules may import this one: the
    registry imports every plugin, and a plugin importing `audit.spec` during a module-level
    build would find it half-initialised.
    """
    fields: dict[str, Any] = {
        name: (
            p.spec_model | Literal[False],
            Field(default_factory=p.spec_model, description=f"{p.title}; `false` skips it."),
        )
        for name, p in plugins().items()
    }
    checks = create_model("ChecksSpec", __base__=_ChecksBase, **fields)
    audit = create_model(
        "AuditSpec",
        __base__=_AuditBase,
        checks=(checks, Field(default_factory=checks, description=_CHECKS_DESCRIPTION)),
    )
    return checks, audit


if TYPE_CHECKING:
    ChecksSpec = _ChecksBase
    AuditSpec = _AuditBase
else:

    def __getattr__(name: str) -> Any:
        if name == "ChecksSpec":
            return _models()[0]
        if name == "AuditSpec":
            return _models()[1]
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_PATH_FIELDS = (
    ("model", "path"),
    ("model", "weights"),
    ("data", "path"),
    ("data", "tokenizer"),
    ("signing", "key"),
    ("signing", "cert"),
    ("signing", "pkcs12"),
)


def _resolve(raw: Path, base: Path, field: str, file: Path) -> Path:
    if "\x00" in str(raw):
        raise SpecError(
            f"field `{field}`: the path holds a NUL character.",
            where=str(file),
            fix="write a plain file path.",
        )
    if raw.is_absolute():
        return raw
    resolved = (base / raw).resolve()
    if not resolved.is_relative_to(base.resolve()):
        raise SpecError(
            f"field `{field}`: relative path {str(raw)!r} climbs out of the spec's folder.",
            where=str(file),
            fix="keep data beside the spec, or write an absolute path.",
        )
    return resolved


def _check_resolver(name: str, base: Path, file: Path) -> PathResolver:
    """Resolves check `name`'s path fields, naming them `checks.<name>.<field>` in errors."""
    return lambda raw, field: _resolve(raw, base, f"checks.{name}.{field}", file)


def _resolve_paths(spec: AuditSpec, file: Path) -> AuditSpec:
    base = file.parent
    updates: dict[str, Any] = {}
    for section, key in _PATH_FIELDS:
        part = getattr(spec, section)
        if part is None or getattr(part, key) is None:
            continue
        value = _resolve(getattr(part, key), base, f"{section}.{key}", file)
        updates.setdefault(section, {})[key] = value
    out = spec.model_copy(
        update={s: getattr(spec, s).model_copy(update=u) for s, u in updates.items()}
    )
    if "modality" not in out.model.model_fields_set and out.model.source_format() == "huggingface":
        # a Hugging Face folder reads what its architecture says (docs/contract.md, 3a and 3b)
        assert out.model.path is not None  # the huggingface route has a path
        modality = _huggingface_modality(out.model.path)
        out = out.model_copy(update={"model": out.model.model_copy(update={"modality": modality})})
    sections = {
        name: plugins()[name].resolve_paths(config, _check_resolver(name, base, file))
        for name, config in out.checks.enabled().items()
    }
    return out.model_copy(update={"checks": out.checks.model_copy(update=sections)})


def parse_spec(data: Any, *, file: Path, root: Any = None) -> AuditSpec:
    """Validate a parsed mapping as a spec; errors cite `file`."""
    if not isinstance(data, dict):
        raise SpecError(
            "the spec must be a YAML mapping with at least `name`, `model` and `data`.",
            where=str(file),
            fix="see docs/contract.md, section 2, and docs/spec.md.",
        )
    try:
        spec = _models()[1].model_validate(data)
    except ValidationError as exc:
        lines = describe(exc, file=file, root=data if root is None else root, model=_models()[1])
        raise SpecError("\n".join(lines)) from None
    return _resolve_paths(spec, file)


def load_spec(path: str | Path) -> AuditSpec:
    """Read and validate a spec file, resolving its relative paths."""
    file = Path(path)
    if not file.is_file():
        raise SpecError("spec file not found.", where=str(file), fix="check the path.")
    try:
        root = load_yaml(file)
    except YamlSyntaxError as exc:
        where = f"{file}:{exc.line}:{exc.col}" if exc.line else str(file)
        raise SpecError(str(exc), where=where, fix="correct the YAML syntax.") from None
    return parse_spec(to_plain(root), file=file, root=root)


def _huggingface_modality(folder: Path) -> str:
    """`image` for a folder whose config names an image classifier, else `text` (an unreadable
    config is the model loader's to report, with its reason)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "text"
    architectures = config.get("architectures") if isinstance(config, dict) else None
    if any(str(a).endswith("ForImageClassification") for a in architectures or ()):
        return "image"
    return "text"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks (models and data can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
