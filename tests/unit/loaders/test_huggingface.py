"""Hugging Face folders and raw text: the loading route of issue #17 (docs/contract.md, 2-3)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from torch import nn

from audit.errors import DataError, ModelError
from audit.loaders.data import load_dataset
from audit.loaders.model import load_runner, model_provenance
from audit.preflight import preflight
from audit.spec import load_spec
from audit.testing.hf import tiny_bert_folder, word_tokenizer

WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "fast", "ship", "good", "bad", "very"]


def _texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, rng.integers(2, 14))) for _ in range(n)]


def _spec(folder: Path, data: dict, model: dict | None = None) -> Path:
    spec = {
        "name": "hf",
        "model": model or {"path": "model", "task": "binary"},
        "data": {"label": "label", **data},
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bert")
    tiny_bert_folder(root / "model", WORDS, pieces=["##ship"], max_length=16)
    texts = _texts(60)
    texts[3] = " ".join(["cat"] * 40)  # past the 16-token maximum
    labels = np.arange(60) % 2
    frame = pd.DataFrame({"text": texts, "label": labels, "group": ["a", "b", "c"] * 20})
    frame.to_csv(root / "data.csv", index=False)
    frame.to_parquet(root / "data.parquet")
    frame.to_json(root / "data.jsonl", orient="records", lines=True)
    return root


@pytest.mark.parametrize("architecture", ["bert", "distilbert"])
def test_folder_loads_and_dynamic_padding_changes_nothing(tmp_path: Path, architecture: str):
    tiny_bert_folder(tmp_path / "model", WORDS, architecture=architecture, max_length=32)
    pd.DataFrame({"text": _texts(40), "label": np.arange(40) % 2}).to_csv(
        tmp_path / "d.csv", index=False
    )
    spec = load_spec(_spec(tmp_path, {"path": "d.csv", "text": "text"}))
    assert (spec.model.modality, spec.model.source_format()) == ("text", "huggingface")
    data = load_dataset(spec.data, spec.model)
    runner = load_runner(spec.model, data)
    assert runner.trim_padding and data.encoder is not None
    batched = runner.predict_proba(data.x, batch_size=7)
    with torch.no_grad():  # each row alone, with no padding at all
        alone = [
            torch.softmax(runner.module(torch.as_tensor(row[row != data.pad_id][None])), 1)
            for row in data.x
        ]
    np.testing.assert_allclose(batched, torch.cat(alone).double().numpy(), atol=1e-6)


@pytest.mark.parametrize("name", ["data.csv", "data.parquet", "data.jsonl"])
def test_raw_text_tables_read_alike_and_truncation_is_counted(bert: Path, name: str):
    spec = load_spec(_spec(bert, {"path": name, "text": "text", "sensitive": ["group"]}))
    data = load_dataset(spec.data, spec.model)
    assert data.texts is not None and data.texts[3].startswith("cat cat")
    assert data.truncated == 1  # only the 40-word text passes 16 tokens
    assert data.x.shape == (60, 16)
    assert list(data.sensitive.columns) == ["group"]
    assert data.encoder is not None and data.encoder.tokens(data.x[0, :1]) == ["[CLS]"]


def test_encoder_word_ids_and_spans_skip_special_tokens():
    tokenizer = word_tokenizer(WORDS, pieces=["##ship"])
    from audit.tokenization import TextEncoder

    enc = TextEncoder(tokenizer, 16, "x")
    out = enc.encode(["fastship cat", "the cat sat on"])
    assert enc.tokens(out.ids[0][:5]) == ["[CLS]", "fast", "##ship", "cat", "[SEP]"]
    assert out.word_ids[0].tolist()[:6] == [-1, 0, 0, 1, -1, -1]  # specials, padding: -1
    assert enc.words("Fastship, cat!") == [
        ("Fastship", (0, 8)),
        (",", (8, 9)),
        ("cat", (10, 13)),
        ("!", (13, 14)),
    ]
    assert enc.token_count("fastship") == 2
    assert tokenizer.unk_token_id not in enc.special_ids  # [UNK] is a real word's place


def test_provenance_hashes_config_weights_and_tokenizer(bert: Path):
    spec = load_spec(_spec(bert, {"path": "data.csv", "text": "text"}))
    hashes = model_provenance(spec.model)
    assert set(hashes) == {"model", "model_config", "model_weights", "tokenizer"}
    assert len(set(hashes.values())) == 4
    config = bert / "model" / "config.json"
    saved = config.read_text()
    try:
        config.write_text(saved + " ")
        changed = model_provenance(spec.model)
        assert changed["model_config"] != hashes["model_config"]
        assert changed["tokenizer"] == hashes["tokenizer"]
    finally:
        config.write_text(saved)


class _Marker:
    """Unpickling this writes a file: proof that something was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.write_text, (self.path, "unpickled"))


def test_pickle_weights_are_refused_with_the_fix_and_never_unpickled(tmp_path: Path):
    folder = tiny_bert_folder(tmp_path / "model", WORDS)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "unpickled.txt"
    with open(folder / "pytorch_model.bin", "wb") as fh:
        pickle.dump(_Marker(marker), fh)
    pd.DataFrame({"text": _texts(20), "label": np.arange(20) % 2}).to_csv(
        tmp_path / "d.csv", index=False
    )
    spec_path = _spec(tmp_path, {"path": "d.csv", "text": "text"})
    with pytest.raises(ModelError) as preflighted:
        preflight(spec_path)
    assert "pytorch_model.bin" in str(preflighted.value)
    assert "save_pretrained" in (preflighted.value.fix or "")
    spec = load_spec(spec_path)
    with pytest.raises(ModelError):
        load_runner(spec.model, load_dataset(spec.data, spec.model))
    assert not marker.exists()


def test_remote_code_config_is_refused(tmp_path: Path):
    folder = tiny_bert_folder(tmp_path / "model", WORDS)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_evil.Evil"}
    (folder / "config.json").write_text(json.dumps(config))
    pd.DataFrame({"text": _texts(20), "label": np.arange(20) % 2}).to_csv(
        tmp_path / "d.csv", index=False
    )
    with pytest.raises(ModelError, match="own Python code"):
        preflight(_spec(tmp_path, {"path": "d.csv", "text": "text"}))


def test_missing_text_values_and_columns_are_named(tmp_path: Path):
    tiny_bert_folder(tmp_path / "model", WORDS)
    pd.DataFrame({"text": ["the cat", None, "a dog"], "label": [0, 1, 0]}).to_csv(
        tmp_path / "d.csv", index=False
    )
    spec = load_spec(_spec(tmp_path, {"path": "d.csv", "text": "text"}))
    with pytest.raises(DataError, match="row 2"):
        load_dataset(spec.data, spec.model)
    with pytest.raises(DataError, match="'body'"):
        preflight(_spec(tmp_path, {"path": "d.csv", "text": "body"}))


class MaskedBag(nn.Module):
    """A factory text model taking (input_ids, attention_mask): a masked mean of embeddings."""

    def __init__(self, vocab: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).float()
        return self.head((self.embed(ids) * m).sum(1) / m.sum(1).clamp(min=1))


def test_factory_model_on_raw_text_gets_the_mask(tmp_path: Path):
    word_tokenizer(WORDS, max_length=16).save_pretrained(tmp_path / "tok")
    torch.manual_seed(0)
    torch.save(MaskedBag().state_dict(), tmp_path / "w.pt")
    pd.DataFrame({"text": _texts(30), "label": np.arange(30) % 2}).to_csv(
        tmp_path / "d.csv", index=False
    )
    spec = load_spec(
        _spec(
            tmp_path,
            {"path": "d.csv", "text": "text", "tokenizer": "tok"},
            {
                "factory": "tests.unit.loaders.test_huggingface:MaskedBag",
                "weights": "w.pt",
                "task": "binary",
                "modality": "text",
                "inputs": ["input_ids", "attention_mask"],
            },
        )
    )
    data = load_dataset(spec.data, spec.model)
    runner = load_runner(spec.model, data)
    assert runner.pass_mask and runner.trim_padding
    wide = np.concatenate([data.x, np.zeros((30, 5), np.int64)], axis=1)  # more padding
    np.testing.assert_allclose(
        runner.predict_proba(data.x, 8), runner.predict_proba(wide, 8), atol=1e-6
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU on this machine")
def test_a_folder_on_cuda_predicts_what_it_predicts_on_the_cpu(bert: Path):
    """`device: cuda` runs the same folder on the GPU; the probabilities match the CPU's."""
    out = {}
    for device in ("cpu", "cuda"):
        model = {"path": "model", "task": "binary", "device": device}
        spec = load_spec(_spec(bert, {"path": "data.csv", "text": "text"}, model))
        data = load_dataset(spec.data, spec.model)
        out[device] = load_runner(spec.model, data).predict_proba(data.x, batch_size=16)
    np.testing.assert_allclose(out["cuda"], out["cpu"], atol=1e-4)
