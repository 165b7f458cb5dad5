"""Everything about an audit that can be known before the model runs, checked before any
server starts.

`audit run` (and `audit schedule`) call `preflight` first: a typo in a probe's feature, a
missing `embedding_layer` or a bad cron then exits 2 within seconds with the reason on the
terminal, instead of surfacing after a Prefect server has started and the checks have run, as
a signed `error` report. The checks are ordered cheapest first, and only the attribution checks
import torch (and, for a text `factory` model with layer_integrated_gradients, build the
model once to find its embedding):

1. the spec (bounded parsing, schema), the policy (schema, then `lint`: unknown metric names,
   contradictions, waivers for rules that do not exist), and that no check the policy
   requires is switched off;
2. the cron expression (`audit schedule`) and that the output folder is writable;
3. a Hugging Face model folder's config, weights and tokenizer files (no weights read: a
   pickle-based `pytorch_model.bin` or a config asking for remote code is refused here);
   the data's names, from the CSV header, the Parquet schema, a JSONL file's first record or
   the `.npz` member list only: features (or the text column), label and sensitive columns,
   and the shape in `x.npy`'s header; for image files the folder, or the manifest's columns,
   and the model's preprocessing (declared, or its Hugging Face image processor's config);
4. each enabled check's own cross-checks against the spec and that header
   (`CheckPlugin.preflight_spec`; e.g. spurious: probe features and regions, the attribution
   method against the model format and the token embedding it needs).

The cross-checks that need the loaded data (`CheckPlugin.preflight`, e.g. single-group
sensitive columns) run at load time (`audit.pipeline.preflight`).
"""

from __future__ import annotations

import datetime
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from audit import registry
from audit.errors import DataError, PolicyError, ReportError, SpecError
from audit.loaders.data import (
    is_image_files,
    require_arrays,
    require_columns,
    require_unique_columns,
)
from audit.plugin import DataHeader
from audit.policy import Policy, lint, load_policy
from audit.policy.load import resolve_ref
from audit.spec import AuditSpec, load_spec

REQUIRED_OFF = "check `{check}` is required by policy `{policy}`, but the spec switches it off."
REQUIRED_OFF_FIX = (
    "remove `{check}: false`{hint}, or audit under a policy that extends `{policy}` and "
    "lists `{check}` under `optional_checks` (the report then says so)."
)
SPURIOUS_HINT = " (without probes it is skipped anyway, with its reason)"
POLICY_PROBLEMS = "the policy has {n} problem(s):\n{problems}"
POLICY_PROBLEMS_FIX = "correct them; `audit policy lint {file}` lists the same."
NOT_WRITABLE = "cannot write to the output folder: {reason}."
NOT_WRITABLE_FIX = "choose a writable folder with --out."
NO_DATA = "data file not found."
CRON_FIELDS = "has {n} field(s); a cron expression has 5: minute hour day-of-month month weekday"
CRON_RANGE = "the {field} field's `{value}` is outside its range {low}-{high}{names}"
CRON_ORDER = "the {field} field's range `{item}` runs backwards"
CRON_STEP = "the {field} field's step in `{item}` must be 1 or more"
CRON_BAD = "{cron!r}: {problem}."
CRON_FIX = 'give five fields: minute hour day month weekday, e.g. "0 6 * * 1" (Mondays 06:00).'

_HEADER_SHOWN = 12
_TABULAR = {".csv", ".csv.gz", ".parquet"}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names that stand for numbers starting at `lowest`)
_CRON: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("weekday", 0, 7, _DAYS),
)
_CRON_ITEM = re.compile(r"^(?P<base>\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>\d+))?$")


# --- policy ---------------------------------------------------------------------------------


def _policy(spec: AuditSpec, spec_file: Path, override: str | None) -> Policy:
    """Load the policy the run will use, and refuse one that lint finds problems in.

    Expired waivers are left out: the judge ignores them and says so, which is what an audit
    under a lapsed waiver should show, not a reason to refuse the run. So are deprecated names
    (a subject's `severity` for `level`): they load as the new name, and an old policy must
    keep running; `audit policy lint` lists them.
    """
    ref, base = (override, None) if override else (spec.policy, spec_file.parent)
    policy = load_policy(ref, base_dir=base)
    file = resolve_ref(ref, base)
    problems = lint(file, today=datetime.date.today(), expired_waivers=False)
    if problems:
        raise PolicyError(
            POLICY_PROBLEMS.format(n=len(problems), problems="\n".join(problems)),
            fix=POLICY_PROBLEMS_FIX.format(file=file),
        )
    return policy


def required_checks_on(spec: AuditSpec, policy: Policy) -> None:
    """A check the policy requires may not be switched off (the judge would error on it)."""
    for check in policy.required_checks:
        if getattr(spec.checks, check) is False:
            hint = SPURIOUS_HINT if check == "spurious" else ""
            raise SpecError(
                REQUIRED_OFF.format(check=check, policy=policy.name),
                where=f"checks.{check}",
                fix=REQUIRED_OFF_FIX.format(check=check, policy=policy.name, hint=hint),
            )


# --- schedule and outputs -------------------------------------------------------------------


def _cron_value(text: str, names: tuple[str, ...], low: int) -> int | None:
    if text.isdigit():
        return int(text)
    lowered = text.lower()
    return names.index(lowered) + low if lowered in names else None


def _cron_item_problem(
    item: str, field: str, low: int, high: int, names: tuple[str, ...]
) -> str | None:
    match = _CRON_ITEM.match(item)
    if match is None:
        return None  # croniter's own syntax (L, #, ?, W): Prefect's validator judges it
    if match["step"] is not None and int(match["step"]) < 1:
        return CRON_STEP.format(field=field, item=item)
    if match["base"] == "*":
        return None
    values = []
    for part in match["base"].split("-"):
        value = _cron_value(part, names, low)
        if value is None:
            return None
        if not low <= value <= high:
            spelled = f" (or {names[0]}-{names[-1]})" if names else ""
            return CRON_RANGE.format(field=field, value=part, low=low, high=high, names=spelled)
        values.append(value)
    if len(values) == 2 and values[0] > values[1]:
        return CRON_ORDER.format(field=field, item=item)
    return None


def check_cron(cron: str) -> None:
    """Name the field and its allowed range when a cron expression is wrong.

    Only what is certainly wrong is reported here (field count, values out of range, backward
    ranges, zero steps); anything else goes on to Prefect's own validator, so no expression
    it accepts is refused.
    """
    if cron.strip().startswith("@"):
        return
    fields = cron.split()
    if len(fields) != len(_CRON):
        problem = CRON_FIELDS.format(n=len(fields))
        raise SpecError(CRON_BAD.format(cron=cron, problem=problem), where="--cron", fix=CRON_FIX)
    for text, (field, low, high, names) in zip(fields, _CRON, strict=True):
        for item in text.split(","):
            item_problem = _cron_item_problem(item, field, low, high, names)
            if item_problem is not None:
                raise SpecError(
                    CRON_BAD.format(cron=cron, problem=item_problem), where="--cron", fix=CRON_FIX
                )


def check_writable(out: Path) -> None:
    """Refuse an output folder we cannot write before the audit spends any time."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise ReportError(
            NOT_WRITABLE.format(reason=exc.strerror), where=str(out), fix=NOT_WRITABLE_FIX
        ) from None


# --- data names -----------------------------------------------------------------------------


def _suffix(path: Path) -> str:
    return "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()


def _header(path: Path) -> list[str] | None:
    """Column names of a CSV, Parquet or JSONL file without reading its rows (None: let the
    loader report a file it cannot read)."""
    import pandas as pd

    try:
        if _suffix(path) == ".parquet":
            import pyarrow.parquet as pq

            frame = pd.DataFrame(columns=pq.read_schema(path).names)
        elif _suffix(path) in {".jsonl", ".jsonl.gz"}:
            frame = pd.read_json(path, lines=True, nrows=1)
        else:
            frame = pd.read_csv(path, nrows=0)
    except Exception:  # the loader reads it again and names the problem precisely
        return None
    require_unique_columns(frame, path)
    return [str(c) for c in frame.columns]


def _npz_members(path: Path) -> tuple[list[str], tuple[int, ...] | None] | None:
    """Array names of a `.npz` and the shape of `x` from its `.npy` header (no data read)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n.removesuffix(".npy") for n in archive.namelist() if n.endswith(".npy")]
            if "x" not in names:
                return names, None
            with archive.open("x.npy") as fh:
                version = np.lib.format.read_magic(fh)
                read = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, _ = read(fh)
            return names, tuple(shape)
    except (OSError, ValueError, zipfile.BadZipFile):
        return None


def _image_files_header(spec: AuditSpec) -> DataHeader:
    """Image files: the folder exists, or the manifest names its columns (no image is opened;
    the loader checks every file, before the model loads)."""
    path = spec.data.path
    if spec.data.image is None:
        if not path.is_dir():
            raise DataError(
                "image folder not found.",
                where=str(path),
                fix="check `data.path`, or name a manifest's path column with `data.image`.",
            )
        return DataHeader()
    if not path.is_file():
        raise DataError(NO_DATA, where=str(path), fix="check `data.path`.")
    if (columns := _header(path)) is None:
        return DataHeader()
    for names, role in (
        ([spec.data.image], "image"),
        ([spec.data.label_name()], "label"),
        (spec.data.sensitive, "sensitive"),
    ):
        require_columns(columns, names, role, path)
    return DataHeader(columns=tuple(columns))


def data_header(spec: AuditSpec) -> DataHeader:
    """The spec's names against the data's header or member list; the rows are not read.
    Returns what was learnt, for the checks' own preflight."""
    path = spec.data.path
    if is_image_files(spec.data, spec.model):
        return _image_files_header(spec)
    if not path.is_file():
        raise DataError(NO_DATA, where=str(path), fix="check `data.path`.")
    if spec.data.text is not None:
        if (columns := _header(path)) is None:
            return DataHeader()
        for names, role in (
            ([spec.data.text], "text"),
            ([spec.data.label_name()], "label"),
            (spec.data.sensitive, "sensitive"),
        ):
            require_columns(columns, names, role, path)
        return DataHeader(columns=tuple(columns))
    if spec.model.modality == "tabular":
        if _suffix(path) not in _TABULAR or (columns := _header(path)) is None:
            return DataHeader()
        for names, role in (
            (spec.data.features or [], "features"),
            ([spec.data.label_name()], "label"),
            (spec.data.sensitive, "sensitive"),
        ):
            require_columns(columns, names, role, path)
        return DataHeader(columns=tuple(columns))
    members = _npz_members(path) if path.suffix.lower() == ".npz" else None
    if members is None:
        return DataHeader()
    arrays, shape = members
    require_arrays(arrays, spec.data, path)
    return DataHeader(x_shape=shape)


def model_files(spec: AuditSpec) -> None:
    """A Hugging Face folder's files, config and tokenizer or image preprocessing, and a text
    tokenizer folder, without loading any weights."""
    if spec.model.source_format() == "huggingface":
        from audit.loaders.huggingface import check_folder  # torch: only for such a model

        assert spec.model.path is not None
        check_folder(spec.model.path, spec.model.modality)
    if is_image_files(spec.data, spec.model):
        from audit.loaders.model import image_preprocessing  # torch: an image audit needs it

        image_preprocessing(spec.model)
    tokenizer = spec.data.tokenizer
    if tokenizer is not None and not (tokenizer / "tokenizer.json").is_file():
        raise DataError(
            "no tokenizer.json in the tokenizer folder.",
            where=str(tokenizer),
            fix="point `data.tokenizer` at the folder tokenizer.save_pretrained wrote.",
        )


def checks_preflight(spec: AuditSpec, header: DataHeader) -> None:
    """Each enabled check cross-checks its own section against the spec and the header."""
    for name, config in spec.checks.enabled().items():
        plugin = registry.plugin(name)
        plugin.preflight_spec(plugin.configure(config, spec), spec, header)


# --- all of it --------------------------------------------------------------------------------


def preflight(
    spec_path: str | Path,
    *,
    policy: str | None = None,
    out: Path | None = None,
    cron: str | None = None,
) -> AuditSpec:
    """Check everything knowable before the model runs; raise the first `AuditError` found."""
    file = Path(spec_path)
    spec = load_spec(file)
    required_checks_on(spec, _policy(spec, file, policy))
    if cron is not None:
        check_cron(cron)
    if out is not None:
        check_writable(out)
    model_files(spec)
    checks_preflight(spec, data_header(spec))
    return spec
