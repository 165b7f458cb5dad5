"""The `checks.spurious` section of the audit spec: probes (contract section 4) and attribution."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from audit.errors import SpecError
from audit.strict import Strict

_PROBE_OUTSIDE = "probe region {0} does not fit inside the data's {1}x{2} images."
_PROBE_OUTSIDE_FIX = (
    "give [row, col, height, width] with row + height <= {0} and col + width <= {1}."
)


class FeatureProbe(Strict):
    type: Literal["feature"]
    feature: str
    name: str | None = None
    target: int | None = None


class PatchProbe(Strict):
    type: Literal["patch"]
    region: Annotated[list[int], Field(min_length=4, max_length=4)]
    value: float | None = None
    pattern: Path | None = None
    name: str | None = None
    target: int | None = None

    def check_fits(self, height: int, width: int, where: str) -> None:
        """Raise a SpecError naming `where` unless the region fits an image of this size."""
        r, c, h, w = self.region
        if r + h > height or c + w > width:
            raise SpecError(
                _PROBE_OUTSIDE.format(self.region, height, width),
                where=where,
                fix=_PROBE_OUTSIDE_FIX.format(height, width),
            )

    @model_validator(mode="after")
    def _content(self) -> PatchProbe:
        if (self.value is None) == (self.pattern is None):
            raise ValueError("give exactly one of `value` or `pattern` (a .npy file)")
        if self.region[2] <= 0 or self.region[3] <= 0 or min(self.region[:2]) < 0:
            raise ValueError("region is [row, col, height, width] with row, col >= 0 and size > 0")
        return self


class TokenProbe(Strict):
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


class SpuriousSpec(Strict):
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
