"""Loading: shipped names and paths, `extends` and its overrides, hashes and refusals."""

from __future__ import annotations

import hashlib
import re

import pytest
from policy_helpers import rule_yaml

from audit.errors import PolicyError
from audit.policy import POLICIES_DIR, load_policy, shipped_policies
from audit.policy.load import BAD_NAME, CYCLE, NO_RULES, UNKNOWN_SHIPPED
from audit.records import PolicyInfo

SHIPPED = ["default", "eu-ai-act-high-risk", "four-fifths", "nyc-ll144", "release-gate-strict"]


def test_every_pack_is_shipped():
    assert shipped_policies() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_policies_load_with_rationale_and_references(name):
    policy = load_policy(name)
    assert policy.name == name and policy.rules
    assert all(r.rationale.strip() and r.references for r in policy.rules)


@pytest.mark.parametrize("name", ["eu-ai-act-high-risk", "nyc-ll144", "four-fifths"])
def test_regulatory_packs_say_they_are_not_legal_advice(name):
    text = (POLICIES_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    assert re.search(r"not legal advice", text)


def test_strict_gate_requires_every_check():
    policy = load_policy("release-gate-strict")
    assert set(policy.required_checks) == {
        "bias",
        "spurious",
        "robustness",
        "identity_terms",
        "circuits",
        "performance",
    }


@pytest.mark.parametrize("ref", ["a b", ".hidden", "..", "x;rm", "default\n"])
def test_names_must_be_plain(ref):
    with pytest.raises(PolicyError) as err:
        load_policy(ref)
    assert err.value.message == BAD_NAME.format(name=ref)


def test_unknown_name_lists_the_shipped_ones():
    with pytest.raises(PolicyError) as err:
        load_policy("no-such-policy")
    assert err.value.message == UNKNOWN_SHIPPED.format(name="no-such-policy")
    assert "four-fifths" in str(err.value)


def test_relative_path_resolves_against_base_dir_and_may_not_climb_out(write_policy, tmp_path):
    write_policy(rule_yaml(), name="mine")
    assert load_policy("mine.yaml", base_dir=tmp_path).name == "mine"
    inner = tmp_path / "inner"
    inner.mkdir()
    with pytest.raises(PolicyError, match="climbs out"):
        load_policy("../mine.yaml", base_dir=inner)
    with pytest.raises(PolicyError, match="not found"):
        load_policy("missing.yaml", base_dir=tmp_path)


def test_sha256_covers_exactly_the_text(write_policy):
    path = write_policy(rule_yaml())
    policy = load_policy(path)
    assert policy.text == path.read_text(encoding="utf-8")
    assert policy.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert policy.info() == PolicyInfo(policy.name, "1.0.0", policy.sha256, policy.text)


class TestExtends:
    def _child(self, write_policy, rules, **kw):
        write_policy(
            rule_yaml("A", severity="major") + rule_yaml("B"),
            name="parent",
            required="[bias]",
            waivers="- {rule: A, justification: j, approver: x, expires: 2030-01-01}\n",
        )
        return load_policy(write_policy(rules, name="child", extends="parent.yaml", **kw))

    def test_rules_override_by_id_keep_order_and_append(self, write_policy):
        policy = self._child(write_policy, rule_yaml("A", severity="minor") + rule_yaml("C"))
        assert [(r.id, r.severity) for r in policy.rules] == [
            ("A", "minor"),
            ("B", "blocker"),
            ("C", "blocker"),
        ]

    def test_child_identity_parent_text_and_hash(self, write_policy, tmp_path):
        policy = self._child(write_policy, rule_yaml("C"))
        parent_text = (tmp_path / "parent.yaml").read_text(encoding="utf-8")
        assert policy.name == "child"
        assert policy.text.startswith((tmp_path / "child.yaml").read_text(encoding="utf-8"))
        assert policy.text.endswith(parent_text)
        assert "# ===== extends: parent.yaml (parent.yaml) =====" in policy.text
        assert policy.sha256 == hashlib.sha256(policy.text.encode()).hexdigest()

    def test_required_checks_add_up_and_waivers_are_inherited(self, write_policy):
        policy = self._child(write_policy, rule_yaml("C"), required="[robustness]")
        assert policy.required_checks == ("bias", "robustness")
        assert [w.rule for w in policy.waivers] == ["A"]

    def test_defaults_override_field_by_field(self, tmp_path):
        (tmp_path / "base.yaml").write_text(
            'name: base\nversion: "1"\ndefaults: {min_group_size: 40, confidence: 0.99}\n'
            "rules:\n" + rule_yaml(),
            encoding="utf-8",
        )
        kid = tmp_path / "kid.yaml"
        kid.write_text(
            'name: kid\nversion: "2"\nextends: base.yaml\ndefaults: {confidence: 0.9}\n',
            encoding="utf-8",
        )
        policy = load_policy(kid)
        assert policy.defaults.confidence == 0.9
        assert policy.defaults.min_group_size == 40
        assert policy.defaults.multiple_comparisons == "holm"
        assert [r.id for r in policy.rules] == ["R-1"]

    def test_shipped_strict_overrides_default(self):
        default, strict = load_policy("default"), load_policy("release-gate-strict")
        by_id = {r.id: r for r in strict.rules}
        assert default.rules[0].id == "FAIR-001" and default.rules[0].on == "value"
        assert by_id["FAIR-001"].on == "ci_low"
        assert strict.defaults.min_group_size == 50
        assert {r.id for r in default.rules} <= set(by_id)

    def test_cycle_is_detected(self, write_policy):
        write_policy(rule_yaml(), name="a", extends="b.yaml")
        path = write_policy(rule_yaml(), name="b", extends="a.yaml")
        with pytest.raises(PolicyError) as err:
            load_policy(path)
        assert err.value.message == CYCLE.format(chain="b.yaml -> a.yaml -> b.yaml")

    def test_self_extension_is_a_cycle(self, write_policy):
        path = write_policy(rule_yaml(), name="me", extends="me.yaml")
        with pytest.raises(PolicyError, match="cycle"):
            load_policy(path)


def test_a_policy_without_rules_is_refused(write_policy):
    with pytest.raises(PolicyError) as err:
        load_policy(write_policy(""))
    assert err.value.message == NO_RULES


def test_schema_errors_point_at_file_line_and_column(write_policy):
    path = write_policy(rule_yaml(severity="fatal"))
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert f"{path}:7:" in str(err.value) and "severity" in str(err.value)
