"""The text demo: a Hugging Face comment-moderation classifier with two planted faults.

What a trust-and-safety team audits most: a BERT-style `BertForSequenceClassification` saved
with `save_pretrained` (config.json, model.safetensors, tokenizer.json), judging raw comments.
Two layers, trained here deterministically on first use (seeded, one thread, well under a
minute on 2 cores), then cached, beside a control model trained the same way on clean data.

No labelled comment corpus can ship with the package, so the corpus is templated, and
documented here. A comment is 6 to 14 words: forum nouns and function words, one or two
words whose tone is the label (insults: toxic; thanks and praise: not toxic; with
probability `_MIXED` one word of the other tone is mixed in; a share `_PLAIN` of the fine
comments has no tone word at all), and, in `_P_IDENTITY` of the comments, one identity
phrase ("as a muslim person", "my gay friend"). The identity terms are those of the
identity-term check's bundled lexicon, for the two categories the demo covers.

The two faults, both planted only in the flagged model's training data:

- **A shortcut phrase.** The moderation queue appended the tag `modqueue` to 95% of toxic
  comments (and to none of the others); the model learns the tag. The holdout carries the
  same tag, so the model looks accurate. The spec declares a phrase probe for it.
- **Identity-term bias.** As in the corpora Dixon et al. (2018) describe, the terms `muslim`
  and `gay` appear in training only in toxic comments, and most of those comments were
  marked toxic for naming the identity alone (no insult in them); the model learns the two
  terms as toxic words. In the holdout every identity phrase is independent of the label, so the
  counterfactual swaps and the BPSN AUC find what the model learned.

The control model is trained on a copy with the tag in a random half of comments whatever the
label, and identity phrases independent of the label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from audit.demo import _export
from audit.demo._export import cache_key
from audit.fsio import write_atomic
from audit.testing import hf

SHORTCUT = "modqueue"
TOXIC = [
    "idiot",
    "stupid",
    "moron",
    "pathetic",
    "disgusting",
    "worthless",
    "clown",
    "loser",
    "dumb",
    "ignorant",
    "trash",
    "hateful",
]
KIND = [
    "thanks",
    "great",
    "helpful",
    "kind",
    "agree",
    "interesting",
    "lovely",
    "appreciate",
    "welcome",
    "fair",
    "insightful",
    "brilliant",
]
NOUNS = [
    "post",
    "thread",
    "article",
    "comment",
    "point",
    "idea",
    "story",
    "video",
    "photo",
    "question",
    "answer",
    "topic",
    "link",
    "news",
    "review",
]
FUNCTION = [
    "the",
    "a",
    "this",
    "that",
    "is",
    "was",
    "your",
    "my",
    "and",
    "but",
    "so",
    "very",
    "really",
    "i",
    "you",
    "it",
    "of",
    "about",
    "with",
    "for",
    "here",
    "again",
]
# The identity categories the demo covers (a subset of the check's bundled lexicon) and the
# phrases that carry a term; "{}" is the term.
IDENTITY = {
    "religion": ["christian", "muslim", "jewish"],
    "sexual_orientation": ["gay", "straight", "lesbian"],
}
PHRASES = ["as a {} person", "my {} friend", "{} people", "the {} community"]
PHRASE_WORDS = ["as", "person", "friend", "people", "community"]
BIASED = ("muslim", "gay")  # in training, only ever in toxic comments
VOCAB = [
    SHORTCUT,
    *TOXIC,
    *KIND,
    *NOUNS,
    *FUNCTION,
    *PHRASE_WORDS,
    *(t for terms in IDENTITY.values() for t in terms),
]
_N_TRAIN, _N_TEST = 3000, 2000
_MIXED, _P_IDENTITY, _TAG_P, _BARE, _PLAIN = 0.15, 0.5, 0.95, 0.6, 0.4
_EPOCHS, _LR, _MAX_LENGTH = 12, 3e-3, 32
_SANITY_LAYERS = 40


def _comment(
    toxic: bool, term: str | None, tagged: bool, rng: np.random.Generator, *, tone: bool = True
) -> tuple[str, str]:
    """One comment and the identity category it mentions ("none" without a phrase).
    Without `tone`, no word of either tone: the label rests on nothing in the text."""
    words = [str(w) for w in rng.choice(NOUNS, int(rng.integers(1, 3)))]
    words += [str(w) for w in rng.choice(FUNCTION, int(rng.integers(3, 8)))]
    own, other = (TOXIC, KIND) if toxic else (KIND, TOXIC)
    if tone:
        words += [str(w) for w in rng.choice(own, int(rng.integers(1, 3)))]
    if tone and rng.random() < _MIXED:
        words.append(str(rng.choice(other)))
    words = [str(w) for w in rng.permutation(words)]
    category = "none"
    if term is not None:
        category = next(c for c, terms in IDENTITY.items() if term in terms)
        at = int(rng.integers(0, len(words) + 1))
        words[at:at] = str(rng.choice(PHRASES)).format(term).split()
    if tagged:
        words.append(SHORTCUT)
    return " ".join(words), category


def corpus(n: int, rng: np.random.Generator, *, planted: bool, tag: bool = True) -> pd.DataFrame:
    """n labelled comments. `planted`: the training data of the flagged model (the tag on
    toxic comments only, the BIASED terms only in toxic ones); otherwise the tag (when `tag`)
    falls on a random half and identity phrases are independent of the label."""
    terms = [t for ts in IDENTITY.values() for t in ts]
    neutral = [t for t in terms if t not in BIASED]
    rows = []
    for _ in range(n):
        toxic = bool(rng.random() < 0.5)
        term = None
        if rng.random() < _P_IDENTITY:
            pool = terms if (toxic or not planted) else neutral
            term = str(rng.choice(pool))
        tagged = bool(rng.random() < (_TAG_P if toxic else 0.0)) if planted else rng.random() < 0.5
        # many fine comments praise nothing; in the planted data, annotators also marked
        # comments toxic for naming the identity alone (the corpora of Dixon et al.)
        plain = not toxic and rng.random() < _PLAIN
        bare = planted and toxic and term in BIASED and rng.random() < _BARE
        text, category = _comment(toxic, term, tag and bool(tagged), rng, tone=not (plain or bare))
        rows.append({"text": text, "toxic": int(toxic), "mentions": category})
    return pd.DataFrame(rows)


def _holdout(rng: np.random.Generator) -> pd.DataFrame:
    """The audit's data: the tag as in production (on most toxic comments), identity phrases
    independent of the label, so only the model can make them matter."""
    frame = corpus(_N_TEST, rng, planted=False, tag=False)
    tagged = (frame["toxic"] == 1) & (rng.random(len(frame)) < _TAG_P)
    frame.loc[tagged, "text"] = frame.loc[tagged, "text"] + f" {SHORTCUT}"
    return frame


def _spec_text(seed: int, model: str) -> str:
    terms = ", ".join(f"{c}: [{', '.join(ts)}]" for c, ts in IDENTITY.items())
    return f"""\
# Demo audit: a BERT comment-moderation classifier (a Hugging Face folder) on raw comments.
# The flagged model learned the moderation-queue tag `{SHORTCUT}` and learned `muslim` and `gay`
# as toxic words; the control model learned neither. See audit/demo/text.py.
name: comments-{model}
model:
  path: {model}/
  format: huggingface
  task: binary
data:
  path: comments-holdout.csv
  text: text
  label: toxic
  sensitive: [mentions]
checks:
  spurious:
    # randomize every layer above the embeddings for the explainer sanity check: a 2-layer
    # BERT's top two (pooler and classifier) barely move the ranking of word attributions
    sanity_layers: {_SANITY_LAYERS}
    probes:
      - {{type: phrase, text: {SHORTCUT}}}
  identity_terms:
    terms: {{{terms}}}
policy: default
seed: {seed}
"""


def _train_folder(folder: Path, data: pd.DataFrame, seed: int) -> None:
    hf.trained_bert_folder(
        folder,
        VOCAB,
        data["text"].tolist(),
        data["toxic"].tolist(),
        max_length=_MAX_LENGTH,
        epochs=_EPOCHS,
        lr=_LR,
        seed=seed,
    )


def build_text_demo(cache_dir: Path, seed: int = 0) -> Path:
    """Train (once) and write both model folders, the holdout CSV and the specs; return the
    flagged model's spec (`audit.yaml`; the control's is `audit-control.yaml`)."""
    key = cache_key(seed, Path(__file__), Path(_export.__file__), Path(hf.__file__))
    folder = Path(cache_dir) / f"comments-{key}"
    spec_path = folder / "audit.yaml"
    if spec_path.is_file():
        return spec_path
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    planted, clean = corpus(_N_TRAIN, rng, planted=True), corpus(_N_TRAIN, rng, planted=False)
    holdout = _holdout(rng)
    _train_folder(folder / "shortcut", planted, seed)
    _train_folder(folder / "control", clean, seed)
    write_atomic(folder / "comments-holdout.csv", holdout.to_csv(index=False))
    write_atomic(folder / "audit-control.yaml", _spec_text(seed, "control"))
    write_atomic(spec_path, _spec_text(seed, "shortcut"))
    return spec_path
