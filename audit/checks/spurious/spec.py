"""The `checks.spurious` section of the audit spec: probes (docs/contract.md, section 4) and
attribution."""

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


_NAME = "Label of the probe in metrics and the report; default derived from the probe."
_TARGET = (
    "The class the artifact pushes towards; unset: the class whose probability it raises most."
)


class FeatureProbe(Strict):
    """Tabular: the model should not rely on this column."""

    type: Literal["feature"] = Field(description="`feature`.")
    feature: str = Field(description="The column (one of `data.features`).")
    name: str | None = Field(None, description=_NAME)
    target: int | None = Field(None, description=_TARGET)


class PatchProbe(Strict):
    """Image: an artifact in a rectangle; give exactly one of `value` or `pattern`."""

    type: Literal["patch"] = Field(description="`patch`.")
    region: Annotated[list[int], Field(min_length=4, max_length=4)] | None = Field(
        None,
        description="[row, col, height, width] in pixels of the image as decoded (image files: "
        "before the model's preprocessing); must fit the data's images.",
    )
    fraction: Annotated[list[float], Field(min_length=4, max_length=4)] | None = Field(
        None,
        description="Or [top, left, height, width] as fractions of the image's height and "
        "width (0 to 1), for images of any size.",
    )
    value: float | None = Field(None, description="Fill the region with this value.")
    pattern: Path | None = Field(
        None,
        description="Or paste this `.npy` array, shaped (height, width) or (C, height, width).",
    )
    name: str | None = Field(None, description=_NAME)
    target: int | None = Field(None, description=_TARGET)

    def pixels(self, height: int, width: int) -> list[int]:
        """The region in pixels of an image this size: `region`, or `fraction` rounded (at
        least one pixel each way)."""
        if self.region is not None:
            return list(self.region)
        assert self.fraction is not None  # exactly one is given
        top, left, h, w = self.fraction
        return [
            round(top * height),
            round(left * width),
            max(1, round(h * height)),
            max(1, round(w * width)),
        ]

    def check_fits(self, height: int, width: int, where: str) -> None:
        """Raise a SpecError naming `where` unless the region fits an image of this size."""
        r, c, h, w = region = self.pixels(height, width)
        if r + h > height or c + w > width:
            raise SpecError(
                _PROBE_OUTSIDE.format(region, height, width),
                where=where,
                fix=_PROBE_OUTSIDE_FIX.format(height, width),
            )

    @model_validator(mode="after")
    def _content(self) -> PatchProbe:
        if (self.value is None) == (self.pattern is None):
            raise ValueError("give exactly one of `value` or `pattern` (a .npy file)")
        if (self.region is None) == (self.fraction is None):
            raise ValueError("give exactly one of `region` (pixels) or `fraction`")
        if self.region is not None and (
            self.region[2] <= 0 or self.region[3] <= 0 or min(self.region[:2]) < 0
        ):
            raise ValueError("region is [row, col, height, width] with row, col >= 0 and size > 0")
        if self.fraction is not None and (
            min(self.fraction) < 0
            or min(self.fraction[2:]) <= 0
            or self.fraction[0] + self.fraction[2] > 1
            or self.fraction[1] + self.fraction[3] > 1
        ):
            raise ValueError(
                "fraction is [top, left, height, width], each 0 to 1, with a size > 0 and "
                "top + height, left + width at most 1"
            )
        return self


class TokenProbe(Strict):
    """Pre-tokenized text (`.npz`): token ids the model should not rely on."""

    type: Literal["token"] = Field(description="`token`.")
    tokens: Annotated[list[int], Field(min_length=1)] = Field(
        description="Token ids inserted, at random positions, into rows that lack them."
    )
    name: str | None = Field(None, description=_NAME)
    target: int | None = Field(None, description=_TARGET)


class PhraseProbe(Strict):
    """Raw text: a word or phrase the model should not rely on, edited at word boundaries."""

    type: Literal["phrase"] = Field(description="`phrase`.")
    text: str = Field(
        min_length=1,
        max_length=200,
        description="The phrase, as it would appear in a text (one or more words); the "
        "model's tokenizer splits it, and it is inserted, removed and swapped as a whole.",
    )
    name: str | None = Field(None, description=_NAME)
    target: int | None = Field(None, description=_TARGET)

    @model_validator(mode="after")
    def _words(self) -> PhraseProbe:
        if not any(c.isalnum() for c in self.text):
            raise ValueError("the phrase needs at least one letter or digit")
        return self


Probe = Annotated[FeatureProbe | PatchProbe | TokenProbe | PhraseProbe, Field(discriminator="type")]
AnyProbe = FeatureProbe | PatchProbe | TokenProbe | PhraseProbe


def probe_name(probe: AnyProbe) -> str:
    """A stable label for a probe, used as the `probe` key of its metrics."""
    if probe.name:
        return probe.name
    if isinstance(probe, FeatureProbe):
        return probe.feature
    if isinstance(probe, PatchProbe):
        if probe.region is not None:
            return "patch@" + ",".join(map(str, probe.region))
        return "patch@" + ",".join(f"{f:g}" for f in probe.fraction or ())
    if isinstance(probe, PhraseProbe):
        return probe.text.strip()
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

    probes: list[Probe] = Field(
        [],
        description="The artifacts to test; none declared makes the probe metrics not applicable.",
    )
    method: AttributionMethod | None = Field(
        None, description="captum attribution method; unset picks the modality's default."
    )
    fallback_method: AttributionMethod | None = Field(
        None,
        description="Used when `method` needs hooks the serialized model lacks; unset: an error.",
    )
    sample: int = Field(512, ge=10, description="Rows drawn (seeded) for probes and attributions.")
    location_nulls: int = Field(
        8, ge=1, le=64, description="Random other positions of the location null."
    )
    n_boot: int = Field(1000, ge=10, le=100_000, description="Bootstrap resamples of the CIs.")
    n_steps: int = Field(32, ge=2, le=1024, description="Integrated-gradients steps.")
    batch_size: int = Field(
        64, ge=1, description="Rows per integrated-gradients pass; other methods scale to match."
    )
    sanity_layers: int = Field(
        2, ge=1, description="Top layers randomized for the explainer sanity check."
    )
    examples: int = Field(4, ge=0, le=32, description="Example rows per probe shown in the report.")
    vocab: Path | None = Field(
        None,
        description="Text: one token string per line, line i = token id i; shows words, not ids, "
        "in the report's examples.",
    )
    embedding_layer: str | None = Field(
        None,
        description="Text + factory: module path of the token embedding for "
        "layer_integrated_gradients; unset: the model's only Embedding/EmbeddingBag.",
    )
