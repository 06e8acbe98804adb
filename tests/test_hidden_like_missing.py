"""A case outside the caller's scope is answered exactly as a case that does not exist.

Every case-scoped URL, found in the URLconf (the pages and the API's router alike), is asked
for a hidden case and for a missing id with every method and with empty, malformed and
well-formed input; the two answers must be the same in status, in every header that is not
a date, and in the body, once the requested path (and the id inside it) is blanked out. The
list filters that take a case's id or code (`parent`, `search`, the reminders' `case`) must
not tell a hidden case from a missing one either. The access sweep (test_access_sweep.py)
compares status and body for one payload per operation; this is the exhaustive comparison.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from cases import services
from cases.models import Case, Evidence
from tests.factories import PDF, World, api_key, days, make_case

pytestmark = pytest.mark.django_db

MISSING = 987_654_321
METHODS = ("get", "head", "options", "post", "put", "patch", "delete")
# Headers that differ from one request to the next whatever the object (a clock, a cookie).
VOLATILE_HEADERS = {"date", "expires", "set-cookie", "last-modified", "x-request-id"}
# JSON, and the browsable API's HTML page (which renders forms for the object it found).
ACCEPTS = ("application/json", "text/html")
UPDATE_PAYLOADS = {"full form", "bad json", "full json"}  # PUT and PATCH: fewer, for time


def case_routes() -> Iterator[tuple[str, set[str]]]:
    """(URL name, its keyword arguments) of every pattern that takes a case: `case_id` in
    the pages and the API's extra routes, `pk` in the API's case routes."""

    def walk(patterns: list[Any], namespace: str) -> Iterator[tuple[str, set[str]]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                yield from walk(pattern.url_patterns, inner)
            elif isinstance(pattern, URLPattern) and pattern.name:
                name = f"{namespace}{pattern.name}"
                groups = set(pattern.pattern.regex.groupindex)
                if "case_id" in groups or ("pk" in groups and name.startswith("api:case-")):
                    yield name, groups

    seen: set[str] = set()
    for name, groups in walk(get_resolver().url_patterns, ""):
        if name not in seen and not name.startswith("admin:"):
            seen.add(name)
            yield name, groups


def url_for(name: str, groups: set[str], case_id: int, evidence_id: int) -> str:
    kwargs: dict[str, Any] = {}
    for group in groups:
        kwargs[group] = evidence_id if group == "evidence_id" else case_id
    return reverse(name, kwargs=kwargs)


def _pdf() -> SimpleUploadedFile:
    return SimpleUploadedFile("证明.pdf", PDF, content_type="application/pdf")


def payloads(world: World) -> list[tuple[str, Any, str | None]]:
    """(label, data, format): nothing, garbage, and every field any case write reads, valid."""
    full_form = {
        "to": "in_progress",
        "note": "说明",
        "measures": "措施",
        "progress": "进展",
        "deadline": days(60).isoformat(),
        "reason": "理由",
        "responsible_unit": world.unit_a.pk,
        "owner": "",
    }
    return [
        ("bad form", {"to": "nowhere", "deadline": "not-a-date", "responsible_unit": "x"}, None),
        ("full form", full_form, None),
        ("form with a file", {**full_form, "evidence": _pdf(), "file": _pdf()}, "multipart"),
        ("bad json", {"to": 7, "confirm": "x", "deadline": "never"}, "json"),
        ("full json", {"to": "in_progress", "note": "说明", "progress": "进展"}, "json"),
    ]


def fresh(data: Any) -> Any:
    """The payload with new file objects: an upload is read once."""
    if not isinstance(data, dict):
        return data
    return {k: _pdf() if isinstance(v, SimpleUploadedFile) else v for k, v in data.items()}


def send(client: APIClient, method: str, url: str, data: Any, fmt: str | None, accept: str) -> Any:
    call = getattr(client, method)
    if method in {"get", "head", "options", "delete"} or data is None:
        return call(url, HTTP_ACCEPT=accept)
    if fmt is None and method == "post":
        return call(url, data, HTTP_ACCEPT=accept)
    return call(url, data, format=fmt or "multipart", HTTP_ACCEPT=accept)


def normalise(response: Any, path: str, ids: list[int]) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body with the requested path and the ids in it blanked out."""
    numbers = sorted({str(i) for i in ids}, key=len, reverse=True)

    def blank(text: str) -> str:
        text = text.replace(path, "<path>")
        for number in numbers:
            # As a path segment only: a small id also occurs in the page's own text.
            text = re.sub(rf"(?:(?<=/)|(?<==)|(?<=%3D)){number}(?!\d)", "<id>", text)
        return text

    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode("utf-8", "replace")
    text = re.sub(r'(name="csrfmiddlewaretoken" value="|"csrfToken": ")[^"]+', r"\1<csrf>", text)
    if "json" in response.get("Content-Type", "") and text:
        text = json.dumps(json.loads(text), sort_keys=True, ensure_ascii=False)
    text = blank(text)
    headers = {
        key.lower(): blank(value)
        for key, value in response.headers.items()
        if key.lower() not in VOLATILE_HEADERS
    }
    if "content-length" in headers:
        # The length of the blanked body: ids of different lengths in an echoed path.
        headers["content-length"] = "<length>"
    return response.status_code, headers, text.encode()


def describe(hidden: tuple, missing: tuple) -> str:
    """What differs between two normalised answers, briefly."""
    parts = []
    if hidden[0] != missing[0]:
        parts.append(f"status {hidden[0]} ≠ {missing[0]}")
    for key in sorted(hidden[1].keys() | missing[1].keys()):
        if hidden[1].get(key) != missing[1].get(key):
            parts.append(f"{key}: {hidden[1].get(key)!r} ≠ {missing[1].get(key)!r}")
    if hidden[2] != missing[2]:
        parts.append(f"body {hidden[2][:300]!r} ≠ {missing[2][:300]!r}")
    return "; ".join(parts)


def client_for(user: Any, *, token: bool = False) -> APIClient:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(user)}")
    else:
        client.force_login(user)
    return client


@pytest.fixture
def hidden(world: World) -> dict[str, Case]:
    """For each caller, a case it may not see (with evidence), on every side of the tree."""
    other_county = make_case(world.supervisor, world.inspection, world.unit_b, code="HID-B")
    clue = make_case(world.supervisor, world.restricted, world.unit_a, code="HID-X")
    for case in (other_county, clue):
        services.evidence_add(actor=world.supervisor, case_id=case.pk, upload=_pdf())
    return {"other_county": other_county, "clue": clue}


CALLERS = {
    # name → (the World attribute of its user, through a token, the hidden cases to try)
    "inspector": ("inspector_a", False, ("other_county", "clue")),
    "county_supervisor": ("county_a_supervisor", False, ("other_county",)),
    "api_reader": ("api_reader", True, ("clue",)),
}


def differences(client: APIClient, world: World, case: Case) -> list[str]:
    """Every request on which `case` is answered otherwise than a missing id."""
    evidence = Evidence.objects.filter(case=case).first()
    assert evidence is not None
    problems = []
    for name, groups in case_routes():
        hidden_url = url_for(name, groups, case.pk, evidence.pk)
        missing_url = url_for(name, groups, MISSING, MISSING)
        for method in METHODS:
            tries = [("-", None, None)]
            if method == "post":
                tries = payloads(world)
            elif method in {"put", "patch"}:
                tries = [p for p in payloads(world) if p[0] in UPDATE_PAYLOADS]
            for (payload, data, fmt), accept in itertools.product(tries, ACCEPTS):
                label = f"{payload}, Accept: {accept}"
                before = Case.objects.get(pk=case.pk).history_length
                answers = []
                for url, ids in ((hidden_url, [case.pk, evidence.pk]), (missing_url, [MISSING])):
                    response = send(client, method, url, fresh(data), fmt, accept)
                    answers.append(normalise(response, url, ids))
                if answers[0] != answers[1]:
                    problems.append(f"{method.upper()} {name} ({label}): {describe(*answers)}")
                if Case.objects.get(pk=case.pk).history_length != before:
                    problems.append(f"{method.upper()} {name} ({label}) changed the hidden case")
    return problems


@pytest.mark.parametrize("caller", list(CALLERS))
def test_it_answers_every_case_url_for_a_hidden_case_as_for_a_missing_one(world, hidden, caller):
    attribute, token, labels = CALLERS[caller]
    client = client_for(getattr(world, attribute), token=token)
    problems = [p for label in labels for p in differences(client, world, hidden[label])]
    assert not problems, "\n".join(problems)


def test_it_covers_every_case_url():
    names = {name for name, _groups in case_routes()}
    # The pages, the API's detail with its actions, and both evidence downloads.
    assert {"cases:detail", "cases:transition", "cases:evidence-download"} <= names
    assert {"api:case-detail", "api:case-history", "api:case-evidence"} <= names
    assert {"api:case-transitions", "api:case-follow-up", "api:case-evidence-download"} <= names


LIST_QUERIES = [
    ("cases:list", "parent={id}"),
    ("cases:list", "search={code}"),
    ("cases:list", "search={code}&parent={id}"),
    ("api:case-list", "parent={id}"),
    ("api:case-list", "search={code}"),
    ("api:reminders", "case={id}"),
    ("api:case-export", "search={code}"),
]


@pytest.mark.parametrize("caller", list(CALLERS))
def test_it_answers_list_filters_by_a_hidden_case_as_by_a_missing_one(world, hidden, caller):
    attribute, token, labels = CALLERS[caller]
    client = client_for(getattr(world, attribute), token=token)
    problems = []
    for label in labels:
        case = hidden[label]
        for name, query in LIST_QUERIES:
            answers = []
            for case_id, code in ((case.pk, case.code), (MISSING, "HID-NONE")):
                url = f"{reverse(name)}?{query.format(id=case_id, code=code)}"
                response = client.get(url)
                answer = normalise(response, url, [case_id])
                if name == "api:case-export":  # a workbook: its cells, not its zip bytes
                    answer = (*answer[:2], str(response.status_code).encode())
                # The code asked for is part of the request, like the path (and the login
                # page's `next`): blanked wherever it is echoed.
                headers = {k: v.replace(code, "<code>") for k, v in answer[1].items()}
                answers.append((answer[0], headers, answer[2].replace(code.encode(), b"<code>")))
            if answers[0] != answers[1]:
                problems.append(f"{name}?{query}: {describe(*answers)}")
    assert not problems, "\n".join(problems)
