"""Image files as audit data: a folder per class, or a CSV/Parquet manifest, decoded on demand.

Why on demand: a real holdout (10,000 images at 224x224 is about 6 GB as float32) cannot be
held in memory. `ImageFiles` stands where the other modalities hold an array: `len`, `shape`,
and indexing by rows (an int, a slice, an index array or a boolean mask) decode only those
rows with Pillow. Prediction in batches then keeps memory flat, and a check's sample costs its
own rows only. It pickles as its list of paths, so Dask workers decode their own shards.

Pixels are RGB in [0, 1], on one canvas: `data.image_size` (each image is resized to it when
decoded), else the images' common size. The model's own preprocessing (resize, crop,
normalize) runs inside the model (`audit.loaders.preprocess`), so probes, corruptions and
heatmaps all live in these raw pixels.

Every file is opened and verified at load. A missing file, or a path that leaves the data
folder, is refused. A file Pillow cannot read is left out of the audit, counted and named in
the report; `defaults.max_unreadable_share` in the policy says how many are tolerated.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from audit.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
CHANNELS = 3  # decoded as RGB; a grey model converts inside its preprocessing
# Pillow decodes outside the GIL: a few threads overlap decoding on a batch's files
_DECODE_THREADS = max(1, min(4, os.cpu_count() or 1))
_THREADED_FROM = 8  # rows; fewer are decoded in the calling thread
# Most decoded pixels one batch holds (float32): a batch of 224x224 images is then ~200 rows,
# whatever `batch_size` says (its default suits table rows, 4096 of them would be 2.4 GB)
BATCH_BYTES = 128 << 20
# UnidentifiedImageError is an OSError; a decompression bomb (twice Pillow's pixel limit) too
_BAD_IMAGE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


@dataclass(frozen=True)
class Unreadable:
    """A listed image the audit could not read, and why (shown in the report)."""

    path: str
    reason: str


@dataclass(frozen=True)
class ImageFiles:
    """Image files as a read-only (N, 3, H, W) float32 array decoded row by row on indexing."""

    paths: tuple[Path, ...]
    size: tuple[int, int]  # the canvas (height, width)
    resize: bool  # files of another size are resized to the canvas (`data.image_size`)

    dtype = np.dtype(np.float32)
    ndim = 4

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), CHANNELS, *self.size)

    def __len__(self) -> int:
        return len(self.paths)

    def take(self, rows: np.ndarray | slice) -> ImageFiles:
        """These rows, still undecoded (a check's sample, a worker's shard)."""
        picked = np.arange(len(self))[rows]
        return ImageFiles(tuple(self.paths[int(i)] for i in picked), self.size, self.resize)

    def rows_per_batch(self, requested: int) -> int:
        """`requested`, capped so that one decoded batch stays under `BATCH_BYTES`."""
        row = CHANNELS * self.size[0] * self.size[1] * self.dtype.itemsize
        return max(1, min(requested, BATCH_BYTES // row))

    def decode(self, path: Path, out: np.ndarray) -> None:
        """One image into `out`, (3, H, W) float32 in [0, 1] on the canvas. The bytes are
        scaled straight into the batch, with no float copies of the image on the way (-15%
        decode CPU for a 256x256 PNG; docs/benchmarks.md, image files)."""
        with Image.open(path) as image:
            rgb = image.convert("RGB")
        height, width = self.size
        if rgb.size != (width, height):
            if not self.resize:
                raise DataError(
                    f"the image is {rgb.size[1]}x{rgb.size[0]}, the others {height}x{width}.",
                    where=str(path),
                    fix="set `data.image_size` to decode every image at one size.",
                )
            rgb = rgb.resize((width, height), Image.Resampling.BILINEAR)
        np.divide(np.asarray(rgb).transpose(2, 0, 1), np.float32(255.0), out=out)

    def rows(self, index: np.ndarray) -> np.ndarray:
        """The given rows, decoded, in the given order."""
        out = np.empty((len(index), CHANNELS, *self.size), dtype=np.float32)
        paths = [self.paths[int(i)] for i in index]
        if len(paths) < _THREADED_FROM:
            for path, row in zip(paths, out, strict=True):
                self.decode(path, row)
            return out
        with ThreadPoolExecutor(_DECODE_THREADS) as pool:
            list(pool.map(self.decode, paths, out))  # each thread fills its own rows
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        rest: tuple[Any, ...] = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        if isinstance(key, int | np.integer):
            picked = self.rows(np.arange(len(self))[[int(key)]])[0]
        elif isinstance(key, slice):
            picked = self.rows(np.arange(len(self))[key])
        else:
            index = np.asarray(key)
            if index.dtype == bool:
                index = np.flatnonzero(index)
            picked = self.rows(np.arange(len(self))[index])
        if not rest:
            return picked
        return picked[(slice(None), *rest)] if picked.ndim == 4 else picked[rest]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """Every image at once (small sets only: this is what the lazy rows avoid)."""
        whole = self.rows(np.arange(len(self)))
        return whole if dtype is None else whole.astype(dtype)


def _inside(root: Path, path: Path, where: str) -> Path:
    resolved = (root / path).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise DataError(
            f"the image path {str(path)!r} leaves the data folder {root}.",
            where=where,
            fix="list paths relative to the data folder, without `..` or absolute paths "
            "elsewhere, or set `data.root` to a folder holding them all.",
        )
    return resolved


def check_image(path: Path) -> tuple[tuple[int, int] | str, bytes]:
    """(height, width) of a readable image, or why it cannot be read; and the file's sha256
    (provenance), from the same single read.

    The file is checked twice over, because a truncated file keeps a valid header: `verify`
    walks its structure (for PNG every chunk's CRC, up to IEND), then a full decode. Why
    `verify` too: WeasyPrint sets Pillow's process-wide `LOAD_TRUNCATED_IMAGES` on import, and
    a decode then pads a truncated image instead of failing. (JPEG has no `verify`; a truncated
    JPEG is caught only while that flag is off.)"""
    content = path.read_bytes()
    digest = hashlib.sha256(content).digest()
    try:
        with Image.open(io.BytesIO(content)) as image:
            image.verify()
        with Image.open(io.BytesIO(content)) as image:
            image.load()
            return (image.size[1], image.size[0]), digest
    except _BAD_IMAGE as exc:
        first = str(exc).strip().splitlines()
        return (f"{type(exc).__name__}: {first[0]}" if first else type(exc).__name__), digest


@dataclass(frozen=True)
class Listed:
    """What a folder or manifest lists: files, labels, sensitive columns, class names."""

    paths: tuple[Path, ...]
    labels: np.ndarray  # raw label values, one per path
    sensitive: pd.DataFrame
    class_names: tuple[str, ...] = ()


def list_folder(folder: Path, sensitive: Sequence[str]) -> Listed:
    """An ImageFolder layout: one sub-folder per class, named in sorted order as class ids."""
    if sensitive:
        raise DataError(
            "an image folder has no sensitive columns to read.",
            where="data.sensitive",
            fix="list the images in a CSV/Parquet manifest (`data.image`) with the sensitive "
            "columns, or remove `data.sensitive`.",
        )
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(
            f"an image folder needs one sub-folder per class; found {len(classes)}.",
            where=str(folder),
            fix="put each class's images in a sub-folder named after the class.",
        )
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        files = sorted(
            p
            for p in (folder / name).rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        paths += files
        labels += [label] * len(files)
    return Listed(
        tuple(paths),
        np.asarray(labels, dtype=np.int64),
        pd.DataFrame(index=range(len(paths))),
        tuple(classes),
    )


def list_manifest(frame: pd.DataFrame, column: str, root: Path, where: str) -> tuple[Path, ...]:
    """The manifest's image paths, resolved under `root`; every one must exist."""
    paths: list[Path] = []
    for row, value in enumerate(frame[column].tolist()):
        here = f"{where} column {column!r}, row {row + 1}"
        if not isinstance(value, str) or not value.strip():
            raise DataError(
                f"the image path is {value!r}, not a file name.", where=here, fix="fill it in."
            )
        path = _inside(root, Path(value), here)
        if not path.is_file():
            raise DataError(
                f"image file not found: {value}.",
                where=here,
                fix=f"check the path (relative to {root}), or remove the row.",
            )
        paths.append(path)
    return tuple(paths)


@dataclass(frozen=True)
class Checked:
    """The readable rows of a listing, the canvas, the files left out, and every listed file's
    sha256 (for `listing_sha256`)."""

    keep: np.ndarray  # row indices of readable images
    size: tuple[int, int]
    unreadable: tuple[Unreadable, ...]
    digests: tuple[bytes, ...]


def check_files(
    paths: Sequence[Path], image_size: Sequence[int] | None, root: Path, where: str
) -> Checked:
    """Read every file once: which are readable, the canvas they share, and their hashes."""
    if not paths:
        raise DataError("the data lists no image files.", where=where)
    with ThreadPoolExecutor(_DECODE_THREADS) as pool:
        found, digests = zip(*pool.map(check_image, paths), strict=True)
    readable = {i: f for i, f in enumerate(found) if isinstance(f, tuple)}
    unreadable = tuple(
        Unreadable(_shown(paths[i], root), f) for i, f in enumerate(found) if isinstance(f, str)
    )
    if not readable:
        raise DataError(
            f"none of the {len(paths)} image files can be read ({unreadable[0].reason}).",
            where=where,
        )
    keep = np.fromiter(readable, dtype=np.int64, count=len(readable))
    if image_size is not None:
        return Checked(keep, (int(image_size[0]), int(image_size[1])), unreadable, digests)
    first, size = next(iter(readable.items()))
    other = next((i for i, s in readable.items() if s != size), None)
    if other is not None:
        h, w = readable[other]
        raise DataError(
            f"the images differ in size: {_shown(paths[first], root)} is {size[0]}x{size[1]}, "
            f"{_shown(paths[other], root)} is {h}x{w} (height x width).",
            where=where,
            fix="set `data.image_size: [height, width]`; every image is then resized to it "
            "when decoded, and probe regions are given in those pixels.",
        )
    return Checked(keep, size, unreadable, digests)


def listing_sha256(
    root: Path, paths: Sequence[Path], digests: Sequence[bytes], listing: str = ""
) -> str:
    """Provenance of image files: one hash over the listing's own hash (a manifest) and each
    file's path under `root` and content hash, in listed order."""
    digest = hashlib.sha256(listing.encode())
    for path, content in zip(paths, digests, strict=True):
        digest.update(_shown(path, root).encode() + b"\0")
        digest.update(content)
    return digest.hexdigest()


def files_sha256(root: Path, paths: Sequence[Path], listing: str = "") -> str:
    """`listing_sha256` with the files read from disk (a worker checking nothing changed)."""
    digests = [hashlib.sha256(path.read_bytes()).digest() for path in paths]
    return listing_sha256(root, paths, digests, listing)


def _shown(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def require_readable_share(
    unreadable: Sequence[Unreadable], listed: int, max_share: float, where: str
) -> None:
    """Fail the audit when more of the listed images are unreadable than the policy allows."""
    share = len(unreadable) / listed if listed else 0.0
    if share > max_share:
        names = ", ".join(u.path for u in unreadable[:3]) + (" ..." if len(unreadable) > 3 else "")
        raise DataError(
            f"{len(unreadable)} of {listed} image files ({share:.1%}) cannot be read, more than "
            f"the policy's `defaults.max_unreadable_share` of {max_share:.1%}: {names} "
            f"(first: {unreadable[0].reason}).",
            where=where,
            fix="replace or remove the damaged files, or raise `max_unreadable_share` in the "
            "policy if leaving them out is acceptable.",
        )


def take_rows(x: Any, rows: np.ndarray | slice) -> Any:
    """Rows of a row-aligned array: image files stay undecoded, anything else is indexed."""
    return x.take(rows) if isinstance(x, ImageFiles) else x[rows]


def rows_per_batch(x: Any, requested: int) -> int:
    """The batch size to use over `x`: image files cap it by memory, arrays keep it."""
    return x.rows_per_batch(requested) if isinstance(x, ImageFiles) else requested
