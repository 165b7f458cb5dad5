"""Small builders for hostile inputs: a valid tiny audit, and ways to break each part of it.

Everything is generated in a test's temporary folder (no committed binaries): a TorchScript
linear model, a seeded CSV, a spec and, where needed, a policy, keys or a crafted model file.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml
from certs import make_cert
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tiny_models import ConstantOutput, Linear
from torch import nn

FEATURES = ["a", "b", "c"]
# `default` with spurious and robustness released: the base spec switches them off for speed
QUICK_POLICY = Path(__file__).resolve().parents[1] / "policies" / "quick-checks.yaml"
ROWS = 240


class RaisesOnLarge(nn.Module):
    """A model that works on ordinary rows and raises on a batch holding a huge value."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = Linear()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool(x.abs().max() > 1000.0):
            raise RuntimeError("simulated failure on an out-of-range batch")
        return self.inner(x)


class Sabotage:
    """A pickle payload: unpickling it would create a marker file (proof of execution)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def frame(rows: int = ROWS, seed: int = 0, groups: list[str] | None = None) -> pd.DataFrame:
    """Seeded features, a label a linear model predicts fairly well, and one sensitive column."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(FEATURES))).astype(np.float32)
    z = x @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.5, size=rows)
    data = pd.DataFrame(x, columns=FEATURES)
    data["y"] = (z > 0).astype(int)
    names = groups or ["F", "M"]
    data["sex"] = [names[i % len(names)] for i in range(rows)]
    return data


def base_spec(keys: Path) -> dict[str, Any]:
    """A valid spec for the tiny audit; the cheap checks only, signed with the session key."""
    return {
        "name": "hostile",
        "model": {"path": "model.pt", "task": "binary"},
        "data": {"path": "data.csv", "label": "y", "features": FEATURES, "sensitive": ["sex"]},
        "checks": {
            "bias": {"n_boot": 50, "intersections": False},
            "spurious": False,
            "robustness": False,
            "performance": {},
        },
        "policy": str(QUICK_POLICY),
        "seed": 0,
        "signing": {"key": str(keys / "signer.key"), "cert": str(keys / "signer.pem")},
    }


def save_script(module: nn.Module, path: Path) -> Path:
    torch.jit.save(torch.jit.script(module), str(path))
    return path


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


SpecPatch = Callable[[dict[str, Any]], None]


def audit_inputs(
    folder: Path,
    keys: Path,
    *,
    patch: SpecPatch | None = None,
    data: pd.DataFrame | None = None,
    csv_text: str | None = None,
    model: nn.Module | None = None,
    model_bytes: bytes | None = None,
    spec_text: str | None = None,
) -> Path:
    """Write model, data and spec into `folder` (each overridable) and return the spec path."""
    folder.mkdir(parents=True, exist_ok=True)
    if model_bytes is not None:
        (folder / "model.pt").write_bytes(model_bytes)
    else:
        save_script(model or Linear(), folder / "model.pt")
    if csv_text is not None:
        (folder / "data.csv").write_text(csv_text, encoding="utf-8")
    else:
        (data if data is not None else frame()).to_csv(folder / "data.csv", index=False)
    spec_path = folder / "spec.yaml"
    if spec_text is not None:
        spec_path.write_text(spec_text, encoding="utf-8")
        return spec_path
    spec = copy.deepcopy(base_spec(keys))
    if patch is not None:
        patch(spec)
    return write_yaml(spec_path, spec)


def run_argv(spec: Path, folder: Path, *extra: str) -> list[str]:
    return ["run", str(spec), "--out", str(folder / "out"), *extra]


# --- crafted model files -------------------------------------------------------------------


def pickled_module(marker: Path) -> bytes:
    """A whole-module `torch.save` whose unpickling would create `marker`."""
    buf = io.BytesIO()
    torch.save({"model": Linear(), "payload": Sabotage(marker)}, buf)
    return buf.getvalue()


def fake_torchscript(marker: Path) -> bytes:
    """A zip that looks like TorchScript (has a `code/` entry) but carries a hostile pickle."""
    buf = io.BytesIO()
    payload = pickle.dumps(Sabotage(marker), protocol=2)
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model/code/__torch__.py", "")
        zf.writestr("model/data.pkl", payload)
        zf.writestr("model/constants.pkl", payload)
        zf.writestr("model/version", "3\n")
    return buf.getvalue()


def constant_output(width: int, value: float = 0.0) -> nn.Module:
    return ConstantOutput(width, value)


# --- keys -----------------------------------------------------------------------------------


def write_pair(
    folder: Path,
    *,
    days: tuple[int, int] = (-1, 30),
    cert_key: rsa.RSAPrivateKey | None = None,
    passphrase: bytes | None = None,
) -> tuple[Path, Path]:
    """A PEM key and a self-signed signing certificate valid from/to `days` around today.

    `cert_key` issues the certificate for another key (a mismatched pair); `passphrase`
    encrypts the private key.
    """
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    cert = make_cert(
        cert_key or key,
        not_before=now + dt.timedelta(days=days[0]),
        not_after=now + dt.timedelta(days=days[1]),
        name="Hostile test signer",
    )
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    key_path, cert_path = folder / "k.pem", folder / "c.pem"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert)
    return key_path, cert_path
