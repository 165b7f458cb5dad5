"""Policies: thresholds as versioned data, and the fail-closed judge that applies them.

A policy is a YAML file of rules (`check`, `metric`, optional `subject`, `threshold`,
`severity`, `rationale`) plus expiring waivers; it may `extends` another and override its rules
by id. `judge` turns a check's `Metric`s into `Finding`s and a `Verdict`: a rule passes only
on a metric that exists, is big enough to judge and meets the threshold. `gate` renders the
result for CI (JUnit XML, a Markdown summary) and `lint` explains a broken file line by line.
"""

from __future__ import annotations

from audit.policy.evaluate import FAIL_ON, exit_code, judge, unjudged_blockers, verdict_of
from audit.policy.gate import junit_xml, summary_markdown
from audit.policy.lint import deprecations, lint
from audit.policy.load import POLICIES_DIR, load_policy, shipped_policies
from audit.policy.model import Policy, PolicyFile, Rule, WaiverSpec, json_schema

# The format, loading and linting, judging, CI outputs.
__all__ = [
    "FAIL_ON",
    "POLICIES_DIR",
    "Policy",
    "PolicyFile",
    "Rule",
    "WaiverSpec",
    "deprecations",
    "exit_code",
    "json_schema",
    "judge",
    "junit_xml",
    "lint",
    "load_policy",
    "shipped_policies",
    "summary_markdown",
    "unjudged_blockers",
    "verdict_of",
]
