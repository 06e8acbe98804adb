"""Which rule places a user (sso.mapping): whole-value matches only, claims read defensively."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sso.mapping import claim_values, first_matching, rule_matches


@dataclass
class R:
    claim: str
    value: str
    match: str = "exact"
    source: str = "any"


def test_it_reads_scalars_lists_and_dotted_paths():
    claims = {"groups": ["a", 2, True, None, ["b"], {"c": "d"}], "org": {"code": "X"}}
    assert claim_values(claims, "groups") == ["a", "2", "true"]
    assert claim_values(claims, "org.code") == ["X"]
    assert claim_values(claims, "org") == []  # an object is no value
    assert claim_values(claims, "missing.path") == []
    assert claim_values({"org": "X"}, "org.code") == []


@pytest.mark.parametrize(
    "value",
    [
        "x-supervisors",  # a longer value containing it
        "supervisors ",  # a trailing space
        "Supervisors",  # another case
        ["supervisors-x", "x"],
        [["supervisors"]],  # nested one level deeper
        {"supervisors": True},
        "s" * 2000,  # too long to be read at all
    ],
)
def test_it_matches_whole_values_only(value):
    claims = {"groups": value}
    assert not rule_matches(R("groups", "supervisors"), claims, "oidc")
    assert not rule_matches(R("groups", "supervisors", "regex"), claims, "oidc")
    assert rule_matches(R("groups", "supervisors"), {"groups": ["x", "supervisors"]}, "oidc")


def test_a_pattern_must_match_the_whole_value():
    rule = R("dept", r"JX-A-\d+", "regex")
    assert rule_matches(rule, {"dept": "JX-A-01"}, "ldap")
    assert not rule_matches(rule, {"dept": "JX-A-01-province"}, "ldap")
    assert not rule_matches(rule, {"dept": "evil JX-A-01"}, "ldap")


def test_it_takes_the_first_rule_in_the_given_order_and_its_source():
    supervisors = R("groups", "sup", source="ldap")
    liaison = R("groups", "liaison")
    claims = {"groups": ["sup", "liaison"]}
    assert first_matching([supervisors, liaison], claims, "ldap") is supervisors
    assert first_matching([supervisors, liaison], claims, "oidc") is liaison
    assert first_matching([supervisors], claims, "oidc") is None
