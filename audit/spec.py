"""The audit spec (contract.md section 2) as pydantic models, and `load_spec`.

Unknown keys are errors; relative paths resolve against the spec file's folder and may not
climb out of it (write an absolute path to mean a file elsewhere).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from audit.errors import SpecError
from audit.validation import describe
from audit.yamlio import YamlSyntaxError, load_yaml, to_plain


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Strict):
    version: str | None = Field(None, max_length=100)  # shown on the report's cover
    path: Path | None = None
    factory: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    weights: Path | None = None
    task: Literal["binary", "multiclass"]
    modality: Literal["tabular", "image", "text"] = "tabular"
    output: Literal["logits", "probabilities"] = "logits"
    decision_threshold: float = Field(0.5, ge=0.0, le=1.0)
    device: Literal["cpu", "cuda"] = "cpu"

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if (self.path is None) == (self.factory is None):
            raise ValueError("give exactly one of `path` (a .pt2/.pt file) or `factory`")
        if self.weights is not None and self.factory is None:
            raise ValueError("`weights` goes with `factory`; a `path` model carries its weights")
        return self


class Binning(_Strict):
    """How to turn a numeric sensitive column into groups."""

    quantiles: int | None = Field(None, ge=2, le=20)
    edges: list[float] | None = None

    @model_validator(mode="after")
    def _one(self) -> Binning:
        if (self.quantiles is None) == (self.edges is None):
            raise ValueError("give exactly one of `quantiles` or `edges`")
        if self.edges is not None and sorted(set(self.edges)) != self.edges:
            raise ValueError("`edges` must be strictly increasing")
        return self


class DataSpec(_Strict):
    path: Path
    label: str
    features: list[str] | None = None
    sensitive: list[str] = []
    pad_id: int = 0
    batch_size: int = Field(4096, ge=1)
    bins: dict[str, Binning] = {}

    @field_validator("features", "sensitive")
    @classmethod
    def _unique(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(set(v)) != len(v):
            dup = sorted({x for x in v if v.count(x) > 1})
            raise ValueError(f"names must be unique; repeated: {', '.join(dup)}")
        return v


class BiasSpec(_Strict):
    """Options of the bias check (methods.md, Bias).

    `bins` mirrors `data.bins` (the runner merges that in); `confidence` left unset means the
    policy's confidence; `max_groups` stops an unbinned numeric or free-text column from
    exploding into thousands of groups, and `max_intersection_groups` leaves out (and reports)
    an intersection split so finely that almost every group is too small to judge.
    """

    intersections: bool = True
    n_boot: int = Field(1000, ge=0, le=100_000)
    confidence: float | None = Field(None, gt=0.5, lt=1.0)
    bins: dict[str, Binning] = {}
    calibration_bins: int = Field(10, ge=2, le=100)
    max_groups: int = Field(50, ge=2, le=10_000)
    max_intersection_groups: int = Field(200, ge=2, le=100_000)


class FeatureProbe(_Strict):
    type: Literal["feature"]
    feature: str
    name: str | None = None
    target: int | None = None


class PatchProbe(_Strict):
    type: Literal["patch"]
    region: Annotated[list[int], Field(min_length=4, max_length=4)]
    value: float | None = None
    pattern: Path | None = None
    name: str | None = None
    target: int | None = None

    @model_validator(mode="after")
    def _content(self) -> PatchProbe:
        if (self.value is None) == (self.pattern is None):
            raise ValueError("give exactly one of `value` or `pattern` (a .npy file)")
        if self.region[2] <= 0 or self.region[3] <= 0 or min(self.region[:2]) < 0:
            raise ValueError("region is [row, col, height, width] with row, col >= 0 and size > 0")
        return self


class TokenProbe(_Strict):
    type: Literal["token"]
    tokens: Annotated[list[int], Field(min_length=1)]
    name: str | None = None
    target: int | None = None


Probe = Annotated[FeatureProbe | PatchProbe | TokenProbe, Field(discriminator="type")]


def probe_name(probe: FeatureProbe | PatchProbe | TokenProbe) -> str:
    """A stable label for a probe, used as the `probe` key of its metrics."""
    if probe.name:
        return probe.name
    if isinstance(probe, FeatureProbe):
        return probe.feature
    if isinstance(probe, PatchProbe):
        return "patch@" + ",".join(map(str, probe.region))
    return "tokens:" + ",".join(map(str, probe.tokens))


AttributionMethod = Literal[
    "saliency",
    "integrated_gradients",
    "deeplift",
    "lrp",
    "noise_tunnel",
    "occlusion",
    "feature_ablation",
    "layer_integrated_gradients",
]


class SpuriousSpec(_Strict):
    """Probes plus how to attribute; `method: null` picks the modality's default
    (tabular integrated_gradients, image saliency; text layer_integrated_gradients, or
    feature_ablation when the model is serialized)."""

    probes: list[Probe] = []
    method: AttributionMethod | None = None
    fallback_method: AttributionMethod | None = None
    sample: int = Field(512, ge=10)
    location_nulls: int = Field(8, ge=1, le=64)
    n_boot: int = Field(1000, ge=10, le=100_000)
    n_steps: int = Field(32, ge=2, le=1024)
    batch_size: int = Field(64, ge=1)
    sanity_layers: int = Field(2, ge=1)
    examples: int = Field(4, ge=0, le=32)
    vocab: Path | None = None  # text: one token string per line, line i = token id i
    embedding_layer: str | None = None  # text + factory: the token embedding's module path


# One value per severity level, severity 1 first (at most five levels).
_Severities = Annotated[list[Annotated[float, Field(gt=0.0)]], Field(min_length=1, max_length=5)]
_Probabilities = Annotated[
    list[Annotated[float, Field(ge=0.0, le=1.0)]], Field(min_length=1, max_length=5)
]


class RobustnessSpec(_Strict):
    """Perturbation families, their five graded severities and the adversarial search.

    Radii are relative so one spec fits any data: tabular in units of each feature's standard
    deviation, images as a fraction of the data's value range.
    """

    sample: int = Field(2000, ge=10)
    batch_size: int = Field(4096, ge=1)
    # Tabular noise scale ε (σ units), and for text the share of tokens edited, per severity.
    severities: _Severities = [0.01, 0.05, 0.1, 0.25, 0.5]
    immutable: list[str] = []
    integer: list[str] = []
    categorical: list[str] = []
    one_hot: list[Annotated[list[str], Field(min_length=2)]] = []
    # Probability that a categorical (or one-hot group) value is redrawn, per severity.
    categorical_flip_p: _Probabilities = [0.01, 0.05, 0.1, 0.25, 0.5]
    neutral_tokens: list[int] = []  # text: ids to insert; default the most frequent ids
    adversarial: bool = True
    epsilon: float = Field(0.1, gt=0.0)  # L∞ radius of FGSM / PGD
    epsilon_l2: float = Field(0.5, gt=0.0)  # L2 radius of PGD
    pgd_steps: int = Field(10, ge=1, le=1000)
    norm: Literal["Linf", "L2"] = "Linf"  # norm of the minimum-flip search
    min_flip_sample: int = Field(100, ge=1)
    min_flip_max: float = Field(1.0, gt=0.0)
    min_flip_step: float = Field(0.01, gt=0.0)

    @model_validator(mode="after")
    def _graded(self) -> RobustnessSpec:
        for name in ("severities", "categorical_flip_p"):
            values = getattr(self, name)
            if sorted(set(values)) != values:
                raise ValueError(f"`{name}` must be strictly increasing (severity 1 first)")
        if len(self.categorical_flip_p) != len(self.severities):
            raise ValueError("`categorical_flip_p` needs one probability per severity")
        if self.min_flip_step * 2 >= self.min_flip_max:
            raise ValueError("`min_flip_step` must be under half of `min_flip_max`")
        return self


class PerformanceSpec(_Strict):
    n_bins: int = Field(10, ge=2, le=100)


class ChecksSpec(_Strict):
    bias: BiasSpec | Literal[False] = BiasSpec()
    spurious: SpuriousSpec | Literal[False] = SpuriousSpec()
    robustness: RobustnessSpec | Literal[False] = RobustnessSpec()
    performance: PerformanceSpec | Literal[False] = PerformanceSpec()

    @field_validator("*", mode="before")
    @classmethod
    def _none_is_default(cls, v: Any) -> Any:
        return {} if v is None else v

    def enabled(self) -> dict[str, Any]:
        return {k: v for k, v in self if v is not False}


class SigningSpec(_Strict):
    key: Path | None = None
    cert: Path | None = None
    pkcs12: Path | None = None
    passphrase_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    tsa_url: str | None = None
    visible: bool = False

    @model_validator(mode="after")
    def _source(self) -> SigningSpec:
        if self.pkcs12 is None and (self.key is None or self.cert is None):
            raise ValueError("give `key` and `cert` (PEM), or `pkcs12` with `passphrase_env`")
        return self


class RunnerSpec(_Strict):
    """Where the flow's tasks run (flows/sharding.py) and whether measurements are cached."""

    kind: Literal["thread", "dask"] = "thread"
    address: str | None = None  # dask scheduler; None starts a LocalCluster
    workers: int = Field(2, ge=1)
    shards: int = Field(4, ge=1)  # row slices per piece of per-row work, one task each (dask)
    check_timeout: float = Field(3600.0, gt=0)
    cache: bool = False  # reuse predictions/measurements across runs (keyed on file hashes)


class AuditSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
    model: ModelSpec
    data: DataSpec
    checks: ChecksSpec = ChecksSpec()
    policy: str = "default"
    seed: int = Field(0, ge=0)
    signing: SigningSpec | None = None
    runner: RunnerSpec = RunnerSpec()


_PATH_FIELDS = (
    ("model", "path"),
    ("model", "weights"),
    ("data", "path"),
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
    if out.checks.spurious is not False:
        probes = [
            p.model_copy(
                update={
                    "pattern": _resolve(p.pattern, base, "checks.spurious.probes.pattern", file)
                }
            )
            if isinstance(p, PatchProbe) and p.pattern is not None
            else p
            for p in out.checks.spurious.probes
        ]
        update: dict[str, Any] = {"probes": probes}
        if out.checks.spurious.vocab is not None:
            update["vocab"] = _resolve(
                out.checks.spurious.vocab, base, "checks.spurious.vocab", file
            )
        checks = out.checks.model_copy(
            update={"spurious": out.checks.spurious.model_copy(update=update)}
        )
        out = out.model_copy(update={"checks": checks})
    return out


def parse_spec(data: Any, *, file: Path, root: Any = None) -> AuditSpec:
    """Validate a parsed mapping as a spec; errors cite `file`."""
    if not isinstance(data, dict):
        raise SpecError(
            "the spec must be a YAML mapping with at least `name`, `model` and `data`.",
            where=str(file),
            fix="see contract.md section 2 for an example.",
        )
    try:
        spec = AuditSpec.model_validate(data)
    except ValidationError as exc:
        lines = describe(exc, file=file, root=root, model=AuditSpec)
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


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks (models and data can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
