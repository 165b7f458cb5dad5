"""The tabular demo: an income classifier on UCI Adult, audited for sex and race.

The raw Adult files ship with the package (see `data/ATTRIBUTION.md`). The model is a small
MLP trained deterministically on the training split the first time the demo runs, exported
with `torch.export`, and cached under a key made of the file hashes of its inputs, so every
later run audits byte-identical artifacts.

Encoding: numeric columns stay numeric (the model standardizes them itself); categorical
columns are integer codes in a fixed, sorted vocabulary (the model one-hot encodes them
inside). Sex and race are not model inputs; they are the audit's sensitive attributes.
`fnlwgt`, the census sampling weight, is a model input on purpose: it says nothing about a
person's income, so it is the demo's declared spurious-feature probe.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from audit.fsio import write_atomic
from audit.spec import sha256_file

DATA = Path(__file__).parent / "data"
_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
]
NUMERIC = ["age", "education_num", "hours_per_week", "capital_gain", "capital_loss", "fnlwgt"]
CATEGORICAL = ["workclass", "marital_status", "occupation", "relationship"]
FEATURES = NUMERIC + CATEGORICAL
SENSITIVE = ["sex", "race"]
LABEL = "income"
_LOG_SCALED = {"capital_gain", "capital_loss", "fnlwgt"}


def read_adult(split: str) -> pd.DataFrame:
    """The raw split (`train` or `test`), rows with missing values dropped as the docs advise."""
    name = {"train": "adult.data.gz", "test": "adult.test.gz"}[split]
    frame = pd.read_csv(
        DATA / name,
        names=_COLUMNS,
        skipinitialspace=True,
        header=None if split == "train" else 0,
        na_values="?",
    )
    frame = frame.dropna().reset_index(drop=True)
    frame[LABEL] = frame[LABEL].str.rstrip(".").eq(">50K").astype(np.int64)
    return frame


def vocabularies(train: pd.DataFrame) -> dict[str, list[str]]:
    return {c: sorted(train[c].unique().tolist()) for c in CATEGORICAL}


def encode(frame: pd.DataFrame, vocab: dict[str, list[str]]) -> pd.DataFrame:
    """Model-ready columns (features, sensitive, label); unseen categories are an error."""
    out = frame[NUMERIC].astype(np.float64).copy()
    for col in CATEGORICAL:
        codes = pd.Categorical(frame[col], categories=vocab[col]).codes
        if (codes < 0).any():
            raise ValueError(f"unseen category in {col}")
        out[col] = codes
    out[SENSITIVE] = frame[SENSITIVE]
    out[LABEL] = frame[LABEL]
    return out


class AdultMLP(nn.Module):
    """Standardize numerics, one-hot the categorical codes, then a 2-layer MLP (one logit)."""

    # buffers (`register_buffer`), declared so their type is known
    log_mask: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        mean: torch.Tensor,
        std: torch.Tensor,
        log_mask: torch.Tensor,
        cardinalities: list[int],
    ) -> None:
        super().__init__()
        self.register_buffer("log_mask", log_mask)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.cardinalities = list(cardinalities)
        width = len(mean) + sum(cardinalities)
        self.net = nn.Sequential(nn.Linear(width, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_num = self.mean.shape[0]
        num = x[:, :n_num]
        num = torch.where(self.log_mask, torch.log1p(num.clamp(min=0)), num)
        parts = [(num - self.mean) / self.std]
        for j, k in enumerate(self.cardinalities):
            code = x[:, n_num + j : n_num + j + 1]
            parts.append((code == torch.arange(k, dtype=x.dtype, device=x.device)).to(x.dtype))
        return self.net(torch.cat(parts, dim=1))


def _numeric_matrix(frame: pd.DataFrame) -> torch.Tensor:
    num = frame[NUMERIC].to_numpy(np.float64, copy=True)
    for j, col in enumerate(NUMERIC):
        if col in _LOG_SCALED:
            num[:, j] = np.log1p(num[:, j])
    return torch.tensor(num, dtype=torch.float32)


def train_model(train: pd.DataFrame, vocab: dict[str, list[str]], seed: int) -> AdultMLP:
    """Deterministic full-CPU training: fixed seed, fixed batch order, 8 epochs of Adam."""
    torch.manual_seed(seed)
    enc = encode(train, vocab)
    x = torch.tensor(enc[FEATURES].to_numpy(np.float32))
    y = torch.tensor(enc[LABEL].to_numpy(np.float32))
    num = _numeric_matrix(enc)
    log_mask = torch.tensor([c in _LOG_SCALED for c in NUMERIC], dtype=torch.bool)
    cards = [len(vocab[c]) for c in CATEGORICAL]
    model = AdultMLP(num.mean(0), num.std(0) + 1e-6, log_mask, cards)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(8):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), 256):
            idx = order[start : start + 256]
            optimizer.zero_grad()
            loss_fn(model(x[idx])[:, 0], y[idx]).backward()
            optimizer.step()
    return model.eval()


def _cache_key(seed: int) -> str:
    digest = hashlib.sha256()
    for path in (DATA / "adult.data.gz", DATA / "adult.test.gz", Path(__file__)):
        digest.update(sha256_file(path).encode())
    digest.update(f"seed={seed};torch={torch.__version__}".encode())
    return digest.hexdigest()[:16]


def _spec_text(seed: int, vocab: dict[str, list[str]]) -> str:
    return f"""\
# Demo audit: an income classifier (MLP) on the UCI Adult test split.
name: adult-income-mlp
model:
  path: model.pt2
  task: binary
  modality: tabular
  output: logits
  decision_threshold: 0.5
  device: cpu
data:
  path: adult-test.csv
  label: {LABEL}
  features: {json.dumps(FEATURES)}
  sensitive: {json.dumps(SENSITIVE)}
  categories: {json.dumps(vocab)}
checks:
  bias: {{}}
  spurious:
    method: feature_ablation
    probes:
      - {{type: feature, feature: fnlwgt}}
  robustness:
    integer: [age, education_num, hours_per_week]
    categorical: {json.dumps(CATEGORICAL)}
  performance: {{}}
policy: default
seed: {seed}
"""


def build_tabular_demo(cache: Path, seed: int = 0) -> Path:
    """Train (once) and write model, data and spec into `cache`; return the spec path."""
    folder = cache / f"adult-{_cache_key(seed)}"
    spec_path = folder / "audit.yaml"
    if spec_path.is_file():
        return spec_path
    folder.mkdir(parents=True, exist_ok=True)
    train, test = read_adult("train"), read_adult("test")
    vocab = vocabularies(train)
    model = train_model(train, vocab, seed)
    example = torch.tensor(encode(test, vocab)[FEATURES].to_numpy(np.float32)[:8])
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    tmp = folder / ".model.partial.pt2"
    torch.export.save(program, str(tmp))
    tmp.replace(folder / "model.pt2")
    write_atomic(folder / "adult-test.csv", encode(test, vocab).to_csv(index=False))
    write_atomic(folder / "vocabulary.json", json.dumps(vocab, indent=1))
    write_atomic(spec_path, _spec_text(seed, vocab))
    return spec_path
