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
3. the data's names, from the CSV header, the Parquet schema or the `.npz` member list only:
   features, label, sensitive columns, feature probes, and patch regions against the image size
   in `x.npy`'s header;
4. the attribution method against the model format (hook-based methods need a `factory`
   model) and the token embedding layer it needs.

The cross-checks that need the loaded data (`audit.pipeline.preflight`: single-group sensitive
columns) stay at load time; the checks both stages share live here.
"""

from __future__ import annotations

import datetime
import re
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from audit.errors import DataError, PolicyError, ReportError, SpecError
from audit.loaders.data import require_arrays, require_columns, require_unique_columns
from audit.policy import Policy, lint, load_policy
from audit.policy.load import resolve_ref
from audit.spec import AuditSpec, FeatureProbe, PatchProbe, SpuriousSpec, load_spec

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
PROBE_FEATURE = "feature probe {name!r} names {what}."
PROBE_FEATURE_FIX = "probe one of `data.features`: {features}"
PROBE_OUTSIDE = "probe region {0} does not fit inside the data's {1}x{2} images."
PROBE_OUTSIDE_FIX = (
    "give [row, col, height, width] with row + height <= {0} and col + width <= {1}."
)
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
_EXPORT_SUFFIX, _EXPORT_KIND = ".pt2", "torch.export GraphModule"  # else TorchScript


# --- policy ---------------------------------------------------------------------------------


def _policy(spec: AuditSpec, spec_file: Path, override: str | None) -> Policy:
    """Load the policy the run will use, and refuse one that lint finds problems in.

    Expired waivers are left out: the judge ignores them and says so, which is what an audit
    under a lapsed waiver should show, not a reason to refuse the run.
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


def _cron_item_problem(item: str, field: str, low: int, high: int, names: tuple) -> str | None:
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
            problem = _cron_item_problem(item, field, low, high, names)
            if problem is not None:
                raise SpecError(
                    CRON_BAD.format(cron=cron, problem=problem), where="--cron", fix=CRON_FIX
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
    """Column names of a CSV or Parquet file without reading its rows (None: let the loader
    report a file it cannot read)."""
    import pandas as pd

    try:
        if _suffix(path) == ".parquet":
            import pyarrow.parquet as pq

            frame = pd.DataFrame(columns=pq.read_schema(path).names)
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


def check_probe_features(spec: AuditSpec, columns: Sequence[str] | None = None) -> None:
    """Feature probes name one of `data.features` (the columns the model sees)."""
    cfg = spec.checks.spurious
    if cfg is False:
        return
    features = spec.data.features or []
    for i, probe in enumerate(cfg.probes):
        if isinstance(probe, FeatureProbe) and probe.feature not in features:
            in_data = columns is not None and probe.feature in columns
            what = "a column the model does not take" if in_data else "no column of the data"
            raise SpecError(
                PROBE_FEATURE.format(name=probe.feature, what=what),
                where=f"checks.spurious.probes[{i}].feature",
                fix=PROBE_FEATURE_FIX.format(features=", ".join(features[:_HEADER_SHOWN])),
            )


def check_probe_regions(spec: AuditSpec, height: int, width: int) -> None:
    """Patch probes fit inside the images (also checked by `pipeline.preflight` at load)."""
    if spec.checks.spurious is False:
        return
    for i, probe in enumerate(spec.checks.spurious.probes):
        if isinstance(probe, PatchProbe):
            r, c, h, w = probe.region
            if r + h > height or c + w > width:
                raise SpecError(
                    PROBE_OUTSIDE.format(probe.region, height, width),
                    where=f"checks.spurious.probes[{i}].region",
                    fix=PROBE_OUTSIDE_FIX.format(height, width),
                )


def check_data_names(spec: AuditSpec) -> None:
    """The spec's names against the data's header or member list; the rows are not read."""
    path = spec.data.path
    if not path.is_file():
        raise DataError(NO_DATA, where=str(path), fix="check `data.path`.")
    if spec.model.modality == "tabular":
        if _suffix(path) not in _TABULAR or (columns := _header(path)) is None:
            return
        for names, role in (
            (spec.data.features or [], "features"),
            ([spec.data.label], "label"),
            (spec.data.sensitive, "sensitive"),
        ):
            require_columns(columns, names, role, path)
        check_probe_features(spec, columns)
        return
    check_probe_features(spec)
    members = _npz_members(path) if path.suffix.lower() == ".npz" else None
    if members is None:
        return
    arrays, shape = members
    require_arrays(arrays, spec.data, path)
    if spec.model.modality == "image" and shape is not None and len(shape) == 4:
        check_probe_regions(spec, shape[2], shape[3])


# --- attribution ------------------------------------------------------------------------------


def check_attribution(spec: AuditSpec) -> None:
    """The attribution method fits the model format, and the embedding it needs exists.

    Hook-based methods need a live module, so a serialized `path` model needs a
    `fallback_method`; layer_integrated_gradients needs the token embedding, found by building
    the `factory` model once (the only check here that runs user code, and only for it).
    """
    cfg = spec.checks.spurious
    if cfg is False:
        return
    from audit.checks.spurious.attribution import resolve_method_for

    model = spec.model
    kind = None  # a factory builds a live module
    if model.path is not None:
        kind = _EXPORT_KIND if model.path.suffix.lower() == _EXPORT_SUFFIX else "TorchScript"
    method = resolve_method_for(cfg.method, cfg.fallback_method, kind, model.modality)
    if method == "layer_integrated_gradients" and kind is None:
        _check_embedding(spec, cfg)


def _check_embedding(spec: AuditSpec, cfg: SpuriousSpec) -> None:
    from audit.checks.spurious.attribution import token_embedding
    from audit.loaders.model import load_module

    token_embedding(load_module(spec.model), cfg.embedding_layer)


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
    check_data_names(spec)
    check_attribution(spec)
    return spec
