"""The report: a finished `AuditResult` presented for people.

`render_html` gives one self-contained HTML document, `render_pdf` the archival PDF/A-3b
(tagged, bookmarked, with `findings.json` and the spec attached) that `audit.signing` signs,
and `model_card` a Markdown summary. Nothing here measures or judges: the numbers and the
verdict come from the checks and the policy.
"""

from __future__ import annotations

from audit.report.context import audit_id
from audit.report.model_card import model_card
from audit.report.render import render_html, render_pdf

__all__ = ["audit_id", "model_card", "render_html", "render_pdf"]
