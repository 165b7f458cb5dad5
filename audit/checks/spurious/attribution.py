"""Attributions through captum, batched over a slice of rows, plus the explainer sanity check.

`attribute_slice` is the shard function a flow can spread over workers (`audit.checks.rows`):
it attributes any slice of rows in batches (never one example at a time) on the audited model
or a variant of it, and returns plain arrays. Hook-based methods (DeepLift,
LRP, layer methods) need a live `nn.Module`; on a torch.export or TorchScript model they raise
a `ModelError` naming the `factory` + `weights` route, or fall back when the spec allows it.
They hook (and LRP re-weights) the module they run on, so they run on a private copy
(`audit.loaders.model.private_runner`): the other checks keep running forward passes through
the audited module at the same time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
import warnings
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from captum.attr import (
    LRP,
    DeepLift,
    FeatureAblation,
    LayerIntegratedGradients,
    NoiseTunnel,
    Occlusion,
    Saliency,
)
from captum.attr._core.lrp import SUPPORTED_LAYERS_WITH_RULES, SUPPORTED_NON_LINEAR_LAYERS
from captum.attr._utils.approximation_methods import approximation_parameters
from torch import nn

from audit.errors import ModelError, SpecError
from audit.loaders.model import ModelRunner, copy_module, private_runner

_ABLATIONS_PER_EVAL = 16
# Tokens per layer_integrated_gradients pass (model rows x sequence length): a transformer's
# activations grow with both, so long texts take fewer rows per pass (bench/text_attribution.py:
# 2,048 rows of 128 tokens were slower than 32 on one thread, and 512-token rows would need
# gigabytes per layer)
TOKENS_PER_PASS = 16_384
HOOK_METHODS = frozenset({"deeplift", "lrp", "layer_integrated_gradients"})
TEXT_METHODS = frozenset({"layer_integrated_gradients", "feature_ablation", "occlusion"})
RANDOM_METHODS = frozenset({"noise_tunnel"})
# torch's global generator is shared by every thread: a method that draws from it holds this
# lock while it seeds and draws, so concurrent shards (or checks) cannot interleave their
# draws; no other method touches the generator (a fork-and-restore outside the lock would
# reset it under a holder's feet)
_GLOBAL_RNG = threading.Lock()

_SERIALIZED = (
    "{method} registers hooks on the model's layers, which a serialized model ({kind}) does not "
    "support."
)
_SERIALIZED_FIX = (
    "give the model as `factory` + `weights` (a state_dict) in the spec, or set "
    "`checks.spurious.fallback_method` (e.g. integrated_gradients, or feature_ablation for text)."
)
_TEXT_METHOD = "method {method!r} needs float inputs; text models take token ids."
_NO_EMBEDDING = "layer_integrated_gradients needs the model's token embedding layer; {why}"
_BAG_EMBEDDING = (
    "the embedding layer {name!r} pools tokens (EmbeddingBag), so it has no per-token output to "
    "attribute."
)
_LRP_LAYER = (
    "LRP has no rule for layer type {layer}; it supports Linear, Conv2d, pooling, BatchNorm2d "
    "and common activations."
)


@dataclass(frozen=True)
class MethodConfig:
    """What the explainers need besides the rows: method, baseline and batching."""

    method: str
    baseline: np.ndarray  # broadcastable to one row; for text, the pad id
    n_steps: int = 32
    batch_size: int = 64  # rows per integrated-gradients pass; other methods scale to match
    nt_samples: int = 8
    nt_stdev: float = 0.1
    window: tuple[int, ...] | None = None  # occlusion window per row; None = per element
    feature_mask: np.ndarray | None = None  # FeatureAblation groups, broadcastable to one row
    embedding_layer: str | None = None
    seed: int = 0
    # text: ids the baseline keeps in place ([CLS], [SEP], <s>, the pad id); every other
    # token's baseline is the pad id
    special_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Attribution:
    values: np.ndarray  # same shape as the rows; text: (n, L), summed over the embedding
    delta: np.ndarray | None = None  # IG convergence delta per row

    @classmethod
    def concat(cls, parts: Sequence[Attribution]) -> Attribution:
        """The shards of one attribution call, joined in row order."""
        if len(parts) == 1:
            return parts[0]
        deltas = [p.delta for p in parts if p.delta is not None]
        return cls(
            values=np.concatenate([p.values for p in parts]),
            delta=np.concatenate(deltas) if deltas else None,
        )


# The model an attribution runs on: the audited one, a copy with its top layers re-drawn at
# random (the sanity check), or one fed all but a last shadow column it must ignore.
ModelVariant = Literal["model", "randomized", "drop_last"]


class DropLast(nn.Module):
    """Feeds all but the last (shadow) column to the model: a column it provably ignores."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.inner = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x[:, :-1])


def serialized_kind(module: nn.Module) -> str | None:
    if isinstance(module, torch.jit.ScriptModule):
        return "TorchScript"
    if isinstance(module, torch.fx.GraphModule):
        return "torch.export GraphModule"
    return None


def resolve_method(
    method: str | None, fallback: str | None, module: nn.Module, modality: str
) -> str:
    """The method that will actually run: the spec's (or the modality default), checked
    against the model format and the modality."""
    return resolve_method_for(method, fallback, serialized_kind(module), modality)


def resolve_method_for(
    method: str | None, fallback: str | None, kind: str | None, modality: str
) -> str:
    """`resolve_method` from the model's format alone (`kind` as `serialized_kind` names it),
    so a spec can be checked before the model is loaded (audit/preflight.py)."""
    if method is None:
        plain = kind is None
        if modality == "text":
            method = "layer_integrated_gradients" if plain else "feature_ablation"
        else:
            # on images, IG maps are dominated by x - baseline and fail the sanity check
            # (docs/benchmarks.md, explainer sanity); plain gradients pass it
            method = "saliency" if modality == "image" else "integrated_gradients"
    if method in HOOK_METHODS and kind is not None:
        if fallback is None:
            raise ModelError(
                _SERIALIZED.format(method=method, kind=kind),
                where="checks.spurious.method",
                fix=_SERIALIZED_FIX,
            )
        method = fallback
        if method in HOOK_METHODS:
            raise ModelError(
                _SERIALIZED.format(method=method, kind=kind),
                where="checks.spurious.fallback_method",
                fix=_SERIALIZED_FIX,
            )
    if modality == "text" and method not in TEXT_METHODS:
        raise SpecError(
            _TEXT_METHOD.format(method=method),
            where="checks.spurious.method",
            fix="use layer_integrated_gradients (factory models) or feature_ablation.",
        )
    if modality != "text" and method == "layer_integrated_gradients":
        raise SpecError(
            "layer_integrated_gradients is for text embeddings.",
            where="checks.spurious.method",
            fix="use integrated_gradients for tabular and image models.",
        )
    return method


def token_embedding(module: nn.Module, name: str | None) -> tuple[str, nn.Module]:
    """The per-token embedding layer_integrated_gradients attributes to: named, a Hugging Face
    model's own input embedding (`get_input_embeddings()`: its word embeddings, not the
    position or segment ones), or the module's only Embedding."""
    hf = _input_embeddings(module) if name is None else None
    name, layer = hf if hf is not None else _embedding(module, name)
    if isinstance(layer, nn.EmbeddingBag):
        raise ModelError(
            _BAG_EMBEDDING.format(name=name),
            where="checks.spurious.embedding_layer",
            fix="use `method: feature_ablation` (ablates each token to the pad id).",
        )
    return name, layer


def _input_embeddings(module: nn.Module) -> tuple[str, nn.Module] | None:
    """A transformers model's input embedding, itself or wrapped (`HFTextClassifier.model`)."""
    for prefix, model in (("", module), ("model.", getattr(module, "model", None))):
        get = getattr(model, "get_input_embeddings", None)
        if isinstance(model, nn.Module) and callable(get):
            layer = get()
            if isinstance(layer, nn.Module):
                names = {id(m): n for n, m in model.named_modules()}
                return prefix + names.get(id(layer), "get_input_embeddings()"), layer
    return None


def _embedding(module: nn.Module, name: str | None) -> tuple[str, nn.Module]:
    if name is not None:
        try:
            return name, module.get_submodule(name)
        except AttributeError:
            raise ModelError(
                _NO_EMBEDDING.format(why=f"the model has no submodule {name!r}."),
                where="checks.spurious.embedding_layer",
            ) from None
    found = [
        (n, m) for n, m in module.named_modules() if isinstance(m, nn.Embedding | nn.EmbeddingBag)
    ]
    if len(found) != 1:
        raise ModelError(
            _NO_EMBEDDING.format(why=f"found {len(found)} embedding layers."),
            where="checks.spurious.embedding_layer",
            fix="name it in `checks.spurious.embedding_layer` (e.g. `embed`).",
        )
    return found[0]


class _Logits(nn.Module):
    """The raw module as a (N, K) logit model, for hook methods that need a module root."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.inner = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        if out.ndim == 1:
            out = out[:, None]
        if out.shape[1] == 1:  # one binary logit z: class logits (0, z) give sigmoid(z)
            out = torch.cat([torch.zeros_like(out), out], dim=1)
        return out


def _hook_explainer(method: str, runner: ModelRunner) -> Any:
    root = runner.module if runner.output == "logits" else None
    if root is None:
        raise ModelError(
            f"{method} needs a model that outputs logits (`model.output: logits`).",
            where="checks.spurious.method",
            fix="use integrated_gradients, or a model returning logits.",
        )
    if method == "lrp":
        for layer in root.modules():
            if next(layer.children(), None) is None and not _lrp_supported(layer):
                raise ModelError(
                    _LRP_LAYER.format(layer=type(layer).__name__),
                    where="checks.spurious.method",
                    fix="use integrated_gradients, or set a captum LRP rule on that layer.",
                )
        return LRP(_Logits(root))
    return DeepLift(_Logits(root))


def _lrp_supported(layer: nn.Module) -> bool:
    return (
        type(layer) in SUPPORTED_LAYERS_WITH_RULES
        or type(layer) in SUPPORTED_NON_LINEAR_LAYERS
        or hasattr(layer, "rule")
    )


def _input_gradient(
    forward: Any, x: torch.Tensor, target: torch.Tensor, keep: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """d f_target / dx for the first `keep` rows in one backward pass, and f_target of all rows.

    Rows do not interact in an eval-mode model, so the gradient of the summed target scores is
    each row's own gradient. captum's `compute_gradients` instead unbinds the output into one
    scalar per row (measured ~37 us per row-step); the tests check both agree to 1e-6.
    """
    keep = len(x) if keep is None else keep
    with torch.enable_grad():
        leaf = x.detach().requires_grad_()
        chosen = forward(leaf).gather(1, target[:, None])[:, 0]
        (grad,) = torch.autograd.grad(chosen[:keep].sum(), leaf)
    return grad[:keep], chosen.detach()


@functools.cache
def _gauss_legendre(n_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """captum's default IG quadrature (step weights, alphas), computed once per step count."""
    step_sizes_fn, alphas_fn = approximation_parameters("gausslegendre")
    return torch.tensor(step_sizes_fn(n_steps)), torch.tensor(alphas_fn(n_steps))


def _integrated_gradients(
    forward: Any, x: torch.Tensor, base: torch.Tensor, target: torch.Tensor, n_steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """captum's IG (its Gauss-Legendre steps and weights) with one batched backward pass, and
    captum's convergence delta: sum of attributions minus f(x) - f(baseline).

    The end points x and baseline need no gradient, so they go through a forward pass only.
    """
    steps, alphas = (t.to(x.dtype) for t in _gauss_legendre(n_steps))
    shape = (n_steps,) + (1,) * x.ndim
    n, x = len(x), x.detach()
    path = torch.addcmul(base[None], alphas.view(shape), (x - base)[None])
    grads, _ = _input_gradient(forward, path.view(-1, *x.shape[1:]), target.repeat(n_steps))
    weighted = torch.tensordot(steps, grads.view(n_steps, -1), dims=1).view(x.shape)
    attr = weighted * (x - base)
    with torch.no_grad():
        ends = forward(torch.cat([x, base])).gather(1, target.repeat(2)[:, None])[:, 0]
    delta = attr.reshape(n, -1).sum(dim=1) - (ends[:n] - ends[n:])
    return attr.detach(), delta


def text_baseline(x: torch.Tensor, pad: torch.Tensor, special_ids: Sequence[int]) -> torch.Tensor:
    """The pad id (`pad`, broadcast to x) everywhere but at special tokens, which keep their
    ids: attribution then measures each word against its absence, with the sequence's frame
    ([CLS] ... [SEP]) as the model always sees it, and a special token's own attribution is
    zero."""
    keep = torch.isin(x, torch.as_tensor(list(special_ids), dtype=x.dtype, device=x.device))
    return torch.where(keep, x, pad.expand_as(x))


def _attribute_batch(
    method: str, runner: ModelRunner, x: torch.Tensor, target: torch.Tensor, cfg: MethodConfig
) -> tuple[torch.Tensor, torch.Tensor | None]:
    base = torch.as_tensor(cfg.baseline, dtype=x.dtype, device=x.device).expand_as(x)
    if not x.is_floating_point():
        base = text_baseline(x, base, cfg.special_ids)
    forward = runner.scores
    if method == "saliency":
        return _input_gradient(forward, x, target)[0].abs(), None
    if method == "integrated_gradients":
        return _integrated_gradients(forward, x, base, target, cfg.n_steps)
    if method == "noise_tunnel":
        scale = float((x.max() - x.min()).detach()) or 1.0
        return (
            NoiseTunnel(Saliency(forward)).attribute(
                x,
                nt_type="smoothgrad",
                nt_samples=cfg.nt_samples,
                nt_samples_batch_size=cfg.nt_samples,
                stdevs=cfg.nt_stdev * scale,
                target=target,
            ),
            None,
        )
    if method == "occlusion":
        window = cfg.window or (1,) * (x.ndim - 1)
        return (
            Occlusion(forward).attribute(
                x,
                sliding_window_shapes=window,
                strides=window,
                baselines=base,
                target=target,
                perturbations_per_eval=_ABLATIONS_PER_EVAL,
            ),
            None,
        )
    if method == "feature_ablation":
        mask = None
        if cfg.feature_mask is not None:
            mask = torch.as_tensor(cfg.feature_mask, dtype=torch.long).expand_as(x)
        return (
            FeatureAblation(forward).attribute(
                x,
                baselines=base,
                target=target,
                feature_mask=mask,
                perturbations_per_eval=_ABLATIONS_PER_EVAL,
            ),
            None,
        )
    if method == "layer_integrated_gradients":
        _, layer = token_embedding(runner.module, cfg.embedding_layer)
        # the input's attention mask goes in as a forward argument, so the baseline's pass
        # (all pad ids but the specials) attends to the same positions as the input's
        pad = runner.pad_id
        extra = (torch.ne(x, pad).long(),) if runner.takes_mask and pad is not None else None
        attr, delta = LayerIntegratedGradients(forward, layer).attribute(
            x,
            baselines=base,
            target=target,
            additional_forward_args=extra,
            n_steps=cfg.n_steps,
            internal_batch_size=layer_rows_per_pass(cfg, x.shape[1]),
            return_convergence_delta=True,
        )
        return attr.sum(dim=-1), delta
    explainer = _hook_explainer(method, runner)
    with warnings.catch_warnings():
        # captum announces that it hooks the activations; it removes the hooks afterwards
        warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
        return explainer.attribute(x, target=target), None


def layer_rows_per_pass(cfg: MethodConfig, length: int) -> int:
    """Model rows per layer_integrated_gradients pass for sequences of `length` tokens: the
    rows integrated gradients would take (`batch_size * n_steps`), at most TOKENS_PER_PASS
    tokens in all."""
    return max(1, min(cfg.batch_size * cfg.n_steps, TOKENS_PER_PASS // max(1, length)))


def rows_per_batch(cfg: MethodConfig) -> int:
    """Input rows per batch, so every method evaluates about `batch_size * n_steps` model rows
    per pass (the memory integrated gradients needs for `batch_size` rows)."""
    budget = cfg.batch_size * cfg.n_steps
    passes = {
        "saliency": 1,
        "deeplift": 2,
        "lrp": 1,
        "noise_tunnel": cfg.nt_samples,
        "occlusion": _ABLATIONS_PER_EVAL,
        "feature_ablation": _ABLATIONS_PER_EVAL,
    }.get(cfg.method, cfg.n_steps)
    return max(1, budget // passes)


def _batch_seed(seed: int, first_row: int) -> int:
    """A seed per batch, fixed by its place in the whole, so shards draw what one call would."""
    return int(np.random.SeedSequence([seed, first_row]).generate_state(1)[0])


@contextlib.contextmanager
def _seeded_generator() -> Iterator[None]:
    """torch's global generator to this thread alone, restored afterwards."""
    with _GLOBAL_RNG, torch.random.fork_rng(devices=[]):
        yield


def attribute_rows(
    runner: ModelRunner,
    x: np.ndarray,
    target: np.ndarray,
    cfg: MethodConfig,
    *,
    first_row: int = 0,
) -> Attribution:
    """Attributions for a slice of rows towards `target`, in batches (`rows_per_batch`).

    The slice can be any subset of the sample, starting at `first_row` of it, so a flow can
    split the sample into shards and concatenate the results; batching and per-batch seeds
    keep the output identical across shardings. A hook method changes `runner`'s module while
    it runs: give it a runner no other thread uses (`attribute_slice` does).
    """
    values, deltas = [], []
    rows = rows_per_batch(cfg)
    draws = cfg.method in RANDOM_METHODS
    with _seeded_generator() if draws else contextlib.nullcontext():
        for start in range(0, len(x), rows):
            if draws:
                torch.manual_seed(_batch_seed(cfg.seed, first_row + start))
            xb = runner.as_tensor(x[start : start + rows])
            tb = torch.as_tensor(target[start : start + rows], dtype=torch.long)
            if xb.is_floating_point():
                xb.requires_grad_()  # gradient methods need it; captum warns when it sets it
            attr, delta = _attribute_batch(cfg.method, runner, xb, tb, cfg)
            values.append(attr.detach().cpu().numpy())
            if delta is not None:
                deltas.append(delta.detach().cpu().numpy())
    return Attribution(
        values=np.concatenate(values) if values else np.zeros((0, *x.shape[1:])),
        delta=np.concatenate(deltas) if deltas else None,
    )


def randomized_runner(runner: ModelRunner, seed: int, layers: int = 2) -> ModelRunner:
    """A copy of the model whose top `layers` weight layers are re-drawn at random (same scale).

    Adebayo et al. (2018): a faithful explainer's maps must change when the weights do.
    """
    module = copy_module(runner.module)
    params: list[tuple[str, torch.Tensor]] = list(module.named_parameters())
    if not params:
        params = [(n, b) for n, b in module.named_buffers() if b.is_floating_point()]
    weights = [i for i, (_, p) in enumerate(params) if p.ndim >= 2]
    if not weights:
        raise ModelError("the model has no weight matrices to randomize for the sanity check.")
    first = weights[-min(layers, len(weights))]
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in params[first:]:
            scale = float(p.std()) if p.numel() > 1 else 1.0
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * (scale or 1.0))
    return dataclasses.replace(runner, module=module)


_RANDOMIZED: weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, int], nn.Module]] = (
    weakref.WeakKeyDictionary()
)
_RANDOMIZED_LOCK = threading.Lock()


def model_variant(
    runner: ModelRunner, variant: ModelVariant, seed: int, layers: int
) -> ModelRunner:
    """The model an attribution runs on; the randomized copy is made once per model."""
    if variant == "model":
        return runner
    if variant == "drop_last":
        return dataclasses.replace(runner, module=DropLast(runner.module))
    with _RANDOMIZED_LOCK:
        made = _RANDOMIZED.setdefault(runner.module, {})
        if (seed, layers) not in made:
            made[(seed, layers)] = randomized_runner(runner, seed, layers).module
        return dataclasses.replace(runner, module=made[(seed, layers)])


def attribute_slice(
    model: ModelRunner,
    rows: slice,
    *,
    cfg: MethodConfig,
    variant: ModelVariant = "model",
    sanity_layers: int = 1,
    x: np.ndarray,
    target: np.ndarray,
) -> Attribution:
    """The shard function: attributions of rows `rows` of the sample, on `variant`.

    A hook method runs on a private copy of the model, and its variants are built on that
    copy, so neither the audited module nor a variant another thread may be using is hooked.
    """
    hooks = cfg.method in HOOK_METHODS
    with private_runner(model) if hooks else contextlib.nullcontext(model) as own:
        runner = model_variant(own, variant, cfg.seed, sanity_layers)
        return attribute_rows(runner, x, target, cfg, first_row=rows.start or 0)
