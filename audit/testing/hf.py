"""Tiny Hugging Face text classifiers saved as folders, for tests and demos.

A folder made here is what a user ships: `save_pretrained` writes `config.json`,
`model.safetensors` and the tokenizer's files, and the audit loads it through the same route
as any local Hugging Face model. The tokenizer is a WordPiece over a given word list, built
in code (`tokenizers`) and wrapped in `BertTokenizerFast(tokenizer_object=...)`:
`BertTokenizerFast(vocab_file=...)` mapped every word to `[UNK]` on these machines.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def word_tokenizer(
    words: Sequence[str], *, max_length: int = 64, pieces: Sequence[str] = ()
) -> Any:
    """A lower-casing WordPiece tokenizer knowing `words` (and `##` sub-word `pieces`)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    vocab = {t: i for i, t in enumerate(dict.fromkeys([*SPECIALS, *words, *pieces]))}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return BertTokenizerFast(
        tokenizer_object=tok,
        model_max_length=max_length,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def tiny_classifier(
    vocab_size: int,
    *,
    architecture: Literal["bert", "distilbert"] = "bert",
    layers: int = 2,
    heads: int = 2,
    hidden: int = 16,
    max_length: int = 64,
    seed: int = 0,
) -> Any:
    """An untrained sequence classifier (2 labels) of the given size, seeded."""
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        DistilBertConfig,
        DistilBertForSequenceClassification,
    )

    torch.manual_seed(seed)
    if architecture == "distilbert":
        config = DistilBertConfig(
            vocab_size=vocab_size,
            dim=hidden,
            n_layers=layers,
            n_heads=heads,
            hidden_dim=2 * hidden,
            max_position_embeddings=max_length,
            num_labels=2,
            pad_token_id=0,
        )
        return DistilBertForSequenceClassification(config).eval()
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=max_length,
        num_labels=2,
        pad_token_id=0,
    )
    return BertForSequenceClassification(config).eval()


def tiny_bert_folder(
    folder: Path,
    words: Sequence[str],
    *,
    architecture: Literal["bert", "distilbert"] = "bert",
    max_length: int = 64,
    seed: int = 0,
    pieces: Sequence[str] = (),
) -> Path:
    """Save an untrained tiny classifier and its tokenizer to `folder`, as a user would."""
    tokenizer = word_tokenizer(words, max_length=max_length, pieces=pieces)
    model = tiny_classifier(
        len(tokenizer), architecture=architecture, max_length=max_length, seed=seed
    )
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def trained_bert_folder(
    folder: Path,
    words: Sequence[str],
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    pieces: Sequence[str] = (),
    max_length: int = 32,
    epochs: int = 30,
    lr: float = 3e-3,
    seed: int = 0,
) -> Path:
    """A tiny BERT classifier trained (seeded, CPU, seconds) on `texts` and `labels`, saved
    as a user would: a model that has learnt whatever the labels follow, a planted shortcut
    phrase included."""
    tokenizer = word_tokenizer(words, max_length=max_length, pieces=pieces)
    model = tiny_classifier(len(tokenizer), max_length=max_length, seed=seed)
    batch = tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
    y = torch.as_tensor(list(labels), dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains several times faster on one thread
    try:
        model.train()
        for _ in range(epochs):
            for rows in torch.randperm(len(y), generator=gen).split(32):
                out = model(
                    input_ids=batch["input_ids"][rows],
                    attention_mask=batch["attention_mask"][rows],
                    labels=y[rows],
                )
                optimizer.zero_grad()
                out.loss.backward()
                optimizer.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a demo's first run shows its own status line
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def raw_text_context(
    module: torch.nn.Module,
    encoder: Any,
    texts: Sequence[str],
    y: Sequence[int] | Any,
    config: Any,
    *,
    seed: int = 0,
    min_group_size: int = 30,
) -> Any:
    """A CheckContext over raw `texts` (binary labels `y`) for a module that takes padded
    token ids, as the pipeline would build it: the texts encoded by `encoder` (a
    `TextEncoder`), the predictions made once, the check's `config`."""
    import numpy as np
    import pandas as pd

    from audit.checks.base import CheckContext, Predictions
    from audit.loaders.data import Dataset
    from audit.loaders.model import ModelRunner

    runner = ModelRunner(
        module=module.eval(),
        task="binary",
        output="logits",
        decision_threshold=0.5,
        device="cpu",
        n_classes=2,
        input_dtype=torch.int64,
        pad_id=encoder.pad_id,
    )
    x = encoder.encode(list(texts)).ids
    data = Dataset(
        x=x,
        y=np.asarray(y, dtype=np.int64),
        sensitive=pd.DataFrame(index=range(len(texts))),
        modality="text",
        pad_id=encoder.pad_id,
        classes=(0, 1),
        texts=tuple(texts),
        encoder=encoder,
    )
    proba = runner.predict_proba(x)
    return CheckContext(
        model=runner,
        data=data,
        predictions=Predictions(proba=proba, label=runner.decide(proba)),
        config=config,
        seed=seed,
        min_group_size=min_group_size,
    )
