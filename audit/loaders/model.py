"""Load a model safely and run it in batches.

Four routes (docs/contract.md, section 2): a torch.export archive (`.pt2`), TorchScript (`.pt`),
an importable `factory` plus a `weights_only=True` state dict, or a Hugging Face folder
(`audit.loaders.huggingface`: safetensors, offline, no remote code). Nothing here ever unpickles
arbitrary objects: a file that would need it is refused with a clear error.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import importlib
import logging
import pickle
import re
import threading
import warnings
import weakref
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audit.errors import ModelError
from audit.loaders.data import Dataset
from audit.loaders.huggingface import HFTextClassifier
from audit.loaders.images import ImageFiles, rows_per_batch
from audit.loaders.preprocess import Preprocess, Preprocessed
from audit.spec import ModelSpec, Preprocessing, sha256_file

_GUARD = re.compile(
    r"size\(\)\[0\]\s*==\s*(\d+)|Expected input at .*?shape\[0\] to be equal to (\d+)"
)


class _Captured(logging.Handler):
    """Holds the records torch logs while loading, instead of letting them reach the terminal."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _captured_torch_export_log() -> Iterator[_Captured]:
    """torch.export.load logs a full traceback for a damaged archive; keep it off stderr."""
    logger = logging.getLogger("torch.export")
    handler, saved = _Captured(), (logger.handlers[:], logger.propagate)
    logger.handlers, logger.propagate = [handler], False
    try:
        yield handler
    finally:
        logger.handlers, logger.propagate = saved


def _cause(exc: BaseException, log: _Captured) -> str:
    """The real reason for a failed load: torch logs it and raises a generic error."""
    for record in log.records:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            break
    first = str(exc).strip().splitlines()
    if not first:
        return type(exc).__name__
    return f"{type(exc).__name__}: {first[0].split('. ')[0].rstrip('.')}"


def _load_export(path: Path) -> nn.Module:
    with _captured_torch_export_log() as log:
        try:
            program = torch.export.load(str(path))
        except Exception as exc:  # torch raises many types for a bad archive
            raise ModelError(
                f"could not load torch.export archive ({_cause(exc, log)}).",
                where=str(path),
                fix="save it with torch.export.save(torch.export.export(model, (example,)), path).",
            ) from None
    return program.module()


def _load_torchscript(path: Path, device: str) -> nn.Module:
    if not zipfile.is_zipfile(path):
        raise ModelError(
            "not a TorchScript archive (not a zip file).",
            where=str(path),
            fix="save it with torch.jit.save(torch.jit.script(model), path).",
        )
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    if not any(n.endswith("/code/__torch__.py") or "/code/" in n for n in names):
        raise ModelError(
            "this .pt file is a pickled Python object (torch.save), not TorchScript; "
            "loading it would run arbitrary code, so it is refused.",
            where=str(path),
            fix="export it with torch.jit.save(torch.jit.script(model), path), use torch.export "
            "(.pt2), or give `factory` + `weights` (a state_dict).",
        )
    try:
        return torch.jit.load(str(path), map_location=device)
    except Exception as exc:
        raise ModelError(f"TorchScript load failed: {exc}", where=str(path)) from None


def _load_factory(spec: ModelSpec, device: str) -> nn.Module:
    module_name, _, attr = (spec.factory or "").partition(":")
    try:
        factory: Callable[[], nn.Module] = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ModelError(
            f"cannot import factory {spec.factory!r}: {exc}.",
            where="model.factory",
            fix="give `package.module:function`, importable from the current environment.",
        ) from None
    model = factory()
    if not isinstance(model, nn.Module):
        raise ModelError(
            f"factory {spec.factory!r} returned {type(model).__name__}, not a torch.nn.Module.",
            where="model.factory",
        )
    if spec.weights is not None:
        try:
            state = torch.load(str(spec.weights), map_location=device, weights_only=True)
        except pickle.UnpicklingError as exc:
            raise ModelError(
                "the weights file holds Python objects beyond tensors; loading it would need "
                f"unsafe unpickling, so it is refused ({str(exc).splitlines()[0]}).",
                where=str(spec.weights),
                fix="save only the state dict: torch.save(model.state_dict(), path).",
            ) from None
        except Exception as exc:
            raise ModelError(f"could not read weights: {exc}", where=str(spec.weights)) from None
        if not isinstance(state, dict):
            raise ModelError(
                f"weights must be a state_dict, got {type(state).__name__}.",
                where=str(spec.weights),
                fix="save it with torch.save(model.state_dict(), path).",
            )
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise ModelError(
                f"weights do not fit the factory's model: {first}", where=str(spec.weights)
            ) from None
    return model


def model_provenance(spec: ModelSpec) -> dict[str, str]:
    """The model's provenance hashes. `model`: the file's sha256, a Hugging Face folder's
    hash over all its files (then also `model_config`, `model_weights` and `tokenizer`), or
    the factory name plus the weights' sha256."""
    if spec.source_format() == "huggingface":
        from audit.loaders.huggingface import folder_hashes

        assert spec.path is not None
        parts = folder_hashes(spec.path)
        return {
            "model": parts["folder"],
            "model_config": parts["config"],
            "model_weights": parts["weights"],
            **{key: parts[key] for key in ("tokenizer", "preprocessor") if key in parts},
        }
    if spec.path is not None:
        return {"model": sha256_file(spec.path)}
    weights = sha256_file(spec.weights) if spec.weights else "none"
    return {"model": hashlib.sha256(f"{spec.factory}|{weights}".encode()).hexdigest()}


def model_sha256(spec: ModelSpec) -> str:
    """The model's provenance hash (`model_provenance`'s `model`)."""
    return model_provenance(spec)["model"]


def load_module(spec: ModelSpec) -> nn.Module:
    """Load the model the spec names, in eval mode, on its device."""
    device = spec.device
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError(
            "`device: cuda` but no CUDA device is available.",
            where="model.device",
            fix="set `device: cpu`.",
        )
    route = spec.source_format()
    if route == "factory":
        module = _load_factory(spec, device)
    elif route == "huggingface":
        from audit.loaders.huggingface import load_classifier, load_image_classifier

        assert spec.path is not None
        if spec.modality == "image":  # its preprocessing goes in front in `load_runner`
            module = load_image_classifier(spec.path, device)
        else:
            module = load_classifier(spec.path, device)
    else:
        path = spec.path
        assert path is not None  # guaranteed by ModelSpec
        if not path.is_file():
            raise ModelError("model file not found.", where=str(path), fix="check `model.path`.")
        suffix = path.suffix.lower()
        if route == "export" and (spec.format == "export" or suffix == ".pt2"):
            module = _load_export(path)
        elif spec.format == "torchscript" or suffix in {".pt", ".pth", ".ts"}:
            module = _load_torchscript(path, device)
        else:
            raise ModelError(
                f"unknown model file type {suffix!r}.",
                where=str(path),
                fix="use a torch.export archive (.pt2) or TorchScript (.pt).",
            )
    module = module.to(device)
    if isinstance(module, nn.Module) and not isinstance(module, torch.fx.GraphModule):
        module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def _rows_text(rows: np.ndarray) -> str:
    """`rows 0-63`, or for a length-sorted batch `64 rows (from row 17)`."""
    low, high = int(rows.min()), int(rows.max())
    if high - low + 1 == len(rows):
        return f"rows {low}-{high}"
    return f"{len(rows)} rows (from row {low})"


_TORCHSCRIPT_HEADER = "The following operation failed in the TorchScript interpreter."


def exception_summary(exc: BaseException) -> str:
    """`Type: first line` of an exception raised inside a model.

    TorchScript wraps the model's own exception under a generic header and a traceback;
    the model's message is then the last line, which is the one worth showing.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if lines[0] == _TORCHSCRIPT_HEADER:
        return lines[-1].removeprefix("builtins.")
    return f"{type(exc).__name__}: {lines[0]}"


@dataclass
class ModelRunner:
    """A loaded model with the task's output convention: it always yields class probabilities.

    `scores(x)` is differentiable (for captum); `predict_proba` runs batched without grad.
    A torch.export archive with a fixed batch size is detected and run in padded chunks.

    Text: `x` is right-padded token ids. With `pad_id` set, a model declared to take
    `[input_ids, attention_mask]` gets the mask (1 on real tokens) as its second input, and
    `predict_proba` batches rows of similar length together and cuts each batch's trailing
    padding (`trim_padding`; dynamic padding), so the cost follows the real token count.
    """

    module: nn.Module
    task: str
    output: str
    decision_threshold: float
    device: str
    n_classes: int = 2
    fixed_batch: int | None = None
    input_dtype: torch.dtype = torch.float32
    pad_id: int | None = None  # text only
    pass_mask: bool = False  # the module takes (input_ids, attention_mask)
    trim_padding: bool = False  # the module accepts any sequence length

    @property
    def preprocess(self) -> Preprocess | None:
        """Image files: the model's own preprocessing, run inside the module on raw pixels."""
        return self.module.preprocess if isinstance(self.module, Preprocessed) else None

    @property
    def takes_mask(self) -> bool:
        """The module takes (input_ids, attention_mask): declared so, or a Hugging Face
        classifier (which otherwise builds the mask from the padding id itself)."""
        return self.pass_mask or isinstance(self.module, HFTextClassifier)

    def _call(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if mask is None and self.pass_mask and self.pad_id is not None:
            mask = torch.ne(x, self.pad_id).long()
        return self.module(x) if mask is None else self.module(x, mask)

    def _raw(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if self.fixed_batch is None:
            return self._call(x, mask)
        n, b = x.shape[0], self.fixed_batch
        outs = []
        for start in range(0, n, b):
            chunk = x[start : start + b]
            part = None if mask is None else mask[start : start + b]
            pad = b - chunk.shape[0]
            if pad:
                chunk = torch.cat([chunk, chunk[:1].expand(pad, *chunk.shape[1:])])
                if part is not None:
                    part = torch.cat([part, part[:1].expand(pad, *part.shape[1:])])
            outs.append(self._call(chunk, part)[: b - pad])
        return torch.cat(outs)

    def scores(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Class probabilities (N, K) as a differentiable function of the input.

        `attention_mask` (text, a module that `takes_mask`): given explicitly rather than
        derived from `x`, so that captum's layer methods, which run the model on baseline ids
        too, keep the input's mask."""
        out = self._raw(x, attention_mask)
        if out.ndim == 1:
            out = out[:, None]
        if out.shape[-1] == 1:  # binary with one output
            p1 = torch.sigmoid(out[:, 0]) if self.output == "logits" else out[:, 0]
            return torch.stack([1 - p1, p1], dim=1)
        return torch.softmax(out, dim=1) if self.output == "logits" else out

    def as_tensor(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(x)
        return t.to(device=self.device, dtype=self.input_dtype)

    def _batches(
        self, x: np.ndarray | torch.Tensor, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray | torch.Tensor]]:
        """(row indices, inputs) per batch: in order, or, with `trim_padding`, rows sorted by
        length with each batch cut to its longest row."""
        n = len(x)
        if not self.trim_padding or n == 0:
            batch_size = rows_per_batch(x, batch_size)  # image files: bounded memory
            for start in range(0, n, batch_size):
                yield np.arange(start, min(start + batch_size, n)), x[start : start + batch_size]
            return
        ids = np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x)
        real = ids != self.pad_id
        # one past the last real token: trailing padding is what a batch can drop
        ends = np.where(real.any(axis=1), ids.shape[1] - np.argmax(real[:, ::-1], axis=1), 1)
        order = np.argsort(ends, kind="stable")
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            yield rows, ids[rows, : int(ends[rows].max())]

    def predict_proba(
        self,
        x: np.ndarray | torch.Tensor,
        batch_size: int = 4096,
        on_rows: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Probabilities for every row, in batches, checked to be finite and well-shaped.

        `on_rows(n)` is told each batch's row count as it finishes (progress display)."""
        n = len(x)
        out = np.empty((n, self.n_classes), dtype=np.float64)
        with torch.no_grad():
            for rows, part in self._batches(x, batch_size):
                batch = self.as_tensor(part)
                try:
                    p = self.scores(batch)
                except Exception as exc:
                    raise ModelError(
                        f"the model raised on {_rows_text(rows)}: {exception_summary(exc)}"
                    ) from None
                if p.shape != (len(batch), self.n_classes):
                    raise ModelError(
                        f"the model returned shape {tuple(p.shape)} for a batch of {len(batch)}; "
                        f"expected ({len(batch)}, {self.n_classes}).",
                        where="model.task",
                    )
                out[rows] = p.detach().cpu().double().numpy()
                if on_rows is not None:
                    on_rows(len(rows))
        if not np.isfinite(out).all():
            bad = int((~np.isfinite(out)).any(axis=1).sum())
            raise ModelError(
                f"the model produced NaN or infinite outputs for {bad} of {n} rows.",
                fix="check the model and its inputs; an audit cannot judge NaN.",
            )
        if self.output == "probabilities" and (
            (out < -1e-6).any()
            or (out > 1 + 1e-6).any()
            or not np.allclose(out.sum(axis=1), 1, atol=1e-4)
        ):
            raise ModelError(
                "`output: probabilities` but the model's outputs are not probabilities "
                "(outside [0, 1] or rows not summing to 1).",
                where="model.output",
                fix="set `output: logits` if the model returns raw scores.",
            )
        return np.clip(out, 0.0, 1.0)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Predicted class: binary uses the decision threshold on P(class 1)."""
        if self.task == "binary":
            return (proba[:, 1] >= self.decision_threshold).astype(np.int64)
        return proba.argmax(axis=1).astype(np.int64)


def _probe(module: nn.Module, *example: torch.Tensor) -> tuple[torch.Tensor, int | None]:
    """Run a 2-row example; on a fixed-batch export, learn its batch size from the guard."""
    try:
        with torch.no_grad():
            return module(*example), None
    except Exception as exc:
        match = _GUARD.search(str(exc))
        if not match:
            raise
        fixed = int(match.group(1) or match.group(2))
        rows = len(example[0])
        reps = -(-fixed // rows)
        tiled = [t.repeat(reps, *([1] * (t.ndim - 1)))[:fixed] for t in example]
        with torch.no_grad():
            out = module(*tiled)
        return out[:rows], fixed


def make_runner(
    spec: ModelSpec,
    module: nn.Module,
    example: np.ndarray,
    *,
    pad_id: int = 0,
    variable_length: bool = False,
) -> ModelRunner:
    """Check the model's output against the task on a few real rows, and wrap it.

    Text only: `pad_id` is the data's padding id; `variable_length` says the model reads
    sequences of any length (raw text, whose encoding is as long as its longest row), so
    batches may drop their trailing padding. Pre-tokenized `.npz` ids keep their width: a
    model built for that width may not take another."""
    text = spec.modality == "text"
    dtype = torch.int64 if text else torch.float32
    x = torch.as_tensor(example[:2]).to(device=spec.device, dtype=dtype)
    pass_mask = text and spec.inputs == ["input_ids", "attention_mask"]
    try:
        if pass_mask:
            out, fixed = _probe(module, x, (x != pad_id).long())
        else:
            out, fixed = _probe(module, x)
    except Exception as exc:
        raise ModelError(
            f"the model failed on the first rows of the data: {exception_summary(exc)}",
            fix="check that `data.features` lists the model's inputs in order, and the modality.",
        ) from None
    if isinstance(out, tuple | list) or not isinstance(out, torch.Tensor):
        raise ModelError(
            f"the model must return one tensor, got {type(out).__name__}.", where="model"
        )
    width = 1 if out.ndim == 1 else out.shape[-1]
    if out.ndim > 2 or out.shape[0] != len(x):
        raise ModelError(
            f"the model returned shape {tuple(out.shape)} for {len(x)} rows; "
            "expected (N,) or (N, K).",
            where="model.task",
        )
    if spec.task == "binary" and width not in (1, 2):
        raise ModelError(
            f"`task: binary` needs 1 or 2 outputs per row, the model gives {width}.",
            where="model.task",
            fix=f"set `task: multiclass` if the model has {width} classes.",
        )
    if spec.task == "multiclass" and width < 3:
        raise ModelError(
            f"`task: multiclass` needs 3 or more outputs per row, the model gives {width}.",
            where="model.task",
            fix="set `task: binary`.",
        )
    return ModelRunner(
        module=module,
        task=spec.task,
        output=spec.output,
        decision_threshold=spec.decision_threshold,
        device=spec.device,
        n_classes=2 if spec.task == "binary" else width,
        fixed_batch=fixed,
        input_dtype=dtype,
        pad_id=pad_id if text else None,
        pass_mask=pass_mask,
        trim_padding=text and variable_length,
    )


def image_preprocessing(spec: ModelSpec) -> Preprocessing:
    """How the model under an image-file audit reads a decoded image: a Hugging Face vision
    folder's own (`preprocessor_config.json`), else the spec's declaration, required: guessing
    an ImageNet model's normalization would audit a model that never runs that way."""
    if spec.source_format() == "huggingface":
        from audit.loaders.huggingface import preprocessing_of

        if spec.preprocessing is not None:
            raise ModelError(
                "a Hugging Face vision folder carries its own preprocessing "
                "(preprocessor_config.json).",
                where="model.preprocessing",
                fix="remove `model.preprocessing`, or change the folder's image processor.",
            )
        assert spec.path is not None  # a huggingface route has a path
        return preprocessing_of(spec.path)
    if spec.preprocessing is None:
        raise ModelError(
            "image files need the model's preprocessing: how a decoded image (RGB in [0, 1]) "
            "becomes the model's input.",
            where="model.preprocessing",
            fix="declare it, e.g. `{resize: 256, center_crop: 224, mean: [0.485, 0.456, "
            "0.406], std: [0.229, 0.224, 0.225]}` for a torchvision ImageNet model, or `{}` "
            "when the model takes the decoded image as it is.",
        )
    return spec.preprocessing


def load_runner(spec: ModelSpec, data: Dataset) -> ModelRunner:
    """Load the spec's model and wrap it for the loaded data (its padding, its lengths; for
    image files, the model's own preprocessing in front of it)."""
    module = load_module(spec)
    if isinstance(data.x, ImageFiles):
        preprocess = Preprocess(image_preprocessing(spec), data.x.size).to(spec.device)
        module = Preprocessed(module, preprocess)
    return make_runner(
        spec,
        module,
        data.x,
        pad_id=data.pad_id,
        variable_length=data.encoder is not None,
    )


def copy_module(module: nn.Module) -> nn.Module:
    """A deep copy of the module, with its own parameters and buffers."""
    with warnings.catch_warnings():
        # deep-copying a torch.export GraphModule trips a torch-internal pytree deprecation
        warnings.simplefilter("ignore", FutureWarning)
        return copy.deepcopy(module)


# Idle private copies per module, handed out by `private_runner`. The copies do not refer to
# their original, so the original (the key) is freed with its copies when the audit drops it.
_IDLE: weakref.WeakKeyDictionary[nn.Module, list[nn.Module]] = weakref.WeakKeyDictionary()
_IDLE_LOCK = threading.Lock()


@contextlib.contextmanager
def private_runner(runner: ModelRunner) -> Iterator[ModelRunner]:
    """The runner on a copy of its module that no other thread uses until the block ends.

    Why: the checks run concurrently on one loaded model (the flow's thread pool, and threaded
    Dask workers), and some work changes the module while it runs. captum's hook methods
    (LayerIntegratedGradients, DeepLift, LRP) attach forward and backward hooks; a forward pass
    another check makes through the module meanwhile runs those hooks too, and gets the
    attribution's tensors (issue #16: `The size of tensor a (2048) must match ... (904)`, or
    silently different numbers). Such work takes a private copy here; plain forward and
    backward passes need none (an eval-mode module with frozen parameters keeps no state
    between calls).

    Why a copy and not a lock: a lock that keeps every other check's forward passes out while
    a hook method runs serializes the audit's model work for the whole attribution stage, and
    has to be taken on every forward pass, including those captum makes from inside the
    hooked call. A copy costs the module's size in memory and one deep copy per concurrent
    user (docs/benchmarks.md, "Concurrent checks: private copies against a lock"): for the demo
    models kilobytes and under a millisecond, for a ResNet-18-sized model 46 MB and ~0.4 s.
    On two shared cores the lock's lost concurrency was within run-to-run noise; on more
    cores it serializes the attribution stage against every other check. Copies are pooled:
    an idle copy is reused by the next caller, so an audit holds as many as were ever in use
    at once (normally one). A block that raises discards its copy (hooks might remain on it).
    """
    with _IDLE_LOCK:
        idle = _IDLE.setdefault(runner.module, [])
        module = idle.pop() if idle else None
    if module is None:
        module = copy_module(runner.module)
    yield dataclasses.replace(runner, module=module)
    with _IDLE_LOCK:
        _IDLE.setdefault(runner.module, []).append(module)
