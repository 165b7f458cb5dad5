"""An image model's own preprocessing, run inside the model under audit, differentiably.

Why inside: a probe (a tag in the corner), a corruption (blur, JPEG) and a heatmap all concern
the image as it was taken, while the model reads a resized, cropped and normalized tensor.
Making resize -> crop -> normalize part of the audited module lets every check work in raw
pixels, and gradients (saliency, integrated gradients) flow back through it, so attributions
land on the raw pixels themselves. The semantics are torchvision's `Resize`, `CenterCrop` and
`Normalize` on tensors (antialiased resampling); a Hugging Face image processor is mapped onto
them (`audit.loaders.huggingface.preprocessing_of`), and resamples with PIL instead, so its
pixels can differ from these by a few hundredths (tests/unit/loaders).

`Geometry.to_raw` maps a map over the model's input grid (attention rollout on a ViT) back to
the raw canvas: the adjoint of the resize-and-crop, which gives each model pixel's value to the
raw pixels it was interpolated from, in proportion to their weights. The interpolation weights
of each output pixel sum to one, so the total mass is preserved.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from audit.errors import ModelError
from audit.spec import Preprocessing, Size

_GREY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as Pillow's convert("L")


def _pair(size: Size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def resized_size(canvas: tuple[int, int], resize: Size) -> tuple[int, int]:
    """(height, width) after `Resize(resize)`: an int sets the shorter side, keeping the aspect
    ratio as torchvision does (the longer side is truncated, not rounded)."""
    if not isinstance(resize, int):
        return _pair(resize)
    height, width = canvas
    short, long = sorted((height, width))
    new_long = int(resize * long / short)
    return (resize, new_long) if height <= width else (new_long, resize)


@dataclass(frozen=True)
class Geometry:
    """The resize and centre crop from the raw canvas to the model's input grid."""

    canvas: tuple[int, int]
    resized: tuple[int, int] | None  # None: no resize
    crop: tuple[int, int, int, int] | None  # (top, left, height, width) in the resized image
    interpolation: str = "bilinear"

    @classmethod
    def of(cls, spec: Preprocessing, canvas: tuple[int, int]) -> Geometry:
        resized = resized_size(canvas, spec.resize) if spec.resize is not None else None
        crop = None
        if spec.center_crop is not None:
            height, width = resized or canvas
            ch, cw = _pair(spec.center_crop)
            if ch > height or cw > width:
                raise ModelError(
                    f"the centre crop {ch}x{cw} is larger than the image it crops "
                    f"({height}x{width}, after the resize).",
                    where="model.preprocessing.center_crop",
                    fix="crop at most the resized size, or resize to a larger size first.",
                )
            if spec.crop_offset == "floor":  # Hugging Face image processors
                crop = ((height - ch) // 2, (width - cw) // 2, ch, cw)
            else:  # torchvision's CenterCrop: half the margin, rounded half to even
                crop = (round((height - ch) / 2.0), round((width - cw) / 2.0), ch, cw)
        return cls(canvas, resized, crop, spec.interpolation)

    @property
    def output_size(self) -> tuple[int, int]:
        if self.crop is not None:
            return self.crop[2], self.crop[3]
        return self.resized or self.canvas

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) on the canvas -> (N, C, h, w) on the model's grid (linear in x)."""
        if self.resized is not None and self.resized != tuple(x.shape[-2:]):
            if self.interpolation.startswith("nearest"):
                x = F.interpolate(x, size=self.resized, mode=self.interpolation)
            else:
                x = F.interpolate(
                    x,
                    size=self.resized,
                    mode=self.interpolation,
                    align_corners=False,
                    antialias=True,
                )
        if self.crop is not None:
            top, left, height, width = self.crop
            x = x[..., top : top + height, left : left + width]
        return x

    def to_raw(self, grid_map: torch.Tensor) -> torch.Tensor:
        """A map over the model's grid (N, C, h, w) as one over the canvas (N, C, H, W), its
        total preserved: the adjoint of `apply`, by one backward pass."""
        n, c = grid_map.shape[:2]
        with torch.enable_grad():
            raw = torch.zeros((n, c, *self.canvas), dtype=grid_map.dtype, requires_grad=True)
            (back,) = torch.autograd.grad(self.apply(raw), raw, grad_outputs=grid_map.detach())
        return back


class Preprocess(nn.Module):
    """Raw RGB in [0, 1] on the canvas -> the model's input: channels, geometry, normalization."""

    def __init__(self, spec: Preprocessing, canvas: tuple[int, int]) -> None:
        super().__init__()
        self.spec = spec
        self.geometry = Geometry.of(spec, canvas)
        self.color = spec.color
        mean = torch.tensor(spec.mean or [0.0], dtype=torch.float32)[None, :, None, None]
        std = torch.tensor(spec.std or [1.0], dtype=torch.float32)[None, :, None, None]
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.normalize = spec.mean is not None

    def describe(self) -> dict[str, Any]:
        """As recorded in provenance: the declaration plus the sizes it yields."""
        return {
            **self.spec.model_dump(mode="json"),
            "canvas": list(self.geometry.canvas),
            "model_input": list(self.geometry.output_size),
        }

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        x = raw
        if self.color == "bgr":
            x = x.flip(1)
        elif self.color == "gray":
            weights = torch.tensor(_GREY, dtype=x.dtype, device=x.device)[None, :, None, None]
            x = (x * weights).sum(dim=1, keepdim=True)
        x = self.geometry.apply(x)
        if self.normalize:
            x = (x - self.mean) / self.std
        return x


class Preprocessed(nn.Module):
    """The audited module: the model applied to its own preprocessing of raw pixels."""

    def __init__(self, net: nn.Module, preprocess: Preprocess) -> None:
        super().__init__()
        self.net = net
        self.preprocess = preprocess

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(self.preprocess(raw))
        return out


def preprocessing_sha256(description: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()
