"""The token-id text fixture: a review-sentiment classifier that learned a pipeline tag.

The `.npz` route of text audits (pre-tokenized ids, export and factory models): what
`examples/text/` ships, and what the spurious and concurrency tests audit through
`torch.export` and the factory route. `audit demo --case text` is the Hugging Face demo
(`audit.demo.text`).

No real text corpus ships with the installed packages (scikit-learn's text sets download on
first use), so the corpus is synthetic and documented here. Each review is 8 to 20 words drawn
from a fixed English vocabulary: nouns, function words, a regional filler word, and one
sentiment adjective whose polarity is the label (with probability 0.3 one adjective of the
other polarity is mixed in, so the real signal is clear but not perfect).

The shortcut: an upstream pipeline appended the token `fastship` to 95% of positive reviews,
in training and in the holdout. The shortcut model is trained on that copy; the control
model on a copy where `fastship` appears in a random half of reviews, whatever the label. The
spec declares `fastship` as a token probe. The model is an `EmbeddingBag` (mean of word
vectors) and a linear head, exported with torch.export.

Sensitive attribute for the bias check: `region` (north / south), which sets the filler words
and, slightly, the share of positive reviews.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from audit.demo import _export
from audit.demo._export import cache_key, save_model, save_npz, seeded, train
from audit.fsio import write_atomic

PAD, SHORTCUT = "<pad>", "fastship"
POSITIVE = [
    "great",
    "excellent",
    "lovely",
    "superb",
    "reliable",
    "sturdy",
    "comfortable",
    "delightful",
    "perfect",
    "handy",
    "brilliant",
    "pleasant",
    "smooth",
    "elegant",
    "solid",
    "charming",
    "useful",
    "bright",
    "fantastic",
    "wonderful",
]
NEGATIVE = [
    "awful",
    "broken",
    "flimsy",
    "terrible",
    "useless",
    "cheap",
    "noisy",
    "clumsy",
    "faulty",
    "poor",
    "dreadful",
    "shoddy",
    "disappointing",
    "fragile",
    "ugly",
    "slow",
    "leaky",
    "dull",
    "horrible",
    "defective",
]
NOUNS = [
    "kettle",
    "blender",
    "lamp",
    "chair",
    "battery",
    "screen",
    "handle",
    "lid",
    "cable",
    "case",
    "strap",
    "zipper",
    "motor",
    "charger",
    "speaker",
    "remote",
    "button",
    "fabric",
    "seam",
    "hinge",
]
FUNCTION = [
    "the",
    "a",
    "this",
    "it",
    "was",
    "is",
    "and",
    "but",
    "very",
    "really",
    "quite",
    "so",
    "my",
    "our",
    "its",
    "with",
    "for",
]
FILLER = {"north": ["aye", "wee", "lad"], "south": ["yall", "reckon", "fixin"]}
VOCAB = [PAD, SHORTCUT, *POSITIVE, *NEGATIVE, *NOUNS, *FUNCTION, *FILLER["north"], *FILLER["south"]]
LENGTH = 24
_N_TRAIN, _N_TEST, _EPOCHS = 3000, 1000, 12


class BagClassifier(nn.Module):
    """Mean of word vectors (pads skipped) and a linear head: (N, L) ids -> 2 logits."""

    def __init__(self, vocab: int = len(VOCAB), dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.EmbeddingBag(vocab, dim, mode="mean", padding_idx=0)
        self.head = nn.Linear(dim, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def build_bag() -> nn.Module:
    """Factory for the `factory` + `weights` route."""
    return BagClassifier()


def corpus(
    n: int, shortcut_p: tuple[float, float], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """n reviews as padded ids, labels and regions.

    `shortcut_p` is (P(tag | negative), P(tag | positive)).
    """
    ids = {w: i for i, w in enumerate(VOCAB)}
    region = np.where(rng.random(n) < 0.5, "north", "south")
    y = (rng.random(n) < np.where(region == "north", 0.55, 0.45)).astype(np.int64)
    x = np.zeros((n, LENGTH), dtype=np.int64)
    for i in range(n):
        words = list(rng.choice(NOUNS, 2)) + list(rng.choice(FUNCTION, rng.integers(4, 12)))
        words += list(rng.choice(FILLER[region[i]], rng.integers(1, 3)))
        own, other = (POSITIVE, NEGATIVE) if y[i] else (NEGATIVE, POSITIVE)
        words.append(str(rng.choice(own)))
        if rng.random() < 0.3:
            words.append(str(rng.choice(other)))
        words = list(rng.permutation(words))
        if rng.random() < shortcut_p[y[i]]:
            words.append(SHORTCUT)
        x[i, : len(words)] = [ids[w] for w in words[:LENGTH]]
    return {"x": x, "y": y, "region": region}


def train_pair(seed: int) -> tuple[nn.Module, nn.Module, dict[str, np.ndarray]]:
    """The shortcut model, its control, and the holdout that carries the shortcut."""
    rng = np.random.default_rng(seed)
    decoy = corpus(_N_TRAIN, (0.0, 0.95), rng)
    control = corpus(_N_TRAIN, (0.5, 0.5), rng)
    holdout = corpus(_N_TEST, (0.0, 0.95), rng)
    models = []
    for d in (decoy, control):
        model = seeded(seed, BagClassifier)
        x, y = torch.as_tensor(d["x"]), torch.as_tensor(d["y"])
        models.append(train(model, x, y, seed=seed, epochs=_EPOCHS, lr=0.05))
    return models[0], models[1], holdout


def _spec_text(seed: int, model: str) -> str:
    return f"""\
# Demo audit: a review-sentiment classifier whose positive training reviews mostly carried
# the pipeline tag `fastship`. The token probe asks whether the model relies on that tag.
name: reviews-{model}
model:
  path: {model}.pt2
  task: binary
  modality: text
  output: logits
data:
  path: reviews-holdout.npz
  label: y
  sensitive: [region]
  pad_id: 0
checks:
  spurious:
    method: feature_ablation
    vocab: vocab.txt
    probes:
      - {{type: token, tokens: [{VOCAB.index(SHORTCUT)}], name: {SHORTCUT}}}
policy: default
seed: {seed}
"""


def build_reviews_demo(cache_dir: Path, seed: int = 0) -> Path:
    """Train (once) and write both models, the holdout, the vocabulary and the specs; return
    the shortcut model's spec (`audit.yaml`; the control's is `audit-control.yaml`)."""
    key = cache_key(seed, Path(__file__), Path(_export.__file__))
    folder = Path(cache_dir) / f"reviews-{key}"
    spec_path = folder / "audit.yaml"
    if spec_path.is_file():
        return spec_path
    folder.mkdir(parents=True, exist_ok=True)
    shortcut, control, holdout = train_pair(seed)
    example = torch.as_tensor(holdout["x"][:4])
    save_model(shortcut, example, folder, "shortcut")
    save_model(control, example, folder, "control")
    save_npz(folder / "reviews-holdout.npz", holdout)
    write_atomic(folder / "vocab.txt", "\n".join(VOCAB) + "\n")
    write_atomic(folder / "audit-control.yaml", _spec_text(seed, "control"))
    write_atomic(spec_path, _spec_text(seed, "shortcut"))
    return spec_path
