"""Load the audit dataset and check it against the spec.

Tabular data is CSV or Parquet (pandas/pyarrow); raw text is a column of a CSV, Parquet or
JSONL file, tokenized by the model's own tokenizer; image and pre-tokenized text data is `.npz`
(docs/contract.md, section 3). Every problem is reported with the file and the column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from audit.errors import DataError
from audit.loaders.images import (
    ImageFiles,
    Unreadable,
    check_files,
    files_sha256,
    list_folder,
    list_manifest,
    listing_sha256,
)
from audit.spec import DataSpec, ModelSpec, sha256_file
from audit.tokenization import TextEncoder


@dataclass(frozen=True)
class Dataset:
    """Model inputs, labels and sensitive attributes, row-aligned."""

    x: np.ndarray  # float32 (N, F) | float32 (N, C, H, W) | int64 (N, L), right-padded
    y: np.ndarray  # int64 (N,)
    sensitive: pd.DataFrame  # one column per sensitive name; raw values, may hold NaN
    modality: str
    feature_names: tuple[str, ...] = ()
    pad_id: int = 0
    classes: tuple[int, ...] = field(default=())
    # raw text: the texts (row-aligned with x, which is their encoding), the model's tokenizer,
    # and how many rows were cut at its maximum length; None / 0 for `.npz` token ids
    texts: tuple[str, ...] | None = None
    encoder: TextEncoder | None = None
    truncated: int = 0
    # tabular: labels of integer-coded feature columns (`data.categories`), for the report
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # image files: `x` is an `ImageFiles` (rows decoded on indexing, RGB in [0, 1]); the files
    # listed, those left out as unreadable, and the class names of an image folder
    listed: int = 0
    unreadable: tuple[Unreadable, ...] = ()
    class_names: tuple[str, ...] = ()
    # image files: `data_sha256`, computed from the bytes the load read anyway
    sha256: str | None = None

    @property
    def value_bounds(self) -> tuple[float, float] | None:
        """The inputs' value range when known without a scan: decoded pixels are in [0, 1]."""
        return (0.0, 1.0) if isinstance(self.x, ImageFiles) else None

    def __len__(self) -> int:
        return len(self.y)


def table_suffix(path: Path) -> str:
    """The file type of a table: `.csv`, `.csv.gz`, `.parquet`, `.jsonl` ..."""
    return "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()


def _read_frame(path: Path, *, text: bool = False) -> pd.DataFrame:
    suffix = table_suffix(path)
    try:
        if suffix in {".csv", ".csv.gz"}:
            # raw text stays text: no NA guessing on words like "NA" or "null"
            frame = pd.read_csv(path, low_memory=False, keep_default_na=not text)
        elif suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif text and suffix in {".jsonl", ".jsonl.gz"}:
            frame = pd.read_json(path, lines=True, dtype=False)
        else:
            kinds = ".csv, .parquet or .jsonl" if text else ".csv, .csv.gz or .parquet"
            raise DataError(
                f"unsupported {'text' if text else 'tabular'} file type {suffix!r}.",
                where=str(path),
                fix=f"use {kinds}.",
            )
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"could not read the file: {exc}", where=str(path)) from None
    require_unique_columns(frame, path)
    return frame


def require_unique_columns(frame: pd.DataFrame, path: Path) -> None:
    """No header name twice (pandas renames a repeat `a` to `a.1`; also run on the header)."""
    dup = frame.columns[frame.columns.duplicated()].tolist()
    mangled = [
        c
        for c in frame.columns
        if isinstance(c, str)
        and c.rsplit(".", 1)[-1].isdigit()
        and c.rsplit(".", 1)[0] in frame.columns
    ]
    if dup or mangled:
        names = ", ".join(map(str, dup or [c.rsplit(".", 1)[0] for c in mangled]))
        raise DataError(
            f"duplicated column name(s): {names}.",
            where=str(path),
            fix="give every column a unique header.",
        )


def require_columns(columns: Sequence[Any], names: list[str], role: str, path: Path) -> None:
    """Every name given for `role` is a column (also checked on the header: audit/preflight.py)."""
    missing = [n for n in names if n not in columns]
    if missing:
        shown = ", ".join(repr(m) for m in missing)
        raise DataError(
            f"column {shown} ({role}) is not in the data.",
            where=str(path),
            fix=f"check `data.{role}` against the header: "
            + ", ".join(map(str, columns[:12]))
            + (" ..." if len(columns) > 12 else ""),
        )


def require_arrays(arrays: Sequence[str], spec: DataSpec, path: Path) -> None:
    """The `.npz` holds `x`, the label and the sensitive arrays (also run on its member list)."""
    for name, role in [
        ("x", "inputs"),
        (spec.label_name(), "label"),
        *[(s, "sensitive") for s in spec.sensitive],
    ]:
        if name not in arrays:
            raise DataError(
                f"array {name!r} ({role}) is not in the file (has: {', '.join(arrays)}).",
                where=str(path),
                fix=f"add it or fix `data.{'label' if role == 'label' else role}`.",
            )


def _labels(raw: np.ndarray, task: str, where: str) -> np.ndarray:
    """Integer class labels; binary labels must be exactly {0, 1}."""
    series = pd.Series(raw)
    if series.isna().any():
        raise DataError(
            f"the label has {int(series.isna().sum())} missing value(s).",
            where=where,
            fix="drop or fill rows without a label.",
        )
    if not pd.api.types.is_numeric_dtype(series):
        raise DataError(
            f"the label must be numeric class ids, got values like {series.iloc[0]!r}.",
            where=where,
            fix="encode the classes as 0, 1, ...",
        )
    values = series.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all() or not np.equal(np.mod(values, 1), 0).all():
        raise DataError(
            "the label holds non-integer or infinite values.",
            where=where,
            fix="encode the classes as 0, 1, ...",
        )
    labels = values.astype(np.int64)
    seen = set(np.unique(labels).tolist())
    if task == "binary" and not seen <= {0, 1}:
        raise DataError(
            f"`task: binary` needs labels 0/1, found {sorted(seen)[:10]}.",
            where=where,
            fix="encode the positive class as 1 and the rest as 0, or set `task: multiclass`.",
        )
    if labels.min() < 0:
        raise DataError("labels must be non-negative class ids.", where=where)
    return labels


def _features(frame: pd.DataFrame, names: list[str], path: Path) -> np.ndarray:
    bad = [n for n in names if not pd.api.types.is_numeric_dtype(frame[n])]
    if bad:
        sample = frame[bad[0]].dropna().astype(str).head(1).tolist()
        raise DataError(
            f"feature column {bad[0]!r} is not numeric (values like {sample[0]!r})."
            if sample
            else f"feature column {bad[0]!r} is not numeric.",
            where=str(path),
            fix="encode it numerically (the model's input order and encoding) before the audit.",
        )
    x = frame[names].to_numpy(dtype=np.float32)
    finite = np.isfinite(x)
    if not finite.all():
        col = names[int(np.where(~finite.all(axis=0))[0][0])]
        count = int((~finite).sum())
        raise DataError(
            f"{count} NaN or infinite feature value(s), first in column {col!r}.",
            where=str(path),
            fix="impute or drop those rows before the audit.",
        )
    return x


def _load_tabular(spec: DataSpec, model: ModelSpec) -> Dataset:
    path = spec.path
    frame = _read_frame(path)
    if spec.features is None:
        raise DataError(
            "tabular data needs `data.features`, the model's input columns in order.",
            where="data.features",
        )
    columns = list(frame.columns)
    require_columns(columns, spec.features, "features", path)
    require_columns(columns, [spec.label_name()], "label", path)
    require_columns(columns, spec.sensitive, "sensitive", path)
    if len(frame) == 0:
        raise DataError("the dataset has no rows.", where=str(path))
    x = _features(frame, spec.features, path)
    y = _labels(
        frame[spec.label_name()].to_numpy(), model.task, f"{path} column {spec.label_name()!r}"
    )
    for column, labels in spec.categories.items():
        _require_codes(x[:, spec.features.index(column)], column, labels, path)
    return Dataset(
        x=x,
        y=y,
        sensitive=frame[spec.sensitive].reset_index(drop=True),
        modality="tabular",
        feature_names=tuple(spec.features),
        pad_id=spec.pad_id,
        classes=tuple(sorted(set(y.tolist()))),
        categories={c: tuple(labels) for c, labels in spec.categories.items()},
    )


def _require_codes(values: np.ndarray, column: str, labels: Sequence[str], path: Path) -> None:
    """A column given labels in `data.categories` holds codes 0..len(labels)-1, nothing else."""
    codes = np.unique(values[~np.isnan(values)])
    bad = codes[(codes != np.round(codes)) | (codes < 0) | (codes >= len(labels))]
    if len(bad):
        raise DataError(
            f"column {column!r} holds {bad[0]:g}, which is not a code of its {len(labels)} "
            f"labels in `data.categories` (codes 0 to {len(labels) - 1}).",
            where=f"{path} column {column!r}",
            fix=f"list every label of {column!r} in code order under data.categories.{column}.",
        )


def _load_npz(spec: DataSpec, model: ModelSpec) -> Dataset:
    path = spec.path
    if path.suffix.lower() != ".npz":
        raise DataError(
            f"{model.modality} data must be a .npz file.",
            where=str(path),
            fix="see docs/contract.md, section 3.",
        )
    try:
        arrays = np.load(path, allow_pickle=False)
        content = {k: arrays[k] for k in arrays.files}
    except ValueError as exc:
        raise DataError(
            f"the .npz holds pickled objects, which are refused ({exc}).",
            where=str(path),
            fix="store plain numeric or string arrays.",
        ) from None
    except Exception as exc:
        raise DataError(f"could not read the .npz: {exc}", where=str(path)) from None
    require_arrays(list(content), spec, path)
    x = content["x"]
    n = len(x)
    if n == 0:
        raise DataError("the dataset has no rows.", where=str(path))
    if model.modality == "image":
        if x.ndim != 4:
            raise DataError(
                f"image `x` must be (N, C, H, W), got shape {x.shape}.", where=str(path)
            )
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise DataError("image `x` holds NaN or infinite values.", where=str(path))
    else:
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
            raise DataError(
                f"text `x` must be int64 token ids (N, L), got {x.dtype} {x.shape}.",
                where=str(path),
            )
        x = x.astype(np.int64)
    for name in [spec.label_name(), *spec.sensitive]:
        if content[name].shape != (n,):
            raise DataError(
                f"array {name!r} must be 1-D with {n} rows, got {content[name].shape}.",
                where=str(path),
            )
    y = _labels(content[spec.label_name()], model.task, f"{path} array {spec.label_name()!r}")
    sensitive = pd.DataFrame({s: content[s] for s in spec.sensitive})
    return Dataset(
        x=x,
        y=y,
        sensitive=sensitive,
        modality=model.modality,
        pad_id=spec.pad_id,
        classes=tuple(sorted(set(y.tolist()))),
    )


def _texts(frame: pd.DataFrame, column: str, path: Path) -> tuple[str, ...]:
    values = frame[column]
    missing = values.map(lambda v: not isinstance(v, str) or not v.strip())
    if missing.any():
        first = int(np.flatnonzero(missing.to_numpy())[0])
        raise DataError(
            f"text column {column!r} has {int(missing.sum())} missing, empty or non-text "
            f"value(s), first in row {first + 1}.",
            where=str(path),
            fix="drop those rows or fill them with the text the model should read.",
        )
    return tuple(values.tolist())


def text_encoder(spec: DataSpec, model: ModelSpec) -> TextEncoder:
    """The tokenizer raw text is encoded with: the model folder's own, or `data.tokenizer`."""
    from audit.loaders.huggingface import load_encoder

    if model.source_format() == "huggingface":
        if spec.tokenizer is not None:
            raise DataError(
                "a Hugging Face model folder carries its tokenizer; `data.tokenizer` is for "
                "export, TorchScript and factory models.",
                where="data.tokenizer",
                fix="remove `data.tokenizer`.",
            )
        assert model.path is not None  # a huggingface route has a path
        return load_encoder(model.path, spec.max_length)
    if spec.tokenizer is None:
        raise DataError(
            "raw text needs the model's tokenizer.",
            where="data.tokenizer",
            fix="give `data.tokenizer`: the folder the tokenizer was saved to "
            "(tokenizer.save_pretrained), or audit a Hugging Face model folder.",
        )
    return load_encoder(spec.tokenizer, spec.max_length)


def _load_text(spec: DataSpec, model: ModelSpec) -> Dataset:
    path, column = spec.path, spec.text
    assert column is not None  # only called with `data.text`
    frame = _read_frame(path, text=True)
    columns = list(frame.columns)
    require_columns(columns, [column], "text", path)
    require_columns(columns, [spec.label_name()], "label", path)
    require_columns(columns, spec.sensitive, "sensitive", path)
    if len(frame) == 0:
        raise DataError("the dataset has no rows.", where=str(path))
    texts = _texts(frame, column, path)
    y = _labels(
        frame[spec.label_name()].to_numpy(), model.task, f"{path} column {spec.label_name()!r}"
    )
    encoder = text_encoder(spec, model)
    if "pad_id" in spec.model_fields_set and spec.pad_id != encoder.pad_id:
        raise DataError(
            f"`data.pad_id` {spec.pad_id} differs from the tokenizer's padding id "
            f"{encoder.pad_id}.",
            where="data.pad_id",
            fix="remove `data.pad_id`; raw text is padded with the tokenizer's own id.",
        )
    encoded = encoder.encode(texts)
    return Dataset(
        x=encoded.ids,
        y=y,
        sensitive=frame[spec.sensitive].reset_index(drop=True),
        modality="text",
        pad_id=encoder.pad_id,
        classes=tuple(sorted(set(y.tolist()))),
        texts=texts,
        encoder=encoder,
        truncated=int(encoded.truncated.sum()),
    )


def _load_image_files(spec: DataSpec, model: ModelSpec) -> Dataset:
    """Image files from a folder per class or a manifest, checked once and decoded lazily."""
    path = spec.path
    if spec.image is None:
        if spec.label is not None:
            raise DataError(
                "an image folder's labels are its sub-folders; `data.label` names nothing here.",
                where="data.label",
                fix="remove `data.label`, or list the images in a manifest (`data.image`).",
            )
        listed = list_folder(path, spec.sensitive)
        paths, raw_labels, sensitive = listed.paths, listed.labels, listed.sensitive
        root, names, listing = path, listed.class_names, ""
        label_where = f"{path} (sub-folders)"
    else:
        frame = _read_frame(path)
        columns = list(frame.columns)
        require_columns(columns, [spec.image], "image", path)
        require_columns(columns, [spec.label_name()], "label", path)
        require_columns(columns, spec.sensitive, "sensitive", path)
        if len(frame) == 0:
            raise DataError("the manifest has no rows.", where=str(path))
        root = spec.root if spec.root is not None else path.parent
        paths = list_manifest(frame, spec.image, root, str(path))
        raw_labels = frame[spec.label_name()].to_numpy()
        sensitive = frame[spec.sensitive]
        names, listing = (), sha256_file(path)
        label_where = f"{path} column {spec.label_name()!r}"
    checked = check_files(paths, spec.image_size, root, str(path))
    keep = checked.keep
    y = _labels(raw_labels[keep], model.task, label_where)
    files = ImageFiles(tuple(paths[i] for i in keep), checked.size, spec.image_size is not None)
    return Dataset(
        x=cast(np.ndarray, files),  # array-like: rows decode on indexing (audit.loaders.images)
        y=y,
        sensitive=sensitive.iloc[keep].reset_index(drop=True),
        modality="image",
        classes=tuple(sorted(set(y.tolist()))),
        listed=len(paths),
        unreadable=checked.unreadable,
        class_names=names,
        sha256=listing_sha256(root, paths, checked.digests, listing),
    )


def is_image_files(spec: DataSpec, model: ModelSpec) -> bool:
    """Image files (a folder per class, or a manifest) rather than one `.npz`."""
    return model.modality == "image" and (spec.image is not None or spec.path.is_dir())


def data_sha256(spec: DataSpec, model: ModelSpec) -> str:
    """The data's provenance hash: the file's sha256, or for image files one hash over the
    manifest and every listed image (unreadable ones too: they are part of what was given).
    Read from disk; a loaded `Dataset` of image files carries the same value as `sha256`."""
    if not is_image_files(spec, model):
        return sha256_file(spec.path)
    if spec.image is None:
        return files_sha256(spec.path, list_folder(spec.path, ()).paths)
    root = spec.root if spec.root is not None else spec.path.parent
    paths = list_manifest(_read_frame(spec.path), spec.image, root, str(spec.path))
    return files_sha256(root, paths, sha256_file(spec.path))


def load_dataset(spec: DataSpec, model: ModelSpec) -> Dataset:
    """Read the data the spec names and check it fits the model's task and modality."""
    if is_image_files(spec, model):
        return _load_image_files(spec, model)
    if not spec.path.is_file():
        raise DataError("data file not found.", where=str(spec.path), fix="check `data.path`.")
    if spec.text is not None:
        if model.modality != "text":
            raise DataError(
                f"`data.text` names a text column, but the model's modality is {model.modality!r}.",
                where="data.text",
                fix="set `model.modality: text`, or remove `data.text`.",
            )
        return _load_text(spec, model)
    if model.modality == "tabular":
        return _load_tabular(spec, model)
    if model.source_format() == "huggingface" and model.modality == "text":
        raise DataError(
            "a Hugging Face text model reads raw text: name the text column.",
            where="data.text",
            fix="set `data.text` to the column holding the texts (CSV, Parquet or JSONL).",
        )
    return _load_npz(spec, model)
