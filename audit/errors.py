"""Typed errors. Each one says what was wrong, where, and how to fix it.

The CLI maps them to exit code 2 (the audit could not be completed) and prints the message
without a traceback. Library code raises these instead of printing or exiting.
"""

from __future__ import annotations


class AuditError(Exception):
    """Base of every error the user can act on."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None):
        self.message = message
        self.where = where
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


class SpecError(AuditError):
    """The audit spec is malformed or refers to something that is not there."""


class DataError(AuditError):
    """The dataset does not fit the spec (missing column, NaN, wrong labels, ...)."""


class ModelError(AuditError):
    """The model cannot be loaded safely or its output does not fit the task."""


class PolicyError(AuditError):
    """The policy file is malformed or inconsistent."""


class SigningError(AuditError):
    """Keys or certificates are unusable, or signing failed."""


class ReportError(AuditError):
    """The report could not be rendered or written."""


class VerificationError(AuditError):
    """A report could not be read for verification (unreadable, not a PDF)."""
