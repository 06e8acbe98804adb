"""Which claim rule places a user: pure functions over the claims and the rules, no I/O.

Claims come from outside (an ID token, a userinfo answer, a directory entry), so they are read
defensively: only strings, numbers and booleans count as values, a list counts by its scalar
elements, nested objects are reached only by an explicit dotted path, and a value matches
only as a whole (equal, or a regular expression's full match: "x-province-supervisor" never
matches the rule for "province-supervisor").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

# Longer claim values are not matched at all (and a regular expression never runs on them).
MAX_VALUE_CHARS = 1000
MAX_LIST_ITEMS = 500


class Rule(Protocol):
    source: str
    claim: str
    match: str
    value: str


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        text = str(value)
        return text if len(text) <= MAX_VALUE_CHARS else None
    return None


def claim_values(claims: Mapping[str, Any], path: str) -> list[str]:
    """The scalar values at `path` ("groups", "org.code"): one for a scalar, each scalar item
    for a list; nothing for a missing claim, an object or anything else."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return []
        value = value[part]
    items = value[:MAX_LIST_ITEMS] if isinstance(value, list) else [value]
    return [text for text in map(_scalar, items) if text is not None]


def rule_matches(rule: Rule, claims: Mapping[str, Any], source: str) -> bool:
    if rule.source not in ("any", source):
        return False
    values = claim_values(claims, rule.claim)
    if rule.match == "regex":
        pattern = re.compile(rule.value)
        return any(pattern.fullmatch(value) for value in values)
    return rule.value in values


def first_matching(rules: Iterable[Rule], claims: Mapping[str, Any], source: str) -> Any:
    """The first of `rules` (already in priority order) that matches, else None."""
    return next((rule for rule in rules if rule_matches(rule, claims, source)), None)
