"""The hostile-input corpus: one record per case, run through the real `audit` CLI.

Each case builds its inputs in a temporary folder, names the command line, and states the
expected exit code and a fragment of the message. `docs/security.md` lists the same table.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hostile_builders import (
    RaisesOnLarge,
    Sabotage,
    audit_inputs,
    constant_output,
    fake_torchscript,
    frame,
    pickled_module,
    run_argv,
    write_pair,
)
from markupsafe import escape
from torch import nn

import audit.fsio

MARKER = "EXECUTED"  # a hostile pickle creates this file if it is ever unpickled
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: displays what follows reversed


@dataclass
class Ctx:
    """What a builder may use: its own folder, the session key, and monkeypatch."""

    folder: Path
    keys: Path
    monkeypatch: pytest.MonkeyPatch

    @property
    def marker(self) -> Path:
        return self.folder / MARKER

    def inputs(self, **kw: Any) -> list[str]:
        spec = audit_inputs(self.folder / "in", self.keys, **kw)
        return run_argv(spec, self.folder)


@dataclass(frozen=True)
class Case:
    id: str
    bullet: str  # the bullet this case covers (for the table in docs/security.md)
    build: Callable[[Ctx], list[str]]
    code: tuple[int, ...]
    fragment: str
    outcome: str  # plain-language expected outcome, for the docs table
    report: bool = False  # render cases: a report is the point; everything else leaves none
    subprocess: bool = False  # also run as a real process
    slow: bool = False
    root_skip: bool = False  # meaningless as root (permissions are not enforced)
    checks: tuple[Callable[[Ctx], None], ...] = field(default=())


def patch(fn: Callable[[dict[str, Any]], None]) -> Callable[[Ctx], list[str]]:
    return lambda ctx: ctx.inputs(patch=fn)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(spec: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = spec
        for p in parents:
            node = node[p]
        node[last] = value

    return apply


def _with_data(**columns: Any) -> Callable[[Ctx], list[str]]:
    def build(ctx: Ctx) -> list[str]:
        data = frame()
        for name, values in columns.items():
            data[name] = values
        return ctx.inputs(data=data)

    return build


def _csv(text: str) -> Callable[[Ctx], list[str]]:
    return lambda ctx: ctx.inputs(csv_text=text)


def _model(module: nn.Module, **spec_changes: Any) -> Callable[[Ctx], list[str]]:
    def build(ctx: Ctx) -> list[str]:
        def apply(spec: dict[str, Any]) -> None:
            for k, v in spec_changes.items():
                _set(k, v)(spec)

        return ctx.inputs(model=module, patch=apply)

    return build


# --- model files that would need unpickling ----------------------------------------------


def _pickled_pt(ctx: Ctx) -> list[str]:
    return ctx.inputs(model_bytes=pickled_module(ctx.marker))


def _fake_script(ctx: Ctx) -> list[str]:
    return ctx.inputs(model_bytes=fake_torchscript(ctx.marker))


def _pickle_as_pt2(ctx: Ctx) -> list[str]:
    argv = ctx.inputs(patch=_set("model.path", "model.pt2"))
    (ctx.folder / "in" / "model.pt2").write_bytes(pickled_module(ctx.marker))
    return argv


def _pickled_weights(ctx: Ctx) -> list[str]:
    weights = ctx.folder / "in" / "weights.pt"

    def apply(spec: dict[str, Any]) -> None:
        spec["model"] = {"factory": "tiny_models:linear", "weights": "weights.pt", "task": "binary"}

    argv = ctx.inputs(patch=apply)
    torch.save({"linear.weight": Sabotage(ctx.marker)}, weights)
    return argv


def _raises_on_some_batches(ctx: Ctx) -> list[str]:
    data = frame()
    data.loc[200, "a"] = 1e6  # the fourth batch of 64 holds an out-of-range value
    return ctx.inputs(model=RaisesOnLarge(), data=data, patch=_set("data.batch_size", 64))


# --- data -------------------------------------------------------------------------------------


def _duplicated_column(ctx: Ctx) -> list[str]:
    text = frame().to_csv(index=False).replace("a,b,c,y,sex", "a,b,a,y,sex", 1)
    return ctx.inputs(csv_text=text)


def _distinct_groups(count: int, max_groups: int | None) -> Callable[[Ctx], list[str]]:
    def build(ctx: Ctx) -> list[str]:
        data = frame(rows=count)
        data["sex"] = [f"g{i:05d}" for i in range(count)]
        fn = _set("checks.bias.max_groups", max_groups) if max_groups else None
        return ctx.inputs(data=data, patch=fn)

    return build


def _groups_listing_is_capped(ctx: Ctx) -> None:
    html = (ctx.folder / "out" / "report.html").read_text(encoding="utf-8")
    shown = set(re.findall(r"g\d{5}", html))
    assert 0 < len(shown) <= 250, f"the report lists {len(shown)} groups"


# --- images -------------------------------------------------------------------------------------


def _image_probe(region: list[int]) -> Callable[[Ctx], list[str]]:
    def build(ctx: Ctx) -> list[str]:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 1, 8, 8)).astype(np.float32)
        y = (x[:, 0, 0, 0] > 0).astype(np.int64)
        folder = ctx.folder / "in"
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "images.npz", x=x, y=y, g=np.array(["A", "B"] * 32))

        def apply(spec: dict[str, Any]) -> None:
            spec["model"]["modality"] = "image"
            spec["data"] = {"path": "images.npz", "label": "y", "sensitive": ["g"]}
            spec["checks"]["spurious"] = {
                "probes": [{"type": "patch", "region": region, "value": 1}]
            }

        return ctx.inputs(model=nn.Sequential(nn.Flatten(), nn.Linear(64, 1)), patch=apply)

    return build


# --- signing ------------------------------------------------------------------------------------


def _signing(env_value: str | None = None, **kw: Any) -> Callable[[Ctx], list[str]]:
    def build(ctx: Ctx) -> list[str]:
        key, cert = write_pair(ctx.folder / "k", **kw)
        signing = {"key": str(key), "cert": str(cert)}
        if env_value is not None:
            ctx.monkeypatch.setenv("HOSTILE_PASSPHRASE", env_value)
            signing["passphrase_env"] = "HOSTILE_PASSPHRASE"
        return ctx.inputs(patch=_set("signing", signing))

    return build


def _mismatched_pair(ctx: Ctx) -> list[str]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key, cert = write_pair(ctx.folder / "k", cert_key=other)
    return ctx.inputs(patch=_set("signing", {"key": str(key), "cert": str(cert)}))


# --- output -------------------------------------------------------------------------------------


def _out_under_file(ctx: Ctx) -> list[str]:
    argv = ctx.inputs()
    blocker = ctx.folder / "a-file"
    blocker.write_text("not a folder")
    return [*argv[:-1], str(blocker / "out")]


def _out_read_only(ctx: Ctx) -> list[str]:
    argv = ctx.inputs()
    locked = ctx.folder / "out"
    locked.mkdir()
    locked.chmod(0o500)
    return argv


class _FullDisk:
    """Stands in for `os` inside audit.fsio: every fsync (or one file's rename) hits ENOSPC."""

    def __init__(self, only: str | None):
        self.only = only

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def fsync(self, fd: int) -> None:
        if self.only is None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        os.fsync(fd)

    def replace(self, src: str, dst: str) -> None:
        if self.only is not None and str(dst).endswith(self.only):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        os.replace(src, dst)


def _full_disk(only: str | None) -> Callable[[Ctx], list[str]]:
    def build(ctx: Ctx) -> list[str]:
        ctx.monkeypatch.setattr(audit.fsio, "os", _FullDisk(only))
        return ctx.inputs()

    return build


def _nothing_written(ctx: Ctx) -> None:
    out = ctx.folder / "out"
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert not left, f"left behind after a failed write: {left}"


# --- group names that must be escaped -----------------------------------------------------------


NAMES = {
    "html": ["<script>alert(1)</script>", '<a rel="attachment" href="file:///etc/passwd">x</a>'],
    "latex": [r"\input{/etc/passwd}", r"$\frac{1}{0}$ & % # _ ^ ~"],
    "long": ["L" * 2000, "M" * 2000],
    "rtl": ["\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627", RLO + "evil.exe"],
    "emoji": ["\U0001f469\U0001f3fd\u200d\U0001f4bb", "\U0001f3f3\ufe0f\u200d\U0001f308"],
    "markup": ["[bold red]loud[/]", "[/]"],
}


def named_groups(kind: str) -> Callable[[Ctx], list[str]]:
    def build(ctx: Ctx) -> list[str]:
        argv = ctx.inputs(data=frame(groups=NAMES[kind]))
        return [*argv, "--format", "html"]

    return build


def escaped_in_report(kind: str) -> Callable[[Ctx], None]:
    """Every group name reaches the HTML escaped and the PDF as literal text."""

    def check(ctx: Ctx) -> None:
        page = (ctx.folder / "out" / "report.html").read_text(encoding="utf-8")
        for name in NAMES[kind]:
            assert str(escape(name)) in page, f"{name[:40]!r} not found escaped"
        assert "<script>alert" not in page
        assert 'href="file:///etc/passwd"' not in page
        text = _flat(pdf_text(ctx.folder / "out" / "report.pdf"))
        for name in NAMES[kind]:
            assert _flat(_visual(name)) in text, f"{name[:40]!r} not in the PDF's text"

    return check


_INVISIBLE = re.compile(r"[\s\u200d\ufe0f\u202a-\u202e\u2066-\u2069]")


def _visual(name: str) -> str:
    """What a reader sees: a right-to-left override shows the rest of the name reversed."""
    return name[1:][::-1] if name.startswith(RLO) else name


def _flat(text: str) -> str:
    """Text without whitespace and invisible joiners/direction marks (pdftotext drops them)."""
    return _INVISIBLE.sub("", text)


def pdf_text(path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdftotext) not installed")
    proc = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    )
    return proc.stdout.decode("utf-8")


# --- the corpus -------------------------------------------------------------------------------

SPEC_SYNTAX = "name: x\nmodel: {path: m.pt\n"
SPEC_DUPLICATE = "name: a\nname: b\n"
# "Billion laughs": each line holds nine references to the line before; 9**5 strings, ~300 B.
ALIAS_BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abc", "bcd", strict=True))
    + f"e: [{','.join(['*d'] * 9)}]\n"
)
DEEP = 10_000


def _oversized_spec(ctx: Ctx) -> list[str]:
    argv = ctx.inputs(spec_text="name: big\n")
    with open(ctx.folder / "in" / "spec.yaml", "a", encoding="utf-8") as fh:
        fh.write("# padding\n" * 200_000)  # 2 MB, over the 256 KiB cap
    return argv


def _deep_findings(ctx: Ctx) -> list[str]:
    path = ctx.folder / "findings.json"
    path.write_text('{"metrics": ' + "[" * DEEP + "]" * DEEP + "}", encoding="utf-8")
    return ["judge", str(path), "--policy", "default"]


CASES: tuple[Case, ...] = (
    # spec: malformed YAML, wrong types, unknown keys
    Case(
        "spec-yaml-syntax",
        "malformed YAML (spec)",
        lambda c: c.inputs(spec_text=SPEC_SYNTAX),
        (2,),
        "invalid YAML",
        "exit 2 before Prefect starts, file:line:col",
        subprocess=True,
    ),
    Case(
        "spec-duplicate-key",
        "malformed YAML (spec)",
        lambda c: c.inputs(spec_text=SPEC_DUPLICATE),
        (2,),
        "duplicate",
        "exit 2, names the key",
    ),
    Case(
        "spec-not-a-mapping",
        "malformed YAML (spec)",
        lambda c: c.inputs(spec_text="- a\n- b\n"),
        (2,),
        "must be a YAML mapping",
        "exit 2",
    ),
    Case(
        "spec-empty-file",
        "malformed YAML (spec)",
        lambda c: c.inputs(spec_text=""),
        (2,),
        "must be a YAML mapping",
        "exit 2",
    ),
    Case(
        "spec-seed-wrong-type",
        "wrong types (spec)",
        patch(_set("seed", "zero")),
        (2,),
        "field `seed`",
        "exit 2, names the field",
    ),
    Case(
        "spec-features-wrong-type",
        "wrong types (spec)",
        patch(_set("data.features", "a,b,c")),
        (2,),
        "field `data.features`",
        "exit 2, names the field",
    ),
    Case(
        "spec-threshold-out-of-range",
        "wrong types (spec)",
        patch(_set("model.decision_threshold", 7)),
        (2,),
        "model.decision_threshold",
        "exit 2, names the field",
    ),
    Case(
        "spec-unknown-top-key",
        "unknown keys (spec)",
        patch(_set("modle", {"x": 1})),
        (2,),
        "unknown key `modle`",
        "exit 2, suggests `model`",
    ),
    Case(
        "spec-unknown-nested-key",
        "unknown keys (spec)",
        patch(_set("data.lable", "y")),
        (2,),
        "unknown key `lable`",
        "exit 2, suggests `label`",
    ),
    Case(
        "spec-unknown-check",
        "unknown keys (spec)",
        patch(_set("checks.fairness", {})),
        (2,),
        "unknown key `fairness`",
        "exit 2",
    ),
    # spec: unbounded parsing (docs/security.md, Parsing limits)
    Case(
        "spec-alias-bomb",
        "unbounded parsing (spec)",
        lambda c: c.inputs(spec_text=ALIAS_BOMB),
        (2,),
        "spec.yaml:1:4: YAML anchor `&a` refused",
        "exit 2 at once, file:line:col; anchors and aliases are refused",
        subprocess=True,
    ),
    Case(
        "spec-too-large",
        "unbounded parsing (spec)",
        _oversized_spec,
        (2,),
        "over the 256 KiB limit for YAML input",
        "exit 2 at once; only the first 256 KiB + 1 bytes are read",
    ),
    Case(
        "spec-too-deep",
        "unbounded parsing (spec)",
        lambda c: c.inputs(spec_text="name: x\nmodel: " + "[" * DEEP + "]" * DEEP + "\n"),
        (2,),
        "spec.yaml:2:71: nested deeper than 64 levels",
        "exit 2 at once, file:line:col of the 65th level",
    ),
    Case(
        "policy-alias-bomb",
        "unbounded parsing (policy)",
        lambda c: _policy_file(c, ALIAS_BOMB),
        (2,),
        "policy.yaml:1:4: YAML anchor `&a` refused",
        "exit 2 at once, file:line:col of the policy",
    ),
    Case(
        "findings-too-deep",
        "unbounded parsing (findings.json)",
        _deep_findings,
        (2,),
        "nested deeper than 64 levels",
        "`audit judge` exits 2 at once, file:line:col",
    ),
    # policy: malformed YAML, wrong types, unknown keys
    Case(
        "policy-yaml-syntax",
        "malformed YAML (policy)",
        lambda c: _policy_file(c, "name: p\nrules: [\n"),
        (2,),
        "invalid YAML",
        "exit 2, file:line:col of the policy",
    ),
    Case(
        "policy-threshold-wrong-type",
        "wrong types (policy)",
        lambda c: _policy_file(c, _policy_text(value="'high'")),
        (2,),
        "threshold.value",
        "exit 2, names the rule field",
    ),
    Case(
        "policy-unknown-key",
        "unknown keys (policy)",
        lambda c: _policy_file(c, _policy_text() + "rulez: []\n"),
        (2,),
        "unknown key `rulez`",
        "exit 2",
    ),
    # model files: pickle refused and never executed; not TorchScript; bad outputs
    Case(
        "model-pickled-module",
        "pickled model refused, never executed",
        _pickled_pt,
        (2,),
        "refused",
        "exit 2; the pickle's payload never runs",
        subprocess=True,
    ),
    Case(
        "model-fake-torchscript",
        "pickled model refused, never executed",
        _fake_script,
        (2,),
        "TorchScript load failed",
        "exit 2; TorchScript's unpickler refuses the payload",
    ),
    Case(
        "model-pickle-named-pt2",
        "pickled model refused, never executed",
        _pickle_as_pt2,
        (2,),
        "could not load torch.export archive",
        "exit 2, no traceback from torch",
    ),
    Case(
        "model-pickled-weights",
        "pickled model refused, never executed",
        _pickled_weights,
        (2,),
        "unsafe unpickling",
        "exit 2; weights_only=True refuses the payload",
    ),
    Case(
        "model-not-torchscript",
        "not TorchScript",
        lambda c: c.inputs(model_bytes=b"not a model"),
        (2,),
        "not a TorchScript archive",
        "exit 2",
    ),
    Case(
        "model-three-outputs-binary",
        "output shape does not fit the task",
        _model(constant_output(3)),
        (2,),
        "`task: binary` needs 1 or 2 outputs",
        "exit 2, suggests `task: multiclass`",
    ),
    Case(
        "model-one-output-multiclass",
        "output shape does not fit the task",
        _model(nn.Linear(3, 1), **{"model.task": "multiclass"}),
        (2,),
        "`task: multiclass` needs 3 or more",
        "exit 2",
    ),
    Case(
        "model-returns-nan",
        "model returns NaN",
        _model(constant_output(1, float("nan"))),
        (2,),
        "NaN or infinite outputs",
        "exit 2",
    ),
    Case(
        "model-raises-on-some-batches",
        "model raises on some batches",
        _raises_on_some_batches,
        (2,),
        "the model raised on rows 192-239: RuntimeError: simulated",
        "exit 2, names the rows; no pass",
    ),
    Case(
        "model-input-width",
        "output shape does not fit the task",
        patch(_set("data.features", ["a", "b"])),
        (2,),
        "failed on the first rows",
        "exit 2",
    ),
    # CSV
    Case(
        "csv-missing-column",
        "CSV column missing",
        patch(_set("data.features", ["a", "b", "z"])),
        (2,),
        "column 'z' (features) is not in the data",
        "exit 2, lists the header",
        subprocess=True,
    ),
    Case(
        "csv-duplicated-column",
        "CSV column duplicated",
        _duplicated_column,
        (2,),
        "duplicated column name(s): a",
        "exit 2",
    ),
    Case(
        "csv-non-numeric-feature",
        "CSV column non-numeric",
        _with_data(b=["high", "low"] * 120),
        (2,),
        "feature column 'b' is not numeric",
        "exit 2",
    ),
    Case(
        "csv-nan-feature",
        "NaN/inf in features",
        _with_data(c=[np.nan] + [0.0] * 239),
        (2,),
        "NaN or infinite feature value(s), first in column 'c'",
        "exit 2",
    ),
    Case(
        "csv-inf-feature",
        "NaN/inf in features",
        _with_data(a=[np.inf] * 240),
        (2,),
        "NaN or infinite feature value(s), first in column 'a'",
        "exit 2",
    ),
    Case(
        "csv-nan-label",
        "NaN/inf in labels",
        _with_data(y=[np.nan] + [1.0] * 239),
        (2,),
        "the label has 1 missing value(s)",
        "exit 2",
    ),
    Case(
        "csv-inf-label",
        "NaN/inf in labels",
        _with_data(y=[np.inf] + [1.0] * 239),
        (2,),
        "non-integer or infinite",
        "exit 2",
    ),
    Case(
        "csv-label-not-binary",
        "non-binary label for a binary task",
        _with_data(y=[0, 1, 2] * 80),
        (2,),
        "`task: binary` needs labels 0/1, found [0, 1, 2]",
        "exit 2, suggests multiclass",
    ),
    Case(
        "csv-label-text",
        "non-binary label for a binary task",
        _with_data(y=["yes", "no"] * 120),
        (2,),
        "the label must be numeric class ids",
        "exit 2",
    ),
    Case(
        "csv-empty",
        "empty dataset",
        _csv("a,b,c,y,sex\n"),
        (2,),
        "the dataset has no rows",
        "exit 2",
    ),
    Case(
        "csv-one-group",
        "dataset with one group",
        _with_data(sex=["F"] * 240),
        (2,),
        "holds a single group ('F')",
        "exit 2 before the model runs",
    ),
    Case(
        "csv-10k-groups",
        "sensitive column with 10,000 values",
        _distinct_groups(10_000, None),
        (2,),
        "has 10000 distinct values, more than max_groups=50",
        "exit 2 at load, suggests binning; no report",
    ),
    Case(
        "csv-10k-groups-limit-raised",
        "sensitive column with 10,000 values",
        lambda c: [*_distinct_groups(300, 300)(c), "--format", "html"],
        (2,),
        "verdict ERROR",
        "with max_groups raised (300 here): exit 2, groups too small; the report lists at most 200",
        report=True,
        slow=True,
        checks=(_groups_listing_is_capped,),
    ),
    # group names: escaped, rendered safely
    *(
        Case(
            f"names-{kind}",
            "group names with HTML/LaTeX/long/RTL/emoji",
            named_groups(kind),
            (0, 1),
            "",
            "report rendered, names escaped (exit as judged)",
            report=True,
            slow=True,
            checks=(escaped_in_report(kind),),
        )
        for kind in NAMES
    ),
    # path traversal
    Case(
        "path-traversal-data",
        "path traversal (spec paths)",
        patch(_set("data.path", "../../../../etc/passwd")),
        (2,),
        "climbs out of the spec's folder",
        "exit 2",
    ),
    Case(
        "path-traversal-model",
        "path traversal (spec paths)",
        patch(_set("model.path", "../elsewhere/model.pt")),
        (2,),
        "climbs out",
        "exit 2",
    ),
    Case(
        "path-traversal-name",
        "path traversal (spec paths)",
        patch(_set("name", "../../etc/cron.d/x")),
        (2,),
        "field `name`",
        "exit 2 (the name is used in output paths)",
    ),
    Case(
        "path-traversal-policy",
        "path traversal (policy names)",
        patch(_set("policy", "../../../../etc/passwd")),
        (2,),
        "climbs out",
        "exit 2",
    ),
    Case(
        "policy-name-not-plain",
        "path traversal (policy names)",
        patch(_set("policy", "..")),
        (2,),
        "is not a plain name",
        "exit 2",
    ),
    Case(
        "policy-extends-traversal",
        "path traversal (policy names)",
        lambda c: _policy_file(c, _policy_text() + "extends: ../../../../etc/passwd\n"),
        (2,),
        "climbs out",
        "exit 2 (a parent policy may not climb out of its child's folder)",
    ),
    # probes
    Case(
        "probe-outside-image",
        "probe region outside the image",
        _image_probe([6, 6, 4, 4]),
        (2,),
        "does not fit inside the data's 8x8 images",
        "exit 2 at load, before the model",
    ),
    Case(
        "probe-negative-region",
        "probe region outside the image",
        _image_probe([-1, 0, 2, 2]),
        (2,),
        "region is [row, col, height, width]",
        "exit 2 (spec validation)",
    ),
    # signing
    Case(
        "sign-wrong-passphrase",
        "wrong key passphrase",
        _signing(passphrase=b"right horse", env_value="wrong battery"),
        (2,),
        "wrong passphrase",
        "exit 2; the passphrase is never printed",
        subprocess=True,
    ),
    Case(
        "sign-passphrase-env-unset",
        "wrong key passphrase",
        patch(_set("signing.passphrase_env", "HOSTILE_UNSET_VARIABLE")),
        (2,),
        "`HOSTILE_UNSET_VARIABLE` (passphrase_env) is not set",
        "exit 2",
    ),
    Case(
        "sign-expired-cert",
        "expired certificate",
        _signing(days=(-60, -1)),
        (2,),
        "certificate expired on",
        "exit 2, before any model work",
    ),
    Case(
        "sign-key-cert-mismatch",
        "key not matching certificate",
        _mismatched_pair,
        (2,),
        "does not belong to this certificate",
        "exit 2",
    ),
    # output
    Case(
        "out-under-a-file",
        "output folder not writable",
        _out_under_file,
        (2,),
        "cannot write to the output folder",
        "exit 2 before the audit starts",
        subprocess=True,
    ),
    Case(
        "out-read-only",
        "output folder not writable",
        _out_read_only,
        (2,),
        "cannot write to the output folder",
        "exit 2 (skipped as root)",
        root_skip=True,
    ),
    Case(
        "disk-full",
        "full disk (simulated)",
        _full_disk(None),
        (2,),
        "No space left on device",
        "exit 2, nothing written, temporary file removed",
        checks=(_nothing_written,),
    ),
    Case(
        "disk-full-at-report",
        "full disk (simulated)",
        _full_disk("report.pdf"),
        (2,),
        "No space left on device",
        "exit 2, nothing written (the report is written first)",
        checks=(_nothing_written,),
    ),
    Case(
        "disk-full-at-findings",
        "full disk (simulated)",
        _full_disk("findings.json"),
        (2,),
        "No space left on device",
        "exit 2; the report and junit.xml written before it are removed again",
        checks=(_nothing_written,),
    ),
)


def _policy_text(value: str = "0.8") -> str:
    return (
        "name: p\nversion: '1.0.0'\ndescription: d\nrules:\n"
        "  - id: FAIR-001\n    check: bias\n    metric: demographic_parity_ratio\n"
        f"    threshold: {{op: '>=', value: {value}}}\n    severity: blocker\n"
        "    rationale: r\n"
    )


def _policy_file(ctx: Ctx, text: str) -> list[str]:
    argv = ctx.inputs(patch=_set("policy", "policy.yaml"))
    (ctx.folder / "in" / "policy.yaml").write_text(text, encoding="utf-8")
    return argv
