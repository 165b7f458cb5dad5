"""The circuits check: which attention heads carry a declared phrase's effect, by ablation.

Per phrase probe, on a seeded sample of texts without the phrase (docs/methods.md,
Attention-head circuits):

1. The phrase is inserted at a random word boundary (`audit.checks.spurious.phrases`); the
   artifact's effect is the mean change in P(target), inserted minus clean.
2. Sweep: every head ablated alone (mean or zero), clean and inserted texts in one batched
   pass per head; a head's ablation effect is the share of the artifact's effect it removes.
3. Circuit: the rows are split in two. On the search half, heads are added in order of their
   single-head effect until their joint ablation removes `share` of the effect (at most
   `max_heads`), then each member the others can do without is dropped (smallest set). On
   the confirmation half, never used to choose: necessity (the share the circuit's ablation
   removes), the null (the same number of other heads, random draws), the
   excess over the null, sufficiency (the circuit's outputs patched from the inserted run into
   the clean run) and the accuracy the circuit's ablation costs on the sampled data.
4. Attention share (descriptive): the attention mass from the first position ([CLS]) onto the
   phrase's tokens over their share of the text's tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np
import torch

from audit import progress
from audit.checks.base import CheckContext, CheckOutput
from audit.checks.circuits.evidence import CircuitsEvidence, ProbeCircuit
from audit.checks.circuits.heads import Edit, Head, HeadRunner, find_sites, pad_to
from audit.checks.circuits.spec import CircuitsSpec
from audit.checks.spurious.phrases import PhraseEditor
from audit.checks.spurious.spec import PhraseProbe, probe_name
from audit.loaders.huggingface import HFTextClassifier
from audit.loaders.model import private_runner
from audit.records import IntervalBasis, Metric
from audit.stats import percentile_interval
from audit.streams import stream

NAME = "circuits"
HEAD_NAMES = ("head_ablation_effect", "head_attention_share")
CIRCUIT_NAMES = (
    "circuit_ablation_effect",
    "circuit_random_null",
    "circuit_null_excess",
    "circuit_patching_recovery",
    "circuit_accuracy_drop",
    "circuit_size",
    "circuit_head",
)
PROBE_NAMES = ("artifact_effect", *HEAD_NAMES, *CIRCUIT_NAMES)
ALL_NAMES = (*PROBE_NAMES, "head_task_importance")
NO_PROBES = (
    "no phrase probe is declared (`checks.circuits.probes` or phrase probes of `checks.spurious`)"
)
ATTENTION_FROM = ("first token", "all positions")  # the `method` of head_attention_share
NO_NULL = "the circuit holds every head, so no other heads are left to draw a null from"
MIN_ROWS = 10  # texts without the phrase needed to measure a probe


def _inapplicable(ctx: CheckContext) -> str | None:
    data = ctx.data
    if data.modality != "text":
        return (
            "attention heads of a text encoder are probed with phrases; "
            f"this is a {data.modality} model"
        )
    if data.texts is None or data.encoder is None:
        return (
            "the data are token ids without their texts or tokenizer (`.npz`); phrases are "
            "inserted in raw text (`data.text`)"
        )
    sites = find_sites(ctx.model.module)
    if isinstance(sites, str):
        return sites
    return None


@dataclass(frozen=True)
class _Stats:
    """Bootstrap weights over rows, shared by every interval of a probe (paired)."""

    weights: np.ndarray  # (n_boot, n) resample counts / n
    confidence: float

    @staticmethod
    def draw(n: int, n_boot: int, rng: np.random.Generator, confidence: float) -> _Stats:
        counts = (
            rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot) if n_boot else np.empty((0, n))
        )
        return _Stats(counts / n, confidence)

    def interval(self, samples: np.ndarray, value: float) -> tuple[float | None, float | None]:
        samples = samples[np.isfinite(samples)]
        if not len(samples):
            return None, None
        lo, hi = percentile_interval(samples, self.confidence)
        return min(float(lo), value), max(float(hi), value)


def _removed(d: np.ndarray, d0: np.ndarray) -> float:
    """Share of the effect `d0` (per row) removed when the per-row effect becomes `d`."""
    base = float(d0.mean())
    return 1.0 - float(d.mean()) / base if base != 0 else float("nan")


class CircuitsCheck:
    """Attention heads carrying a phrase's effect (docs/methods.md, Attention-head circuits)."""

    def measure(self, ctx: CheckContext) -> CheckOutput:
        config = ctx.config if isinstance(ctx.config, CircuitsSpec) else CircuitsSpec()
        probes = list(config.probes or [])
        reason = _inapplicable(ctx)
        if reason is not None:
            return CheckOutput(
                (), CircuitsEvidence(reason=reason), dict.fromkeys(ALL_NAMES, reason)
            )
        # hooks (and the eager-attention switch) on a private copy: the other checks keep
        # running forward passes through the shared module meanwhile (`private_runner`)
        with private_runner(ctx.model) as own:
            sites = find_sites(own.module)
            assert not isinstance(sites, str)
            runner = HeadRunner(own, sites, config.batch_size)
            probe_run = _ProbeRun(ctx, config, runner, config.confidence or ctx.confidence)
            metrics, importance = _task_importance(probe_run)
            results: list[ProbeCircuit] = []
            for probe in probes:
                found, result = probe_run.run(probe)
                metrics += found
                results.append(result)
        not_applicable: dict[str, str] = {}
        if not importance.size:
            not_applicable["head_task_importance"] = "the data have no labels to score"
        if not probes:
            not_applicable |= dict.fromkeys(PROBE_NAMES, NO_PROBES)
        else:
            emitted = {m.name for m in metrics}
            why = "; ".join(f"{r.probe}: {r.reason}" for r in results if r.reason)
            for name in PROBE_NAMES:
                if name not in emitted:
                    not_applicable[name] = why or NO_NULL
        layers = len(sites)
        heads = max(s.n_heads for s in sites)
        evidence = CircuitsEvidence(
            layers=layers,
            heads=heads,
            ablation=config.ablation,
            probes=tuple(results),
            importance=importance,
        )
        return CheckOutput(tuple(metrics), evidence, not_applicable)


@dataclass
class _ProbeRun:
    ctx: CheckContext
    config: CircuitsSpec
    runner: HeadRunner
    confidence: float

    def metric(
        self,
        name: str,
        value: float,
        ci: tuple[float | None, float | None] = (None, None),
        *,
        probe: str,
        n: int,
        head: Head | None = None,
        method: str | None = None,
    ) -> Metric:
        low, high = ci
        return Metric(
            NAME,
            name,
            value,
            probe=probe,
            layer=None if head is None else head[0],
            head=None if head is None else head[1],
            method=method,
            ci_low=low,
            ci_high=high,
            n=n,
            interval=IntervalBasis("percentile", self.confidence) if low is not None else None,
        )

    def run(self, probe: PhraseProbe) -> tuple[list[Metric], ProbeCircuit]:
        ctx, config, runner = self.ctx, self.config, self.runner
        label = probe_name(probe)
        texts, encoder = ctx.data.texts, ctx.data.encoder
        assert texts is not None and encoder is not None
        rng = stream(ctx.seed, NAME, label)
        pick = np.sort(rng.choice(len(texts), min(config.sample, len(texts)), replace=False))
        sample = [texts[int(i)] for i in pick]
        editor = PhraseEditor(probe, encoder, sample)
        rows = np.flatnonzero(~editor.carriers())
        if len(rows) < MIN_ROWS:
            why = f"only {len(rows)} sampled texts lack the phrase (at least {MIN_ROWS} needed)"
            return [], ProbeCircuit(label, reason=why)
        places = [editor.boundaries(editor.rows[int(r)]) for r in rows]
        at = [p[int(rng.integers(len(p)))] for p in places]  # a random word boundary each
        edited = editor.insert(rows, at, [editor.phrase] * len(rows))
        clean_ids = encoder.encode([sample[int(r)] for r in rows]).ids
        length = max(clean_ids.shape[1], edited.ids.shape[1])
        pad = runner.pad_id
        clean, art = pad_to(clean_ids, length, pad), pad_to(edited.ids, length, pad)
        both = np.concatenate([clean, art])
        n = len(rows)
        # per-position means up to the model's maximum length, for any text ablated later
        means = runner.means(clean, encoder.max_length) if config.ablation == "mean" else None
        marked = np.zeros(art.shape, dtype=bool)
        marked[:, : edited.ids.shape[1]] = edited.token_mask()

        base = runner.proba(both)
        shift = (base[n:] - base[:n]).mean(0)
        target = probe.target if probe.target is not None else int(np.argmax(shift))
        d0 = base[n:, target] - base[:n, target]
        stats = _Stats.draw(
            n, config.n_boot, stream(ctx.seed, NAME, label, "boot"), self.confidence
        )
        effect = float(d0.mean())
        metrics = [
            self.metric(
                "artifact_effect",
                effect,
                stats.interval(stats.weights @ d0, effect),
                probe=label,
                n=n,
            )
        ]
        share_grid = self._attention(art, marked, label, n, metrics)
        result = ProbeCircuit(label, target=target, effect=effect, n=n, attention=share_grid)
        if effect < config.min_effect:  # shares of an effect this small are shares of noise
            why = (
                f"the phrase moves P(class {target}) by {effect:.3f} on average, below "
                f"`min_effect` {config.min_effect}: no effect to explain"
            )
            return metrics, _replace(result, reason=why)
        # sweep: one pass of clean + inserted texts per head
        heads = runner.heads
        swept_rows = []
        with progress.stage(f"Circuits: ablating each head ({label})", total=len(heads)) as shown:
            for h in heads:
                swept_rows.append(self._effect(runner.proba(both, Edit.of([h], means)), n, target))
                shown.advance()
        sweep = np.stack(swept_rows)  # (heads, n)
        boot_base = stats.weights @ d0  # (n_boot,)
        boot_heads = stats.weights @ sweep.T  # (n_boot, heads)
        removed = np.array([_removed(sweep[k], d0) for k in range(len(heads))])
        grid = np.full((len(runner.sites), max(s.n_heads for s in runner.sites)), np.nan)
        for k, h in enumerate(heads):
            value = float(removed[k])
            grid[h] = value
            ci = stats.interval(1.0 - boot_heads[:, k] / boot_base, value)
            metrics.append(self.metric("head_ablation_effect", value, ci, probe=label, n=n, head=h))
        result = _replace(result, ablation=grid)
        more, details = self._circuit(
            rng, label, (d0, sweep, removed), heads, both, marked, means, target
        )
        metrics += more
        circuit = tuple((int(m.layer), int(m.head)) for m in more if m.name == "circuit_head")  # type: ignore[arg-type]
        result = _replace(result, circuit=circuit, **details)
        return metrics, result

    def _effect(self, proba: np.ndarray, n: int, target: int) -> np.ndarray:
        return proba[n:, target] - proba[:n, target]

    def _attention(
        self, art: np.ndarray, marked: np.ndarray, label: str, n: int, metrics: list[Metric]
    ) -> np.ndarray:
        """Enrichment of attention onto the phrase's tokens per head, from the first position
        (the heatmap's) and averaged over every position (`method`)."""
        masses = _attention_mass(self.runner, art, marked)  # layers x (n, H, 2)
        real = art != self.runner.pad_id
        share = marked.sum(1) / real.sum(1)  # (n,)
        sites = self.runner.sites
        grid = np.full((len(sites), max(s.n_heads for s in sites)), np.nan)
        stats = _Stats.draw(
            n, self.config.n_boot, stream(self.ctx.seed, NAME, label, "attention"), self.confidence
        )
        for layer, mass in enumerate(masses):
            for k, method in enumerate(ATTENTION_FROM):
                enrich = mass[..., k] / share[:, None]  # (n, H)
                boot = stats.weights @ enrich
                for h in range(enrich.shape[1]):
                    value = float(enrich[:, h].mean())
                    if k == 0:
                        grid[layer, h] = value
                    metrics.append(
                        self.metric(
                            "head_attention_share",
                            value,
                            stats.interval(boot[:, h], value),
                            probe=label,
                            n=n,
                            head=(layer, h),
                            method=method,
                        )
                    )
        return grid

    def _circuit(
        self,
        rng: np.random.Generator,
        label: str,
        swept: tuple[np.ndarray, np.ndarray, np.ndarray],
        heads: list[Head],
        both: np.ndarray,
        marked: np.ndarray,
        means: dict[int, torch.Tensor] | None,
        target: int,
    ) -> tuple[list[Metric], dict[str, object]]:
        """Search on one half of the rows, confirm on the other (module docstring, 3)."""
        config, runner = self.config, self.runner
        n = len(marked)
        order = rng.permutation(n)
        search, confirm = np.sort(order[: n // 2]), np.sort(order[n // 2 :])

        def rows_of(part: np.ndarray) -> np.ndarray:
            return np.concatenate([both[:n][part], both[n:][part]])

        s_both, c_both = rows_of(search), rows_of(confirm)
        d0, sweep, removed_all = swept
        s_base = d0[search]
        single = np.array([_removed(sweep[k, search], s_base) for k in range(len(heads))])
        ranked = [heads[k] for k in np.argsort(-np.nan_to_num(single, nan=-np.inf), kind="stable")]
        circuit: list[Head] = []
        reached = float("nan")
        for h in ranked[: config.max_heads]:
            circuit.append(h)
            d = self._effect(runner.proba(s_both, Edit.of(circuit, means)), len(search), target)
            reached = _removed(d, s_base)
            if reached >= config.share:
                break
        if reached >= config.share:  # prune: drop members the rest can do without (smallest)
            for h in list(circuit[:-1]):
                rest = [g for g in circuit if g != h]
                d = self._effect(runner.proba(s_both, Edit.of(rest, means)), len(search), target)
                if _removed(d, s_base) >= config.share:
                    circuit, reached = rest, _removed(d, s_base)
        label_stream = stream(self.ctx.seed, NAME, "confirm", *map(str, circuit))
        m = len(confirm)
        c0 = self._effect(runner.proba(c_both), m, target)
        if not float(c0.mean()) > 0:
            return [], {"reason": "the effect vanishes on the confirmation half of the texts"}
        dc = self._effect(runner.proba(c_both, Edit.of(circuit, means)), m, target)
        stats = _Stats.draw(m, config.n_boot, label_stream, self.confidence)
        b0 = stats.weights @ c0
        necessity = _removed(dc, c0)
        boot_nec = 1.0 - (stats.weights @ dc) / b0
        # null: the same number of other heads
        others = [h for h in heads if h not in circuit]
        k = len(circuit)
        draws: list[tuple[Head, ...]]
        if len(others) < k:
            draws = []
        elif comb(len(others), k) <= config.random_draws:
            draws = list(combinations(others, k))
        else:
            draws = [
                tuple(others[i] for i in sorted(rng.choice(len(others), k, replace=False)))
                for _ in range(config.random_draws)
            ]
        null_d = (
            np.stack(
                [
                    self._effect(runner.proba(c_both, Edit.of(list(dr), means)), m, target)
                    for dr in draws
                ]
            )
            if draws
            else np.empty((0, m))
        )
        null_values = np.array([_removed(d, c0) for d in null_d])
        # patching: circuit outputs from the inserted run into the clean run
        clean_c, art_c = both[:n][confirm], both[n:][confirm]
        layers = sorted({h[0] for h in circuit})
        source = runner.contexts(art_c, layers)
        align = torch.as_tensor(_alignment(clean_c, art_c, runner.pad_id, marked[confirm]))
        patch: dict[int, list[int]] = {}
        for layer, head in circuit:
            patch.setdefault(layer, []).append(head)
        patched = runner.proba(clean_c, Edit(patch=patch, source=source, align=align))
        p_clean = runner.proba(clean_c)
        dp = patched[:, target] - p_clean[:, target]
        recovery = float(dp.mean()) / float(c0.mean())
        boot_rec = (stats.weights @ dp) / b0
        out = [
            self.metric("circuit_size", float(k), probe=label, n=len(search)),
            self.metric(
                "circuit_ablation_effect",
                necessity,
                stats.interval(boot_nec, necessity),
                probe=label,
                n=m,
            ),
            self.metric(
                "circuit_patching_recovery",
                recovery,
                stats.interval(boot_rec, recovery),
                probe=label,
                n=m,
            ),
        ]
        null = float("nan")
        if len(null_values):
            null = float(null_values.mean())
            null_ci = stats.interval(null_values, null) if len(null_values) > 1 else (None, None)
            out.append(
                self.metric("circuit_random_null", null, null_ci, probe=label, n=len(null_values))
            )
            boot_null = 1.0 - (stats.weights @ null_d.T) / b0[:, None]  # (n_boot, draws)
            excess = necessity - null
            out.append(
                self.metric(
                    "circuit_null_excess",
                    excess,
                    stats.interval(boot_nec - boot_null.mean(1), excess),
                    probe=label,
                    n=m,
                )
            )
        drop, drop_ci, acc_n = self._accuracy_drop(circuit, means)
        if acc_n:
            out.append(self.metric("circuit_accuracy_drop", drop, drop_ci, probe=label, n=acc_n))
        index = {h: i for i, h in enumerate(heads)}
        for h in circuit:
            value = float(np.nan_to_num(removed_all[index[h]]))
            out.append(self.metric("circuit_head", value, probe=label, n=n, head=h))
        details: dict[str, object] = {
            "reached": reached,
            "necessity": necessity,
            "null": null,
            "recovery": recovery,
            "accuracy_drop": drop if acc_n else float("nan"),
            "found": bool(reached >= config.share),
        }
        return out, details

    def _accuracy_drop(
        self, circuit: list[Head], means: dict[int, torch.Tensor] | None
    ) -> tuple[float, tuple[float | None, float | None], int]:
        """Accuracy on the sampled labelled texts as they are, minus with the circuit ablated."""
        ctx, runner = self.ctx, self.runner
        sample = _task_sample(self)
        if sample is None:
            return 0.0, (None, None), 0
        ids, y = sample
        right = ctx.model.decide(runner.proba(ids)) == y
        right_abl = ctx.model.decide(runner.proba(ids, Edit.of(circuit, means))) == y
        diff = right.astype(float) - right_abl.astype(float)
        rng = stream(ctx.seed, NAME, "accuracy", "boot", *map(str, circuit))
        stats = _Stats.draw(len(y), self.config.n_boot, rng, self.confidence)
        value = float(diff.mean())
        return value, stats.interval(stats.weights @ diff, value), len(y)


def _task_sample(run: _ProbeRun) -> tuple[np.ndarray, np.ndarray] | None:
    """The seeded sample of labelled texts as they are (ids, labels), or None without labels."""
    ctx = run.ctx
    texts, encoder = ctx.data.texts, ctx.data.encoder
    assert texts is not None and encoder is not None
    y = np.asarray(ctx.data.y)
    if y.ndim != 1 or len(y) != len(texts):
        return None
    rng = stream(ctx.seed, NAME, "accuracy")
    pick = np.sort(rng.choice(len(texts), min(run.config.sample, len(texts)), replace=False))
    return encoder.encode([texts[int(i)] for i in pick]).ids, y[pick].astype(np.int64)


def _task_importance(run: _ProbeRun) -> tuple[list[Metric], np.ndarray]:
    """Per head, the mean increase of the cross-entropy of the true label when the head is
    ablated (Michel et al. 2019's head importance, measured by ablation), on the labelled
    sample as it is; ablation means are taken over the same texts."""
    sample = _task_sample(run)
    runner = run.runner
    if sample is None:
        return [], np.empty((0, 0))
    ids, y = sample
    means = runner.means(ids, ids.shape[1]) if run.config.ablation == "mean" else None
    eps = 1e-12
    base = -np.log(np.clip(runner.proba(ids)[np.arange(len(y)), y], eps, None))
    stats = _Stats.draw(
        len(y), run.config.n_boot, stream(run.ctx.seed, NAME, "importance"), run.confidence
    )
    grid = np.full((len(runner.sites), max(s.n_heads for s in runner.sites)), np.nan)
    metrics = []
    with progress.stage("Circuits: head importance for the task", total=len(runner.heads)) as shown:
        changes = []
        for head in runner.heads:
            p = runner.proba(ids, Edit.of([head], means))[np.arange(len(y)), y]
            changes.append(-np.log(np.clip(p, eps, None)) - base)
            shown.advance()
    for head, change in zip(runner.heads, changes, strict=True):
        value = float(change.mean())
        grid[head] = value
        ci = stats.interval(stats.weights @ change, value)
        metrics.append(
            Metric(
                NAME,
                "head_task_importance",
                value,
                layer=head[0],
                head=head[1],
                ci_low=ci[0],
                ci_high=ci[1],
                n=len(y),
                interval=IntervalBasis("percentile", run.confidence) if ci[0] is not None else None,
            )
        )
    return metrics, grid


def _replace(result: ProbeCircuit, **changes: object) -> ProbeCircuit:
    from dataclasses import replace

    return replace(result, **changes)  # type: ignore[arg-type]


def _alignment(clean: np.ndarray, art: np.ndarray, pad: int, phrase: np.ndarray) -> np.ndarray:
    """(n, L) for each clean position, the inserted text's position holding the same token
    (its tokens in order, the phrase's skipped); -1 where there is none, which patching leaves
    as it is: padding, and in a text the insertion made longer than the maximum length (its
    end cut off, so the order no longer matches) every token after the insertion point."""
    keep = (art != pad) & ~phrase
    order = np.argsort(~keep, axis=1, kind="stable")  # each row: kept positions first, in order
    real = clean != pad
    rank = np.cumsum(real, axis=1) - 1  # a clean token's index among the row's tokens
    whole = keep.sum(1, keepdims=True) == real.sum(1, keepdims=True)
    first = np.where(phrase.any(1), phrase.argmax(1), phrase.shape[1])[:, None]
    before = np.arange(clean.shape[1])[None, :] < first
    ok = real & (whole | before)
    taken = np.take_along_axis(order, np.clip(rank, 0, order.shape[1] - 1), axis=1)
    return np.where(ok, taken, -1).astype(np.int64)


def _attention_mass(runner: HeadRunner, ids: np.ndarray, marked: np.ndarray) -> list[np.ndarray]:
    """Per layer, (n, heads, 2) attention mass onto the `marked` tokens from the first position
    and averaged over every real position, reduced batch by batch (a sample's full attention
    maps are never held). The model is switched to eager attention for the call (sdpa does not
    return them) and back after."""
    module = runner.runner.module
    assert isinstance(module, HFTextClassifier)
    model = module.model
    before = model.config._attn_implementation
    x = torch.as_tensor(ids, dtype=torch.long, device=runner.device)
    mask = torch.ne(x, runner.pad_id).long()
    onto = torch.as_tensor(marked, dtype=torch.float32, device=runner.device)
    parts: list[list[np.ndarray]] = []
    try:
        model.set_attn_implementation("eager")
        with torch.no_grad():
            for start in range(0, len(x), runner.batch_size):
                rows = slice(start, start + runner.batch_size)
                out = model(input_ids=x[rows], attention_mask=mask[rows], output_attentions=True)
                real = mask[rows].float()[:, None, :]  # (B, 1, L) over query positions
                layers = []
                for a in out.attentions:
                    mass = (a.float() * onto[rows, None, None, :]).sum(-1)  # (B, H, Lq)
                    every = (mass * real).sum(-1) / real.sum(-1)
                    layers.append(torch.stack([mass[..., 0], every], -1).double().cpu().numpy())
                parts.append(layers)
    finally:
        model.set_attn_implementation(before)
    return [np.concatenate([p[layer] for p in parts]) for layer in range(len(parts[0]))]
