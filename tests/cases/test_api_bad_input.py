"""Bad input answers 4xx in the one error shape, names the field, stores nothing, never 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from cases.models import Case, CaseEvent, CheckPoint, Evidence
from tests.factories import PDF, World, make_case

pytestmark = pytest.mark.django_db

API = "/api/v1"
MB = 1024 * 1024


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    cache.clear()


@pytest.fixture
def case(world: World) -> Case:
    return world.case(world.unit_a, checklist=["要点"])


@pytest.fixture
def sup(world: World) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(world.supervisor)
    return client


def stored(settings: Any) -> tuple:
    root = settings.EVIDENCE_ROOT
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
    return (
        Case.objects.count(),
        CaseEvent.objects.count(),
        Evidence.objects.count(),
        CheckPoint.objects.count(),
        list(Case.objects.order_by("pk").values_list("pk", "status", "title", "updated_at")),
        files,
    )


def assert_error(response: Any, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"status", "code", "message", "fields"}, body
    assert body["status"] == status
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["message"], str) and body["message"].strip()
    assert isinstance(body["fields"], dict)
    if field is not None:
        named = [key for key in body["fields"] if key == field or key.startswith(f"{field}.")]
        assert named, f"no error for {field!r} in {body['fields']}"
        assert all(body["fields"][key] and all(body["fields"][key]) for key in named)
    return body


def _create_body(world: World, **override: Any) -> dict:
    body = {
        "inspection": world.inspection.pk,
        "title": "新问题",
        "responsible_unit": world.unit_a.pk,
        "deadline": str(timezone.localdate()),
    }
    body.update(override)
    return {key: value for key, value in body.items() if value is not _DROP}


_DROP = object()

# --- POST /cases/ ----------------------------------------------------------------------------

CREATE_BAD = [
    ("title_as_a_list", {"title": ["问题"]}, "title"),
    ("title_10k_chars", {"title": "长" * 10_000}, "title"),
    ("title_blank", {"title": "   "}, "title"),
    ("title_with_nul", {"title": "a\x00b"}, "title"),
    ("title_missing", {"title": _DROP}, "title"),
    ("description_1mb", {"description": "x" * MB}, "description"),
    ("deadline_feb_30", {"deadline": "2024-02-30"}, "deadline"),
    ("deadline_yesterday_word", {"deadline": "yesterday"}, "deadline"),
    ("deadline_number", {"deadline": 20240101}, "deadline"),
    ("inspection_abc", {"inspection": "abc"}, "inspection"),
    ("inspection_unknown", {"inspection": 999_999}, "inspection"),
    ("inspection_null", {"inspection": None}, "inspection"),
    ("responsible_unit_10e20", {"responsible_unit": 10**20}, "responsible_unit"),
    ("responsible_unit_float", {"responsible_unit": 1.5}, "responsible_unit"),
    ("parent_unknown", {"parent": 0}, "parent"),
    ("owner_abc", {"owner": "abc"}, "owner"),
    ("amount_negative", {"amount": "-1"}, "amount"),
    ("amount_1e400", {"amount": "1e400"}, "amount"),
    ("amount_nan", {"amount": "NaN"}, "amount"),
    ("amount_three_decimals", {"amount": "1.005"}, "amount"),
    ("source_unknown", {"source": "rumour"}, "source"),
    ("method_unknown", {"method": "magic"}, "method"),
    ("is_key_problem_word", {"is_key_problem": "maybe"}, "is_key_problem"),
    ("checklist_a_string", {"checklist": "要点"}, "checklist"),
    ("checklist_51_points", {"checklist": ["要点"] * 51}, "checklist"),
    ("checklist_point_too_long", {"checklist": ["长" * 301]}, "checklist"),
    ("code_too_long", {"code": "C" * 65}, "code"),
]


@pytest.mark.parametrize(("override", "field"), [c[1:] for c in CREATE_BAD],
                         ids=[c[0] for c in CREATE_BAD])  # fmt: skip
def test_it_refuses_a_bad_case_and_stores_nothing(world, sup, settings, override, field):
    before = stored(settings)
    response = sup.post(f"{API}/cases/", _create_body(world, **override), format="json")
    assert_error(response, 400, field)
    assert stored(settings) == before


def test_it_refuses_a_duplicate_code_and_stores_nothing(world, sup, settings, case):
    before = stored(settings)
    response = sup.post(f"{API}/cases/", _create_body(world, code=case.code), format="json")
    assert_error(response, 400, "code")
    assert stored(settings) == before


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        ('{"title": "x",', "application/json", 400),
        ("{'title': 'x'}", "application/json", 400),
        (b'{"title": "\xff\xfe"}', "application/json", 400),
        ("[]", "application/json", 400),
        ('[{"title": "x"}]', "application/json", 400),
        ('"just a string"', "application/json", 400),
        ("null", "application/json", 400),
        ("title=x", "text/plain", 415),
        ("<case/>", "application/xml", 415),
    ],
    ids=["truncated", "single_quotes", "not_utf8", "empty_array", "array", "string", "null",
         "text_plain", "xml"],
)  # fmt: skip
def test_it_refuses_a_malformed_or_foreign_body(world, sup, settings, raw, content_type, status):
    before = stored(settings)
    response = sup.post(f"{API}/cases/", raw, content_type=content_type)
    assert_error(response, status)
    assert stored(settings) == before


# --- PATCH /cases/{id}/ -----------------------------------------------------------------------

PATCH_BAD = [
    ("empty_body", {}, None),
    ("only_unknown_fields", {"status": "completed", "colour": "red"}, None),
    ("title_as_a_list", {"title": ["x"]}, "title"),
    ("title_10k_chars", {"title": "长" * 10_000}, "title"),
    ("title_blank", {"title": ""}, "title"),
    ("progress_1mb", {"progress": "x" * MB}, "progress"),
    ("deadline_feb_30", {"deadline": "2024-02-30", "reason": "延期"}, "deadline"),
    ("deadline_yesterday_word", {"deadline": "yesterday", "reason": "延期"}, "deadline"),
    ("deadline_without_reason", {"deadline": "2031-01-01"}, "reason"),
    ("amount_negative", {"amount": "-1"}, "amount"),
    ("amount_1e400", {"amount": "1e400"}, "amount"),
    ("responsible_unit_10e20", {"responsible_unit": 10**20, "reason": "移交"}, "responsible_unit"),
    ("responsible_unit_abc", {"responsible_unit": "abc"}, "responsible_unit"),
    ("owner_unknown", {"owner": 999_999}, "owner"),
    ("source_unknown", {"source": "rumour"}, "source"),
    # All or nothing: a good group of fields is not stored when another group is refused.
    ("good_progress_bad_deadline", {"progress": "新进展", "deadline": "2031-01-01"}, "reason"),
    (
        "good_progress_bad_owner",
        {"progress": "新进展", "title": "新标题", "owner": 999_999},
        "owner",
    ),
]


@pytest.mark.parametrize(("body", "field"), [c[1:] for c in PATCH_BAD],
                         ids=[c[0] for c in PATCH_BAD])  # fmt: skip
def test_it_refuses_a_bad_edit_and_stores_nothing(sup, settings, case, body, field):
    before = stored(settings)
    response = sup.patch(f"{API}/cases/{case.pk}/", body, format="json")
    assert_error(response, 400, field)
    assert stored(settings) == before


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [('{"progress": ', "application/json", 400), ("[]", "application/json", 400),
     ("progress=x", "text/csv", 415)],
    ids=["truncated", "array", "csv"],
)  # fmt: skip
def test_it_refuses_a_malformed_edit(sup, settings, case, raw, content_type, status):
    before = stored(settings)
    response = sup.patch(f"{API}/cases/{case.pk}/", raw, content_type=content_type)
    assert_error(response, status)
    assert stored(settings) == before


# --- POST /cases/{id}/transitions/ ------------------------------------------------------------

TRANSITION_BAD = [
    ("to_missing", {"note": "x"}, "to"),
    ("to_null", {"to": None}, "to"),
    ("to_as_a_list", {"to": ["in_progress"]}, "to"),
    ("to_unknown_status", {"to": "flying"}, "to"),
    ("note_1mb", {"to": "in_progress", "note": "x" * MB}, "note"),
    ("note_as_an_object", {"to": "in_progress", "note": {"a": 1}}, "note"),
    ("confirm_letters", {"to": "in_progress", "confirm": ["x"]}, "confirm"),
    ("confirm_a_string", {"to": "in_progress", "confirm": "1,2"}, "confirm"),
    ("confirm_zero", {"to": "in_progress", "confirm": [0]}, "confirm"),
    ("confirm_201_ids", {"to": "in_progress", "confirm": list(range(1, 202))}, "confirm"),
]


@pytest.mark.parametrize(("body", "field"), [c[1:] for c in TRANSITION_BAD],
                         ids=[c[0] for c in TRANSITION_BAD])  # fmt: skip
def test_it_refuses_a_bad_move_and_stores_nothing(sup, settings, case, body, field):
    before = stored(settings)
    response = sup.post(f"{API}/cases/{case.pk}/transitions/", body, format="json")
    assert_error(response, 400, field)
    assert stored(settings) == before


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [('{"to": "in_progress"', "application/json", 400),
     ('["in_progress"]', "application/json", 400),
     ("<to>in_progress</to>", "application/xml", 415)],
    ids=["truncated", "array", "xml"],
)  # fmt: skip
def test_it_refuses_a_malformed_move(sup, settings, case, raw, content_type, status):
    before = stored(settings)
    response = sup.post(f"{API}/cases/{case.pk}/transitions/", raw, content_type=content_type)
    assert_error(response, status)
    assert stored(settings) == before


def test_it_refuses_confirming_points_of_another_case(world, sup, settings, case):
    from tests.factories import drive_to

    other = world.case(world.unit_a, checklist=["别人的要点"])
    drive_to(case, "submitted", world.supervisor)
    before = stored(settings)
    foreign = list(other.checklist.values_list("pk", flat=True))
    mine = list(case.checklist.values_list("pk", flat=True))
    response = sup.post(
        f"{API}/cases/{case.pk}/transitions/",
        {"to": "completed", "confirm": mine + foreign},
        format="json",
    )
    assert_error(response, 400, "confirm")
    assert stored(settings) == before


# --- POST /cases/{id}/evidence/ ---------------------------------------------------------------


def test_it_refuses_evidence_without_a_file(sup, settings, case):
    before = stored(settings)
    response = sup.post(f"{API}/cases/{case.pk}/evidence/", {"note": "x"}, format="multipart")
    assert_error(response, 400, "file")
    assert stored(settings) == before


def test_it_refuses_an_empty_file(sup, settings, case):
    before = stored(settings)
    upload = SimpleUploadedFile("empty.pdf", b"")
    response = sup.post(f"{API}/cases/{case.pk}/evidence/", {"file": upload}, format="multipart")
    assert_error(response, 400, "file")
    assert stored(settings) == before


def test_it_refuses_a_file_field_that_is_text(sup, settings, case):
    before = stored(settings)
    response = sup.post(
        f"{API}/cases/{case.pk}/evidence/", {"file": "not a file"}, format="multipart"
    )
    assert_error(response, 400, "file")
    assert stored(settings) == before


def test_it_refuses_a_file_of_a_type_not_allowed_naming_the_file_field(sup, settings, case):
    before = stored(settings)
    upload = SimpleUploadedFile("report.pdf", b"<html><script>alert(1)</script></html>")
    response = sup.post(f"{API}/cases/{case.pk}/evidence/", {"file": upload}, format="multipart")
    # The client sent `file`: the error must say `file` (the service names it `evidence`).
    assert_error(response, 400, "file")
    assert stored(settings) == before


def test_it_refuses_a_file_too_large_with_413_naming_the_file_field(sup, settings, case):
    settings.EVIDENCE_MAX_BYTES = 100
    before = stored(settings)
    upload = SimpleUploadedFile("big.pdf", PDF + b"0" * 200)
    response = sup.post(f"{API}/cases/{case.pk}/evidence/", {"file": upload}, format="multipart")
    assert_error(response, 413, "file")
    assert stored(settings) == before


def test_it_refuses_a_1mb_note_with_the_evidence(sup, settings, case):
    before = stored(settings)
    upload = SimpleUploadedFile("ok.pdf", PDF)
    response = sup.post(
        f"{API}/cases/{case.pk}/evidence/", {"file": upload, "note": "x" * MB}, format="multipart"
    )
    assert_error(response, 400, "note")
    assert stored(settings) == before


def test_it_refuses_evidence_sent_as_json_with_415(sup, settings, case):
    before = stored(settings)
    response = sup.post(
        f"{API}/cases/{case.pk}/evidence/", {"file": "JVBERi0=", "note": "x"}, format="json"
    )
    assert_error(response, 415)
    assert stored(settings) == before


# --- Ids in the path --------------------------------------------------------------------------


@pytest.mark.parametrize("case_id", ["999999", str(10**20), "0"])
@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("patch", ""), ("get", "history/"), ("get", "evidence/"),
     ("post", "transitions/"), ("get", "evidence/1/download/")],
)  # fmt: skip
def test_it_answers_404_for_a_case_id_that_matches_nothing(sup, settings, case, method, suffix,
                                                            case_id):  # fmt: skip
    before = stored(settings)
    body = {"to": "in_progress", "progress": "x"} if method != "get" else None
    response = getattr(sup, method)(f"{API}/cases/{case_id}/{suffix}", body, format="json")
    # A missing case is a missing case, however large or small its id (the contract: 404).
    assert_error(response, 404)
    assert stored(settings) == before


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("get", "history/"), ("get", "evidence/"), ("post", "transitions/")],
)
def test_it_answers_a_non_numeric_case_id_without_a_server_error(sup, method, suffix):
    body = {"to": "in_progress"} if method != "get" else None
    response = getattr(sup, method)(f"{API}/cases/abc/{suffix}", body, format="json")
    # Reported: the detail answers 404, the actions 400 {"fields": {"id": ...}}.
    assert response.status_code in (400, 404)
    assert_error(response, response.status_code)


# --- Query strings ----------------------------------------------------------------------------

QUERY_BAD = [
    ("cases", {"status": "bogus"}, "status"),
    ("cases", {"status": "open,bogus"}, "status"),
    ("cases", {"updated_since": "garbage"}, "updated_since"),
    ("cases", {"deadline_before": "2024-02-30"}, "deadline_before"),
    ("cases", {"deadline_after": "yesterday"}, "deadline_after"),
    ("cases", {"ordering": "password"}, "ordering"),
    ("cases", {"light": "purple"}, "light"),
    ("cases", {"inspection": "abc"}, "inspection"),
    ("cases", {"responsible_unit": "1e400"}, "responsible_unit"),
    ("cases", {"search": "a\x00b"}, "search"),
    ("units", {"search": "a\x00b"}, "search"),
    ("units", {"level": "galaxy"}, "level"),
    ("units", {"parent": "abc"}, "parent"),
    ("inspections", {"level": "galaxy"}, "level"),
    ("stats/completion", {}, "group_by"),
    ("stats/completion", {"group_by": "colour"}, "group_by"),
    ("stats/completion", {"group_by": "unit", "as_of": "2024-13-01"}, "as_of"),
    ("stats/completion", {"group_by": "unit", "as_of": "yesterday"}, "as_of"),
    ("stats/completion", {"group_by": "unit", "level": "galaxy"}, "level"),
    ("stats/completion", {"group_by": "unit", "inspection": "abc"}, "inspection"),
    ("stats/completion", {"group_by": "unit", "inspection": "0"}, "inspection"),
    ("stats/completion", {"group_by": "unit", "region": "-3"}, "region"),
]


@pytest.mark.parametrize(
    ("resource", "params", "field"),
    QUERY_BAD,
    ids=[f"{resource}-{'-'.join(params) or 'nothing'}" for resource, params, _ in QUERY_BAD],
)
def test_it_refuses_a_bad_query_parameter(sup, case, resource, params, field):
    response = sup.get(f"{API}/{resource}/", params)
    assert_error(response, 400, field)


@pytest.mark.parametrize("moment", ["2024-01-01T00:00:00+16:00", "1692-12-20T19:38:26+18:56"])
def test_it_reads_any_utc_offset_without_a_server_error(sup, case, moment):
    # PostgreSQL keeps offsets within ±15:59: the filter converts to UTC before the query.
    response = sup.get(f"{API}/cases/", {"updated_since": moment})
    assert response.status_code == 200


def test_it_finds_nothing_under_an_out_of_range_unit_id(sup, case):
    response = sup.get(f"{API}/units/", {"parent": str(10**20)})
    assert response.status_code == 200 and response.json()["count"] == 0


@pytest.mark.parametrize("as_of", ["9999-12-31", "0001-01-01"])
def test_it_answers_stats_for_extreme_dates_without_a_server_error(sup, case, as_of):
    response = sup.get(f"{API}/stats/completion/", {"group_by": "unit", "as_of": as_of})
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 400:
        assert_error(response, 400, "as_of")


def test_it_caps_page_size_at_200(world, sup):
    for _ in range(201):
        make_case(world.supervisor, world.inspection, world.unit_a, title="批量问题")
    response = sup.get(f"{API}/cases/", {"page_size": 100_000})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 201
    assert len(body["results"]) == 200
    assert body["next"] is not None


@pytest.mark.parametrize("page_size", ["abc", "-5", "0"])
def test_it_falls_back_to_the_default_page_size_for_a_bad_one(sup, case, page_size):
    response = sup.get(f"{API}/cases/", {"page_size": page_size})
    assert response.status_code == 200
    assert response.json()["count"] == 1


@pytest.mark.parametrize("page", ["abc", "0", "-1", "99"])
def test_it_answers_a_bad_page_number_in_the_error_shape(sup, case, page):
    response = sup.get(f"{API}/cases/", {"page": page})
    # What happens (reported): DRF answers 404 "Invalid page", and the API's handler rewrites
    # the message to the generic "not found or not yours" one.
    assert response.status_code in (400, 404)
    assert_error(response, response.status_code)


# --- Token endpoint and headers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [[], {"username": "api_reader"}, {"username": ["api_reader"], "password": "x"},
     {"username": "a\x00", "password": "x"}, {"username": "u" * 151, "password": "x"}],
    ids=["array", "no_password", "username_list", "username_nul", "username_too_long"],
)  # fmt: skip
def test_it_refuses_a_malformed_token_request(world, body):
    client = APIClient(raise_request_exception=False)
    response = client.post(f"{API}/auth/token/", body, format="json")
    assert_error(response, 400)


@pytest.mark.parametrize(
    "header",
    ["Token", "Token a b", "Token " + "x" * 1000, "Bearer abc", "Token \u00e9\u00e9"],
    ids=["no_key", "two_keys", "long_key", "bearer", "latin1"],
)
def test_it_answers_401_to_a_malformed_authorization_header(world, header):
    client = APIClient(raise_request_exception=False)
    response = client.get(f"{API}/cases/", HTTP_AUTHORIZATION=header)
    assert_error(response, 401)


def test_it_answers_401_to_a_token_with_a_nul_byte(world):
    client = APIClient(raise_request_exception=False)
    response = client.get(f"{API}/cases/", HTTP_AUTHORIZATION="Token a\x00b")
    assert_error(response, 401)


@pytest.mark.parametrize(
    "path",
    [
        "/nope/",
        "/cases/1/nope/",
        "/cases/abc/evidence/1/download/",
        "/cases/-1/evidence/1/download/",
    ],
)
def test_it_answers_an_unknown_url_under_the_api_in_the_error_shape(sup, path):
    response = sup.get(f"{API}{path}")
    assert_error(response, 404)


@pytest.mark.parametrize("method", ["put", "delete"])
def test_it_answers_405_for_a_method_the_api_does_not_offer(sup, settings, case, method):
    before = stored(settings)
    response = getattr(sup, method)(f"{API}/cases/{case.pk}/", {"title": "x"}, format="json")
    assert_error(response, 405)
    assert stored(settings) == before


def test_it_never_echoes_a_traceback_or_sql_in_an_error(sup, case):
    response = sup.get(f"{API}/cases/", {"updated_since": "'; DROP TABLE cases_case; --"})
    body = assert_error(response, 400, "updated_since")
    text = json.dumps(body, ensure_ascii=False)
    assert "Traceback" not in text and "SELECT" not in text


# --- Form-encoded edits -----------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["inspector_a", "supervisor"])
@pytest.mark.parametrize("fmt", ["multipart", "urlencoded"])
def test_it_refuses_a_form_encoded_patch(world, persona, fmt):
    # Form encodings read an absent boolean as False, so a form PATCH would clear
    # is_key_problem: the case endpoints take JSON only, and a form changes nothing.
    case = world.case(world.unit_a, is_key_problem=True)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(getattr(world, persona))
    url = f"{API}/cases/{case.pk}/"
    if fmt == "multipart":
        response = client.patch(url, {"progress": "一半"}, format="multipart")
    else:
        response = client.patch(
            url, "progress=%E4%B8%80%E5%8D%8A", content_type="application/x-www-form-urlencoded"
        )
    assert response.status_code == 415
    case.refresh_from_db()
    assert case.progress == "" and case.is_key_problem is True
    assert list(case.events.values_list("kind", flat=True)) == ["created"]
