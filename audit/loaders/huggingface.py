"""Load a Hugging Face sequence classifier from a local folder, safely.

Trust-and-safety teams ship text classifiers as `save_pretrained` folders: `config.json`,
`model.safetensors` and the tokenizer's files. The folder is read offline
(`local_files_only=True`; the hub is never contacted), without `trust_remote_code` (a config
that asks for its own Python classes is refused: running them is running the folder's code), and
weights only from safetensors (a pickle-based `pytorch_model.bin` is refused with the fix to
convert it; nothing is unpickled). The folder checks run before any weights are read, so
preflight can refuse a bad folder within seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from audit.errors import ModelError
from audit.tokenization import TOKENIZER_FILES, TextEncoder, files_sha256, model_max_length

if TYPE_CHECKING:
    from transformers import PreTrainedModel

CONFIG = "config.json"
SAFETENSORS = ("model.safetensors", "model.safetensors.index.json")
PICKLED = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")
CONVERT_FIX = (
    'convert it where you trust the file: python -c "from transformers import '
    "AutoModelForSequenceClassification as M; M.from_pretrained('{folder}')"
    ".save_pretrained('{folder}')\" writes model.safetensors; then delete {found}."
)


def is_huggingface_folder(path: Path) -> bool:
    """A folder holding a `config.json`: the Hugging Face route (format detection)."""
    return path.is_dir() and (path / CONFIG).is_file()


def read_config(folder: Path) -> dict[str, Any]:
    """The folder's `config.json`, refused when it would need remote code."""
    if not folder.is_dir():
        raise ModelError("model folder not found.", where=str(folder), fix="check `model.path`.")
    path = folder / CONFIG
    if not path.is_file():
        raise ModelError(
            "not a Hugging Face model folder: it has no config.json.",
            where=str(folder),
            fix="save the model with model.save_pretrained(folder), or point `model.path` at a "
            ".pt2/.pt file.",
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"could not read config.json: {exc}", where=str(path)) from None
    if not isinstance(config, dict):
        raise ModelError("config.json must hold a JSON object.", where=str(path))
    if "auto_map" in config or config.get("trust_remote_code"):
        raise ModelError(
            "the config asks for the folder's own Python code (`auto_map`); the audit never "
            "runs code shipped with a model (trust_remote_code).",
            where=str(path),
            fix="save the model from a transformers class (e.g. BertForSequenceClassification) "
            "so that its config names a built-in `model_type`, without `auto_map`.",
        )
    return config


def check_folder(folder: Path) -> dict[str, Any]:
    """Everything knowable about the folder without loading it: config, weights, tokenizer."""
    config = read_config(folder)
    if not any((folder / name).is_file() for name in SAFETENSORS):
        found = [name for name in PICKLED if (folder / name).is_file()]
        if found:
            raise ModelError(
                f"the weights are in {found[0]}, a pickle-based format; loading it could run "
                "arbitrary code, so it is refused (nothing was unpickled).",
                where=str(folder / found[0]),
                fix=CONVERT_FIX.format(folder=folder, found=found[0]),
            )
        raise ModelError(
            "the folder has no model.safetensors.",
            where=str(folder),
            fix="save the model with model.save_pretrained(folder) (safetensors by default).",
        )
    architectures = config.get("architectures") or []
    if not any(str(a).endswith("ForSequenceClassification") for a in architectures):
        raise ModelError(
            f"the model is a {', '.join(map(str, architectures)) or 'model of no stated class'}"
            "; the audit runs sequence classifiers.",
            where=str(folder / CONFIG),
            fix="save a *ForSequenceClassification model (its `architectures` names it).",
        )
    if not (folder / "tokenizer.json").is_file():
        raise ModelError(
            "the folder has no tokenizer.json (a fast tokenizer), which the audit tokenizes "
            "raw text with.",
            where=str(folder),
            fix="save the tokenizer beside the model: tokenizer.save_pretrained(folder).",
        )
    return config


def folder_hashes(folder: Path) -> dict[str, str]:
    """Provenance of a model folder: the whole folder, its config, weights and tokenizer."""
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return {
        "folder": files_sha256(folder, files),
        "config": files_sha256(folder, [CONFIG]),
        "weights": files_sha256(folder, [n for n in files if ".safetensors" in n]),
        "tokenizer": files_sha256(folder, TOKENIZER_FILES),
    }


def load_encoder(folder: Path, max_length: int | None = None) -> TextEncoder:
    """The folder's own tokenizer (offline, no remote code) as a `TextEncoder`."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            str(folder), local_files_only=True, trust_remote_code=False
        )
    except Exception as exc:
        raise ModelError(
            f"could not load the tokenizer: {type(exc).__name__}: {str(exc).splitlines()[0]}",
            where=str(folder),
            fix="save it with tokenizer.save_pretrained(folder).",
        ) from None
    config = None
    if (folder / CONFIG).is_file():
        config = AutoConfig.from_pretrained(
            str(folder), local_files_only=True, trust_remote_code=False
        )
    limit = model_max_length(tokenizer, config)
    if max_length is not None:
        if max_length > limit:
            raise ModelError(
                f"`data.max_length` {max_length} exceeds the model's maximum of {limit} tokens.",
                where="data.max_length",
                fix=f"give at most {limit}, or leave it unset.",
            )
        limit = max_length
    return TextEncoder(tokenizer, limit, files_sha256(folder, TOKENIZER_FILES))


class HFTextClassifier(nn.Module):
    """A transformers sequence classifier as a module of token ids returning logits.

    The rest of the audit passes one tensor of right-padded ids (as for any text model); the
    attention mask is built here from the padding id unless given, so padding never takes part
    in attention and captum's layer methods see the same masked model.
    """

    def __init__(self, model: PreTrainedModel, pad_id: int) -> None:
        super().__init__()
        self.model = model
        self.pad_id = pad_id

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if attention_mask is None:
            attention_mask = (input_ids != self.pad_id).long()
        logits: torch.Tensor = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        return logits


def load_classifier(folder: Path, device: str) -> HFTextClassifier:
    """Load the folder's sequence classifier (safetensors only, offline, no remote code)."""
    check_folder(folder)
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the audit reports its own progress

    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(folder), local_files_only=True, trust_remote_code=False, use_safetensors=True
        )
    except Exception as exc:
        raise ModelError(
            f"could not load the model: {type(exc).__name__}: {str(exc).splitlines()[0]}",
            where=str(folder),
        ) from None
    pad = model.config.pad_token_id
    encoder = load_encoder(folder)
    if pad is not None and int(pad) != encoder.pad_id:
        raise ModelError(
            f"the config's pad_token_id {pad} differs from the tokenizer's {encoder.pad_id}.",
            where=str(folder / CONFIG),
            fix="save model and tokenizer together so that they agree.",
        )
    return HFTextClassifier(model.to(device), encoder.pad_id)
