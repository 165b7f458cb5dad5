"""Raw text to the model's token ids, with the word structure the text checks edit and explain.

Why one encoder object: every text check turns strings into ids the same way the model's own
tokenizer does (its special tokens, its truncation at the model's maximum length, its padding
id), and needs to know which tokens make up which word, so that edits land on word boundaries,
never on `[CLS]`/`[SEP]`/`<s>`/padding, and attributions can be summed from sub-word tokens
back to the words a reviewer reads. Only Hugging Face *fast* tokenizers (a `tokenizer.json`)
give those offsets and word ids; a folder with only a slow, Python tokenizer is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from audit.errors import ModelError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# Files a Hugging Face tokenizer may be saved as; their hashes are the tokenizer's provenance.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
)
# A tokenizer's `model_max_length` when none was saved (transformers' VERY_LARGE_INTEGER).
_UNSET_MAX = 10**6
# RoBERTa-style models offset positions by the padding index: 514 positions hold 512 tokens.
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert", "longformer", "bart", "mbart"}


@dataclass(frozen=True)
class EncodedText:
    """Token ids of a batch of texts, right-padded to the longest row."""

    ids: np.ndarray  # int64 (N, L), padded with the encoder's pad id
    word_ids: np.ndarray  # int64 (N, L): word index of each token; -1 for specials and padding
    truncated: np.ndarray  # bool (N,): the text was cut at the model's maximum length


@dataclass(frozen=True)
class Word:
    """One word of a text as the tokenizer splits it: its string, its character span in the
    text, and the token ids it takes there."""

    text: str
    span: tuple[int, int]
    ids: tuple[int, ...]


def files_sha256(folder: Path, names: Sequence[str]) -> str:
    """One hash over the named files that exist in `folder` (name and content of each)."""
    digest = hashlib.sha256()
    for name in sorted(names):
        path = folder / name
        if path.is_file():
            digest.update(name.encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def model_max_length(tokenizer: PreTrainedTokenizerBase, config: Any | None) -> int:
    """The longest input the model takes: the tokenizer's saved limit, else the config's
    position table (less the RoBERTa-style padding offset)."""
    saved = int(getattr(tokenizer, "model_max_length", _UNSET_MAX) or _UNSET_MAX)
    positions = getattr(config, "max_position_embeddings", None) if config is not None else None
    if positions is not None and getattr(config, "model_type", "") in _OFFSET_POSITIONS:
        positions -= int(getattr(config, "pad_token_id", 1) or 1) + 1
    limits = [n for n in (saved if saved < _UNSET_MAX else None, positions) if n is not None]
    if not limits:
        raise ModelError(
            "the tokenizer saves no maximum length and the model config has no "
            "`max_position_embeddings`.",
            fix="set `data.max_length` to the longest input the model accepts.",
        )
    return min(limits)


class TextEncoder:
    """A model's tokenizer, fixed to that model's maximum length."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, max_length: int, sha256: str) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise ModelError(
                "the tokenizer is a slow (Python) tokenizer; word-level edits and explanations "
                "need a fast one (`tokenizer.json`).",
                fix="save it with a fast tokenizer: AutoTokenizer.from_pretrained(folder)"
                ".save_pretrained(folder) writes tokenizer.json.",
            )
        if tokenizer.pad_token_id is None:
            raise ModelError(
                "the tokenizer has no padding token, so batches cannot be padded.",
                fix="set one before saving: tokenizer.pad_token = tokenizer.eos_token (or add "
                "a [PAD] token and resize the model's embeddings).",
            )
        self._tokenizer = tokenizer
        self.max_length = int(max_length)
        self.sha256 = sha256
        self.pad_id = int(tokenizer.pad_token_id)
        # [UNK] stands for a real word of the text: it may be edited and explained
        self.special_ids = frozenset(
            int(i) for i in tokenizer.all_special_ids if i != tokenizer.unk_token_id
        )
        self.vocab_size = len(tokenizer)

    def encode(self, texts: Sequence[str]) -> EncodedText:
        """Tokenize with the model's special tokens, truncating at its maximum length."""
        if not texts:
            empty = np.zeros((0, 0), dtype=np.int64)
            return EncodedText(ids=empty, word_ids=empty, truncated=np.zeros(0, dtype=bool))
        batch = self._tokenizer(
            list(texts),
            truncation=True,
            max_length=self.max_length,
            padding="longest",
            return_attention_mask=False,
        )
        width = max(len(row) for row in batch["input_ids"])
        ids = np.full((len(texts), width), self.pad_id, dtype=np.int64)
        words = np.full((len(texts), width), -1, dtype=np.int64)
        for i, row in enumerate(batch["input_ids"]):
            ids[i, : len(row)] = row
            words[i, : len(row)] = [-1 if w is None else w for w in batch.word_ids(i)]
        truncated = np.array([bool(e.overflowing) for e in batch.encodings], dtype=bool)
        return EncodedText(ids=ids, word_ids=words, truncated=truncated)

    def words(self, text: str) -> list[tuple[str, tuple[int, int]]]:
        """The words the tokenizer splits `text` into, with their character spans in `text`
        (all of it, not cut at the maximum length)."""
        return [(w.text, w.span) for w in self.segment([text])[0]]

    def segment(self, texts: Sequence[str]) -> list[list[Word]]:
        """Each text's words in order, with their character spans and the token ids each
        takes in that text (all of it, not cut at the maximum length; no special tokens).

        The ids are the word's tokens in context, so comparing them compares what the model
        reads (its normalization, case folding, sub-word split), not the surface strings."""
        if not texts:
            return []
        batch = self._tokenizer(list(texts), add_special_tokens=False)
        out = []
        for text, encoding in zip(texts, batch.encodings, strict=True):
            spans: dict[int, tuple[int, int]] = {}
            ids: dict[int, list[int]] = {}
            for word, tok, (start, end) in zip(
                encoding.word_ids, encoding.ids, encoding.offsets, strict=True
            ):
                if word is None:
                    continue
                low, high = spans.get(word, (start, end))
                spans[word] = (min(low, start), max(high, end))
                ids.setdefault(word, []).append(int(tok))
            out.append(
                [Word(text[a:b], (a, b), tuple(ids[w])) for w, (a, b) in sorted(spans.items())]
            )
        return out

    def tokens(self, ids: Sequence[int]) -> list[str]:
        """Token strings (e.g. `fast`, `##ship`) for ids."""
        return [str(t) for t in self._tokenizer.convert_ids_to_tokens([int(i) for i in ids])]

    def token_count(self, text: str) -> int:
        """Tokens the text takes without special tokens (a phrase's length in tokens)."""
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])
