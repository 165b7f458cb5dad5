"""captum methods behind `attribute_rows`: model formats, modalities, batching, sanity copy."""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from audit.checks.spurious import attribution as attr
from audit.errors import ModelError, SpecError
from audit.loaders.model import ModelRunner, private_runner


class _Mlp(nn.Module):
    def __init__(self, act: nn.Module | None = None) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), act or nn.ReLU(), nn.Linear(8, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _TokenMean(nn.Module):
    """Embedding + masked mean: per-token layer attributions exist."""

    def __init__(self, bag: bool = False) -> None:
        super().__init__()
        self.embed = (
            nn.EmbeddingBag(20, 4, padding_idx=0) if bag else nn.Embedding(20, 4, padding_idx=0)
        )
        self.head = nn.Linear(4, 2)
        self.bag = bag

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bag:
            return self.head(self.embed(x))
        return self.head(self.embed(x).mean(dim=1))


def _runner(module: nn.Module, dtype: torch.dtype = torch.float32) -> ModelRunner:
    torch.manual_seed(0)
    for p in module.parameters():
        p.requires_grad_(False)
    if not isinstance(module, torch.fx.GraphModule):
        module.eval()
    return ModelRunner(
        module=module,
        task="binary",
        output="logits",
        decision_threshold=0.5,
        device="cpu",
        input_dtype=dtype,
    )


def _seeded(cls, *args):
    torch.manual_seed(0)
    return cls(*args)


def _x(n: int = 10) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)


def _script(module: nn.Module) -> nn.Module:
    with warnings.catch_warnings():  # torch.jit.script is deprecated, TorchScript files are not
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(module)


def _exported(module: nn.Module) -> nn.Module:
    example = torch.zeros(4, 4)
    batch = torch.export.Dim("batch", min=1)
    return torch.export.export(module, (example,), dynamic_shapes=({0: batch},)).module()


@pytest.mark.parametrize("kind", ["export", "script"])
@pytest.mark.parametrize("method", ["deeplift", "lrp"])
def test_hook_methods_on_serialized_models_name_the_factory_route(kind: str, method: str) -> None:
    module = _seeded(_Mlp)
    serialized = _exported(module) if kind == "export" else _script(module)
    with pytest.raises(ModelError) as err:
        attr.resolve_method(method, None, serialized, "tabular")
    assert "`factory` + `weights`" in str(err.value)
    assert err.value.message == attr._SERIALIZED.format(
        method=method, kind=attr.serialized_kind(serialized)
    )


def test_fallback_method_is_used_on_a_serialized_model() -> None:
    serialized = _exported(_seeded(_Mlp))
    assert (
        attr.resolve_method("deeplift", "integrated_gradients", serialized, "tabular")
        == "integrated_gradients"
    )
    with pytest.raises(ModelError):
        attr.resolve_method("deeplift", "lrp", serialized, "tabular")


@pytest.mark.parametrize(
    "method", ["saliency", "integrated_gradients", "noise_tunnel", "occlusion", "feature_ablation"]
)
def test_input_methods_run_on_an_exported_model(method: str) -> None:
    runner = _runner(_exported(_seeded(_Mlp)))
    x = _x()
    cfg = attr.MethodConfig(method=method, baseline=np.zeros(4, np.float32), batch_size=4)
    out = attr.attribute_rows(runner, x, np.ones(len(x), int), cfg)
    assert out.values.shape == x.shape and np.isfinite(out.values).all()
    assert (out.delta is not None) == (method == "integrated_gradients")


@pytest.mark.parametrize("method", ["deeplift", "lrp"])
def test_hook_methods_run_on_a_live_module(method: str) -> None:
    runner = _runner(_seeded(_Mlp))
    x = _x()
    cfg = attr.MethodConfig(method=method, baseline=np.zeros(4, np.float32))
    out = attr.attribute_rows(runner, x, np.ones(len(x), int), cfg)
    assert out.values.shape == x.shape and np.abs(out.values).sum() > 0


def test_lrp_names_the_unsupported_layer() -> None:
    runner = _runner(_seeded(_Mlp, nn.ELU()))
    cfg = attr.MethodConfig(method="lrp", baseline=np.zeros(4, np.float32))
    with pytest.raises(ModelError) as err:
        attr.attribute_rows(runner, _x(), np.ones(10, int), cfg)
    assert err.value.message == attr._LRP_LAYER.format(layer="ELU")


def test_text_needs_a_token_method() -> None:
    with pytest.raises(SpecError, match="token ids"):
        attr.resolve_method("saliency", None, _TokenMean(), "text")
    assert attr.resolve_method(None, None, _TokenMean(), "text") == "layer_integrated_gradients"
    assert attr.resolve_method(None, None, _script(_TokenMean()), "text") == "feature_ablation"


def _ids() -> np.ndarray:
    x = np.random.default_rng(0).integers(1, 20, (6, 7))
    x[:, 5:] = 0
    return x


def test_layer_integrated_gradients_gives_one_value_per_token() -> None:
    runner = _runner(_seeded(_TokenMean), torch.int64)
    cfg = attr.MethodConfig(method="layer_integrated_gradients", baseline=np.array(0), n_steps=16)
    out = attr.attribute_rows(runner, _ids(), np.ones(6, int), cfg)
    assert out.values.shape == (6, 7)
    assert np.allclose(out.values[:, 5:], 0.0)  # pads equal the baseline
    assert out.delta is not None and np.abs(out.delta).max() < 1e-2


def test_layer_method_refuses_a_pooling_embedding() -> None:
    runner = _runner(_seeded(_TokenMean, True), torch.int64)
    cfg = attr.MethodConfig(method="layer_integrated_gradients", baseline=np.array(0))
    with pytest.raises(ModelError, match="EmbeddingBag"):
        attr.attribute_rows(runner, _ids(), np.ones(6, int), cfg)


def test_feature_ablation_on_token_ids_of_a_serialized_bag_model() -> None:
    module = _seeded(_TokenMean, True)
    runner = _runner(_script(module), torch.int64)
    cfg = attr.MethodConfig(method="feature_ablation", baseline=np.array(0))
    out = attr.attribute_rows(runner, _ids(), np.ones(6, int), cfg)
    assert out.values.shape == (6, 7) and np.allclose(out.values[:, 5:], 0.0)


@pytest.mark.parametrize("method", ["integrated_gradients", "feature_ablation", "noise_tunnel"])
def test_shards_concatenate_to_the_whole(method: str) -> None:
    runner = _runner(_seeded(_Mlp))
    x = _x(24)
    t = np.ones(24, int)
    cfg = attr.MethodConfig(method=method, baseline=np.zeros(4, np.float32), batch_size=8)
    whole = attr.attribute_rows(runner, x, t, cfg).values
    parts = [
        attr.attribute_rows(runner, x[s : s + 8], t[s : s + 8], cfg).values for s in (0, 8, 16)
    ]
    # noise tunnel is seeded per call, so only deterministic methods shard bit-for-bit
    if method != "noise_tunnel":
        assert np.allclose(np.concatenate(parts), whole, atol=1e-6)
    again = attr.attribute_rows(runner, x, t, cfg).values
    assert np.array_equal(whole, again)


def test_randomized_runner_redraws_only_the_top_layers() -> None:
    runner = _runner(_seeded(_Mlp))
    rand = attr.randomized_runner(runner, seed=0, layers=1)
    before = dict(runner.module.named_parameters())
    after = dict(rand.module.named_parameters())
    assert torch.equal(before["net.0.weight"], after["net.0.weight"])
    assert not torch.equal(before["net.2.weight"], after["net.2.weight"])
    assert not torch.equal(before["net.2.bias"], after["net.2.bias"])


def test_randomized_runner_works_on_an_exported_model() -> None:
    runner = _runner(_exported(_seeded(_Mlp)))
    rand = attr.randomized_runner(runner, seed=0, layers=2)
    x = torch.as_tensor(_x())
    assert not torch.allclose(runner.scores(x), rand.scores(x))


class _Cnn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16, 3),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.mark.parametrize("model", ["mlp", "cnn", "exported"])
def test_batched_gradients_match_captum(model: str) -> None:
    """The one-backward fast path for saliency and IG equals captum's own result."""
    from captum.attr import IntegratedGradients, Saliency

    if model == "cnn":
        module, x = _seeded(_Cnn), np.random.default_rng(0).normal(size=(9, 1, 4, 4))
    else:
        module, x = _seeded(_Mlp), _x(9)
        module = _exported(module) if model == "exported" else module
    x = x.astype(np.float32)
    runner = _runner(module)
    runner.n_classes = 3 if model == "cnn" else 2
    target = np.arange(len(x)) % runner.n_classes
    base = np.full(x.shape[1:], 0.1, np.float32)
    xt, tt = torch.as_tensor(x).requires_grad_(), torch.as_tensor(target)
    ref_sal = Saliency(runner.scores).attribute(xt, target=tt, abs=True)
    ref_ig, ref_delta = IntegratedGradients(runner.scores).attribute(
        xt,
        baselines=torch.as_tensor(base[None]),
        target=tt,
        n_steps=16,
        return_convergence_delta=True,
    )
    for method, ref in (("saliency", ref_sal), ("integrated_gradients", ref_ig)):
        cfg = attr.MethodConfig(method=method, baseline=base, n_steps=16, batch_size=4)
        out = attr.attribute_rows(runner, x, target, cfg)
        np.testing.assert_allclose(out.values, ref.detach().numpy(), atol=1e-6)
        if method == "integrated_gradients":
            np.testing.assert_allclose(out.delta, ref_delta.detach().numpy(), atol=1e-6)


class _Pause(nn.Module):
    """Identity that, in the thread named `attributing`, waits inside the first forward pass
    on a tensor that needs a gradient, where a hook method has its hooks on the module, until
    the test thread has made its own pass. The events are class attributes: a deep copy of
    the model pauses too."""

    inside = threading.Event()
    resume = threading.Event()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mine = threading.current_thread().name == "attributing"
        if mine and x.requires_grad and not _Pause.resume.is_set():
            _Pause.inside.set()
            _Pause.resume.wait(30)
        return x


class _PausedTokenMean(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 4, padding_idx=0)
        self.pause = _Pause()
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = (x != 0).unsqueeze(-1).float()
        return self.head((self.pause(self.embed(x)) * keep).sum(1) / keep.sum(1).clamp(min=1))


class _PausedMlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), _Pause(), nn.Linear(8, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _while_attributing(runner: ModelRunner, x: np.ndarray, method: str, meanwhile: np.ndarray):
    """Attributions of x by `attribute_slice`, and the probabilities of `meanwhile` computed on
    the same runner by another thread while the attribution's hooks are on."""
    _Pause.inside.clear()
    _Pause.resume.clear()
    cfg = attr.MethodConfig(method=method, baseline=np.zeros(x.shape[1:], x.dtype), n_steps=8)
    box: dict[str, Any] = {}

    def attribute() -> None:
        box["attr"] = attr.attribute_slice(
            runner, slice(0, len(x)), cfg=cfg, x=x, target=np.ones(len(x), int)
        )

    worker = threading.Thread(target=attribute, name="attributing")
    worker.start()
    try:
        assert _Pause.inside.wait(30), "the attribution never reached its hooked pass"
        proba = runner.predict_proba(meanwhile)
    finally:
        _Pause.resume.set()
        worker.join(30)
    return box["attr"], proba


def test_a_layer_method_does_not_hook_the_module_other_checks_run() -> None:
    """Issue #16: LayerIntegratedGradients replaced the embedding's output of another check's
    forward pass ("The size of tensor a (2048) must match ... (904)")."""
    runner = _runner(_seeded(_PausedTokenMean), torch.int64)
    other = np.random.default_rng(1).integers(1, 20, (5, 7))
    clean = runner.predict_proba(other)
    out, proba = _while_attributing(runner, _ids(), "layer_integrated_gradients", other)
    np.testing.assert_array_equal(proba, clean)
    _Pause.resume.set()
    cfg = attr.MethodConfig(method="layer_integrated_gradients", baseline=np.zeros((7,)), n_steps=8)
    alone = attr.attribute_slice(runner, slice(0, 6), cfg=cfg, x=_ids(), target=np.ones(6, int))
    np.testing.assert_allclose(out.values, alone.values, atol=1e-6)


def test_a_hook_method_is_not_disturbed_by_another_checks_forward_pass() -> None:
    """DeepLift keeps each layer's activations from its own pass; a forward pass by another
    thread through the same hooked layers used to overwrite them. (LRP refuses the pausing
    layer, which has no LRP rule.)"""
    method = "deeplift"
    runner = _runner(_seeded(_PausedMlp))
    x, other = _x(6), _x(9) * 3
    out, proba = _while_attributing(runner, x, method, other)
    _Pause.resume.set()
    cfg = attr.MethodConfig(method=method, baseline=np.zeros(4, np.float32), n_steps=8)
    alone = attr.attribute_slice(runner, slice(0, 6), cfg=cfg, x=x, target=np.ones(6, int))
    np.testing.assert_allclose(out.values, alone.values, atol=1e-6)
    np.testing.assert_array_equal(proba, runner.predict_proba(other))


def test_private_copies_are_pooled_and_never_the_audited_module() -> None:
    runner = _runner(_seeded(_Mlp))
    with private_runner(runner) as first:
        assert first.module is not runner.module
        with private_runner(runner) as second:  # in use: a second copy
            assert second.module is not first.module
    with private_runner(runner) as again:  # idle copies are reused
        assert again.module in (first.module, second.module)
    x = torch.as_tensor(_x())
    assert torch.equal(again.scores(x), runner.scores(x))
