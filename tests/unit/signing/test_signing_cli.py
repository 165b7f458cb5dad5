"""`audit keys init` and `audit verify` via typer: output and exit codes (docs/contract.md)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import typer
from signing_helpers import MODEL_SHA
from typer.testing import CliRunner

from audit.cli import keys as keys_cli
from audit.cli import verify as verify_cli
from audit.signing import keys as keys_module
from audit.signing import verify as verify_module


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer()
    keys_cli.register(root)
    verify_cli.register(root)
    return root


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_keys_init_creates_a_private_key_0600(app, runner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["keys", "init", str(tmp_path / "k"), "--common-name", "QA"])
    assert result.exit_code == 0, result.output
    key = tmp_path / "k" / "signer.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (tmp_path / "k" / "signer.pem").exists()
    assert f"Created signing key   {key} (mode 0600)" in result.stdout
    assert "SHA-256 fingerprint" in result.stdout


def test_keys_init_defaults_to_audit_home(
    app, runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDIT_HOME", str(tmp_path))
    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    assert (tmp_path / "keys" / "signer.key").exists()


def test_keys_init_refuses_an_existing_key_and_warns_when_others_can_read_it(
    app, runner, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["keys", "init", str(tmp_path)]).exit_code == 0
    key = tmp_path / "signer.key"
    key.chmod(0o644)
    result = runner.invoke(app, ["keys", "init", str(tmp_path)])
    assert result.exit_code == 2
    assert keys_module._READABLE_BY_OTHERS.format(key, 0o644) in result.stderr
    assert keys_module._EXISTS.format(key) in result.stderr
    assert "Traceback" not in result.output
    forced = runner.invoke(app, ["keys", "init", str(tmp_path), "--force"])
    assert forced.exit_code == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_verify_valid_report_exits_0_and_prints_the_essentials(
    app, runner, signed_path: Path
) -> None:
    result = runner.invoke(app, ["verify", str(signed_path)])
    assert result.exit_code == 0, result.output
    for text in ("VALID", "Model Risk Office", "fail", MODEL_SHA, "not checked"):
        assert text in result.stdout


def test_verify_with_trust(app, runner, signed_path: Path, key_dir: Path, tmp_path: Path) -> None:
    ok = runner.invoke(app, ["verify", str(signed_path), "--trust", str(key_dir / "signer.pem")])
    assert ok.exit_code == 0, ok.output
    _, stranger = keys_module.init_keys(tmp_path / "other")
    bad = runner.invoke(app, ["verify", str(signed_path), "--trust", str(stranger)])
    assert bad.exit_code == 1
    assert verify_module.UNTRUSTED.format(stranger) in bad.stdout


def test_verify_json_output(app, runner, signed_path: Path) -> None:
    result = runner.invoke(app, ["verify", str(signed_path), "--json"])
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert payload["valid"] is True
    assert payload["trusted"] is None
    assert payload["verdict"] == "fail"
    assert payload["model_sha256"] == MODEL_SHA
    assert payload["signer"] == "Model Risk Office"


def test_verify_tampered_report_exits_1(app, runner, signed_pdf: bytes, tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    data = bytearray(signed_pdf)
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))
    result = runner.invoke(app, ["verify", str(path), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["valid"] is False


@pytest.mark.parametrize("content", [b"", b"plain text, not a pdf"])
def test_verify_unreadable_exits_2(app, runner, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(content)
    result = runner.invoke(app, ["verify", str(path)])
    assert result.exit_code == 2
    assert verify_module.NOT_A_PDF in result.stderr
    assert "Traceback" not in result.output
    missing = runner.invoke(app, ["verify", str(tmp_path / "nope.pdf"), "--json"])
    assert missing.exit_code == 2
    assert "error" in json.loads(missing.stdout)


def test_verify_with_unreadable_trust_file_exits_2(
    app, runner, signed_path: Path, tmp_path: Path
) -> None:
    junk = tmp_path / "trust.pem"
    junk.write_text("not a certificate")
    result = runner.invoke(app, ["verify", str(signed_path), "--trust", str(junk)])
    assert result.exit_code == 2
    assert verify_module.BAD_TRUST in result.stderr
