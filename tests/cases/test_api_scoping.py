"""Who may do what through the API, on which case: every operation × role × object.

Objects: a case of inspector_a's own unit (甲县局), one of the sibling unit (乙县局, with a
second one on another inspection, already exempted), and one on the restricted clue ledger
with 甲县局 responsible. The expected answers are written out by hand from the contract (the
issue text and the scoping rules in cases/selectors.py's docstring), not derived from the code:

- anonymous: 401 everywhere under /api/v1/ except POST auth/token;
- a case the caller may not see: 404, exactly as a missing id;
- api_reader: reads its jurisdiction (never restricted ledgers), every write is 403;
- a role that may not make a change: 403 (inspectors cannot edit details, exempt, create).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from cases import services
from cases.models import Case, CaseEvent, Evidence, Inspection, Unit
from tests.factories import PASSWORD, PDF, World, api_key, drive_to, make_inspection

pytestmark = pytest.mark.django_db

API = "/api/v1"

PERSONAS = [
    "api_reader",
    "inspector_a",
    "inspector_a_child",
    "inspector_b",
    "supervisor",
    "county_a_supervisor",
    "no_unit",
    "admin",
]
OBJECTS = ["own", "sibling", "restricted"]


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    # Throttle counters live in the (Redis) cache and outlive the test database: start each
    # test from zero so that a rerun within the minute cannot answer 429.
    cache.clear()


@dataclass
class Scene:
    world: World
    cases: dict[str, Case]
    evidence: dict[str, Evidence]
    inspections: dict[str, Inspection]

    def unit(self, name: str) -> Unit:
        return Unit.objects.get(name=name)


@pytest.fixture
def scene(world: World) -> Scene:
    inspection_b = make_inspection(world.commission, code="T2023-B", name="乙县专项")
    cases = {
        "own": world.case(world.unit_a, title="甲县局的问题", checklist=["验收要点一"]),
        "sibling": world.case(world.unit_b, title="乙县局的问题", checklist=["验收要点二"]),
        "restricted": world.case(world.unit_a, inspection=world.restricted, title="线索"),
        "sibling_other": world.case(world.unit_b, inspection=inspection_b, title="乙县专项问题"),
    }
    drive_to(cases["sibling_other"], "exempted", world.supervisor)
    evidence = {
        label: services.evidence_add(
            actor=world.supervisor,
            case_id=cases[label].pk,
            upload=SimpleUploadedFile(f"{label}.pdf", PDF),
            note=label,
        )
        for label in OBJECTS
    }
    inspections = {
        "inspection": world.inspection,
        "inspection_b": inspection_b,
        "restricted": world.restricted,
    }
    return Scene(world, cases, evidence, inspections)


def client_for(world: World, persona: str) -> APIClient:
    """api_reader goes through the real `Authorization: Token …` path; the others are forced."""
    client = APIClient()
    if persona == "anonymous":
        return client
    user = getattr(world, persona)
    if persona == "api_reader":
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(user)}")
    else:
        client.force_authenticate(user)
    return client


def snapshot(case: Case) -> tuple:
    """What a write would change: status, texts, timestamps, history and evidence."""
    row = Case.objects.get(pk=case.pk)
    return (
        row.status,
        row.title,
        row.progress,
        row.deadline,
        row.responsible_unit_id,
        row.items_total,
        row.updated_at,
        CaseEvent.objects.filter(case=row).count(),
        Evidence.objects.filter(case=row).count(),
    )


def snapshots(scene: Scene) -> dict[str, tuple]:
    return {label: snapshot(case) for label, case in scene.cases.items()}


def assert_error_shape(response: Any, status: int) -> None:
    body = response.json()
    assert set(body) == {"status", "code", "message", "fields"}, body
    assert body["status"] == status
    assert body["code"] and body["message"]


# --- Anonymous ---------------------------------------------------------------------------

ANONYMOUS_REQUESTS = [
    ("get", "/"),
    ("delete", "/auth/token/"),
    ("get", "/auth/token/"),
    ("get", "/units/"),
    ("get", "/units/{unit}/"),
    ("get", "/inspections/"),
    ("get", "/inspections/{inspection}/"),
    ("get", "/cases/"),
    ("post", "/cases/"),
    ("get", "/cases/{case}/"),
    ("get", "/cases/999999/"),
    ("patch", "/cases/{case}/"),
    ("put", "/cases/{case}/"),
    ("delete", "/cases/{case}/"),
    ("post", "/cases/{case}/transitions/"),
    ("get", "/cases/{case}/history/"),
    ("get", "/cases/{case}/evidence/"),
    ("post", "/cases/{case}/evidence/"),
    ("get", "/cases/{case}/evidence/{evidence}/download/"),
    ("get", "/stats/completion/?group_by=unit"),
]


@pytest.mark.parametrize(("method", "path"), ANONYMOUS_REQUESTS)
def test_it_answers_401_to_anonymous_callers_everywhere(scene, method, path):
    before = snapshots(scene)
    url = API + path.format(
        unit=scene.world.unit_a.pk,
        inspection=scene.world.inspection.pk,
        case=scene.cases["own"].pk,
        evidence=scene.evidence["own"].pk,
    )
    body = {"to": "in_progress", "title": "x", "progress": "x"} if method != "get" else None
    response = getattr(APIClient(), method)(url, body, format="json")
    assert response.status_code == 401
    assert_error_shape(response, 401)
    assert response["WWW-Authenticate"].startswith("Token")
    assert snapshots(scene) == before


def test_it_lets_anonymous_callers_ask_for_a_token_and_nothing_else(scene):
    client = APIClient()
    refused = client.post(f"{API}/auth/token/", {"username": "x", "password": "y"}, format="json")
    assert refused.status_code == 400
    granted = client.post(
        f"{API}/auth/token/", {"username": "api_reader", "password": PASSWORD}, format="json"
    )
    assert granted.status_code == 200
    assert client.get(f"{API}/cases/").status_code == 401  # asking did not log anybody in


def test_it_scopes_an_api_reader_token_obtained_from_the_endpoint(scene):
    client = APIClient()
    response = client.post(
        f"{API}/auth/token/", {"username": "api_reader", "password": PASSWORD}, format="json"
    )
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    listed = client.get(f"{API}/cases/")
    assert listed.status_code == 200
    ids = {row["id"] for row in listed.json()["results"]}
    assert ids == {scene.cases[label].pk for label in ("own", "sibling", "sibling_other")}
    before = snapshots(scene)
    own = scene.cases["own"].pk
    assert client.patch(f"{API}/cases/{own}/", {"progress": "x"}, format="json").status_code == 403
    assert (
        client.post(f"{API}/cases/{own}/transitions/", {"to": "in_progress"}, format="json")
    ).status_code == 403
    assert snapshots(scene) == before


# --- Every operation on one case ----------------------------------------------------------

# The operations, in the order a row runs them (the writes last, and `start` before `exempt`,
# which a supervisor may make from in_progress).
OPERATIONS = [
    "retrieve",
    "history",
    "evidence",
    "download",
    "patch_progress",
    "patch_title",
    "upload",
    "start",
    "exempt",
]
WRITES = {"patch_progress", "patch_title", "upload", "start", "exempt"}

HIDDEN = (404,) * 9
ANON = (401,) * 9
READ_ONLY = (200, 200, 200, 200, 403, 403, 403, 403, 403)
READ_ONLY_HIDDEN = (404, 404, 404, 404, 403, 403, 403, 403, 403)
# An inspector on their own case: rectification, evidence and `start` yes; details and
# `exempt` are for supervisors.
INSPECTOR = (200, 200, 200, 200, 200, 403, 201, 200, 403)
# A supervisor of another unit (the commissions, a superuser): everything but the unit's own
# `start` (cases.rules: 403 not_own_unit); `exempt` is theirs, from open too.
SUPERVISOR = (200, 200, 200, 200, 200, 200, 201, 403, 200)
# A supervisor of the responsible unit: its `start` yes, `exempt`ing its own case no
# (cases.rules: 403 separation_of_duties).
UNIT_SUPERVISOR = (200, 200, 200, 200, 200, 200, 201, 200, 403)

#                                              retrieve history evidence download
#                                              progress title upload start exempt
EXPECTED: dict[tuple[str, str], tuple[int, ...]] = {
    ("anonymous", "own"): ANON,
    ("anonymous", "sibling"): ANON,
    ("anonymous", "restricted"): ANON,
    ("api_reader", "own"): READ_ONLY,
    ("api_reader", "sibling"): READ_ONLY,
    ("api_reader", "restricted"): READ_ONLY_HIDDEN,
    ("inspector_a", "own"): INSPECTOR,
    ("inspector_a", "sibling"): HIDDEN,
    ("inspector_a", "restricted"): HIDDEN,
    # A sub-unit's staff do not see their parent unit's cases.
    ("inspector_a_child", "own"): HIDDEN,
    ("inspector_a_child", "sibling"): HIDDEN,
    ("inspector_a_child", "restricted"): HIDDEN,
    ("inspector_b", "own"): HIDDEN,
    ("inspector_b", "sibling"): INSPECTOR,
    ("inspector_b", "restricted"): HIDDEN,
    ("supervisor", "own"): SUPERVISOR,
    ("supervisor", "sibling"): SUPERVISOR,
    ("supervisor", "restricted"): SUPERVISOR,
    # 甲县纪委监委 oversees 甲县 (restricted ledger included), not 乙县.
    ("county_a_supervisor", "own"): SUPERVISOR,
    ("county_a_supervisor", "sibling"): HIDDEN,
    ("county_a_supervisor", "restricted"): SUPERVISOR,
    ("no_unit", "own"): HIDDEN,
    ("no_unit", "sibling"): HIDDEN,
    ("no_unit", "restricted"): HIDDEN,
    ("dept_supervisor", "own"): UNIT_SUPERVISOR,
    ("dept_supervisor", "sibling"): HIDDEN,
    ("dept_supervisor", "restricted"): HIDDEN,
    ("admin", "own"): SUPERVISOR,
    ("admin", "sibling"): SUPERVISOR,
    ("admin", "restricted"): SUPERVISOR,
}


def _request(client: APIClient, scene: Scene, operation: str, label: str) -> Any:
    case = scene.cases[label]
    url = f"{API}/cases/{case.pk}/"
    if operation == "retrieve":
        return client.get(url)
    if operation == "history":
        return client.get(f"{url}history/")
    if operation == "evidence":
        return client.get(f"{url}evidence/")
    if operation == "download":
        return client.get(f"{url}evidence/{scene.evidence[label].pk}/download/")
    if operation == "patch_progress":
        return client.patch(url, {"progress": "已完成一半"}, format="json")
    if operation == "patch_title":
        return client.patch(url, {"title": "改过的标题"}, format="json")
    if operation == "upload":
        upload = SimpleUploadedFile("整改报告.pdf", PDF, content_type="application/pdf")
        return client.post(f"{url}evidence/", {"file": upload, "note": "佐证"}, format="multipart")
    if operation == "start":
        return client.post(f"{url}transitions/", {"to": "in_progress"}, format="json")
    if operation == "exempt":
        return client.post(
            f"{url}transitions/", {"to": "exempted", "note": "不予整改"}, format="json"
        )
    raise AssertionError(operation)


def _check_body(scene: Scene, operation: str, label: str, response: Any) -> None:
    """A 2xx answer is about this case only."""
    case = scene.cases[label]
    if operation == "retrieve" or operation in {"patch_progress", "patch_title", "start"}:
        assert response.json()["id"] == case.pk
    elif operation == "history":
        listed = [event["id"] for event in response.json()]
        assert listed == list(
            CaseEvent.objects.filter(case=case)
            .order_by("created_at", "id")
            .values_list("id", flat=True)
        )
    elif operation == "evidence":
        listed = {item["id"] for item in response.json()}
        assert listed == set(Evidence.objects.filter(case=case).values_list("id", flat=True))
        assert scene.evidence[label].pk in listed
    elif operation == "download":
        assert b"".join(response.streaming_content) == PDF
    elif operation == "upload":
        assert Evidence.objects.get(pk=response.json()["id"]).case_id == case.pk


@pytest.mark.parametrize(("persona", "label"), list(EXPECTED))
def test_it_answers_each_operation_on_a_case_per_role(scene, persona, label):
    client = client_for(scene.world, persona)
    answers: dict[str, int] = {}
    for operation in OPERATIONS:
        before = snapshots(scene)
        response = _request(client, scene, operation, label)
        answers[operation] = response.status_code
        if response.status_code >= 400:
            assert_error_shape(response, response.status_code)
        else:
            _check_body(scene, operation, label, response)
        after = snapshots(scene)
        # Nothing else ever changes; the case itself only on a successful write.
        for other in scene.cases:
            if other != label or operation not in WRITES or response.status_code >= 400:
                assert after[other] == before[other], (operation, other, response.status_code)
        if operation in WRITES and response.status_code < 300:
            assert after[label] != before[label], operation
    expected = dict(zip(OPERATIONS, EXPECTED[(persona, label)], strict=True))
    assert answers == expected


def test_it_answers_404_for_evidence_reached_through_another_case(scene):
    client = client_for(scene.world, "supervisor")
    own, sibling = scene.cases["own"], scene.evidence["sibling"]
    response = client.get(f"{API}/cases/{own.pk}/evidence/{sibling.pk}/download/")
    assert response.status_code == 404
    assert_error_shape(response, 404)


def test_it_answers_a_hidden_case_exactly_as_a_missing_one(scene):
    client = client_for(scene.world, "inspector_a")
    hidden = client.get(f"{API}/cases/{scene.cases['sibling'].pk}/")
    missing = client.get(f"{API}/cases/999999999/")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    hidden = client.post(
        f"{API}/cases/{scene.cases['restricted'].pk}/transitions/", {"to": "x"}, format="json"
    )
    missing = client.post(f"{API}/cases/999999999/transitions/", {"to": "x"}, format="json")
    assert hidden.status_code == missing.status_code
    assert hidden.json() == missing.json()


# --- Creating cases ----------------------------------------------------------------------

# (persona): answers for a case of 甲县局, of 乙县局, on the restricted ledger for 甲县局.
CREATE_EXPECTED: dict[str, tuple[int, int, int]] = {
    "anonymous": (401, 401, 401),
    "api_reader": (403, 403, 403),
    # Only supervisors register cases: a role that never may is told so (403), whatever ids
    # it names.
    "inspector_a": (403, 403, 403),
    "inspector_a_child": (403, 403, 403),
    "inspector_b": (403, 403, 403),
    "no_unit": (403, 403, 403),
    "supervisor": (201, 201, 201),
    # A responsible unit outside the caller's jurisdiction does not resolve: 400 on the field.
    "county_a_supervisor": (201, 400, 201),
    "admin": (201, 201, 201),
}


@pytest.mark.parametrize("persona", list(CREATE_EXPECTED))
def test_it_lets_only_supervisors_create_cases_in_their_jurisdiction(scene, persona):
    world = scene.world
    client = client_for(world, persona)
    targets = [
        (world.inspection, world.unit_a),
        (world.inspection, world.unit_b),
        (world.restricted, world.unit_a),
    ]
    answers, refusals = [], []
    for inspection, unit in targets:
        before, count = snapshots(scene), Case.objects.count()
        response = client.post(
            f"{API}/cases/",
            {
                "inspection": inspection.pk,
                "responsible_unit": unit.pk,
                "title": "新登记的问题",
                "deadline": str(timezone.localdate()),
            },
            format="json",
        )
        answers.append(response.status_code)
        assert snapshots(scene) == before
        if response.status_code == 201:
            assert Case.objects.count() == count + 1
            created = Case.objects.get(pk=response.json()["id"])
            assert (created.inspection, created.responsible_unit) == (inspection, unit)
        else:
            assert Case.objects.count() == count
            assert_error_shape(response, response.status_code)
            refusals.append(response.json())
    assert tuple(answers) == CREATE_EXPECTED[persona], refusals
    for body in refusals:
        if body["status"] == 400:
            assert "responsible_unit" in body["fields"]


def test_it_refuses_an_item_under_a_case_outside_the_jurisdiction(scene):
    client = client_for(scene.world, "county_a_supervisor")
    before, count = snapshots(scene), Case.objects.count()
    response = client.post(
        f"{API}/cases/",
        {
            "inspection": scene.world.inspection.pk,
            "responsible_unit": scene.world.unit_a.pk,
            "parent": scene.cases["sibling"].pk,
            "title": "挂到别人问题下的事项",
            "deadline": str(timezone.localdate()),
        },
        format="json",
    )
    assert response.status_code == 400
    assert "parent" in response.json()["fields"]
    assert snapshots(scene) == before
    assert Case.objects.count() == count


def test_it_refuses_to_hand_a_case_to_a_unit_outside_the_jurisdiction(scene):
    client = client_for(scene.world, "county_a_supervisor")
    before = snapshots(scene)
    response = client.patch(
        f"{API}/cases/{scene.cases['own'].pk}/",
        {"responsible_unit": scene.world.unit_b.pk, "reason": "移交"},
        format="json",
    )
    assert response.status_code == 400
    assert "responsible_unit" in response.json()["fields"]
    assert snapshots(scene) == before


# --- Lists never show foreign rows ----------------------------------------------------------

CASES_SEEN: dict[str, set[str]] = {
    "supervisor": {"own", "sibling", "restricted", "sibling_other"},
    "admin": {"own", "sibling", "restricted", "sibling_other"},
    "api_reader": {"own", "sibling", "sibling_other"},
    "inspector_a": {"own"},
    "inspector_a_child": set(),
    "inspector_b": {"sibling", "sibling_other"},
    "county_a_supervisor": {"own", "restricted"},
    "no_unit": set(),
}

CITY = {
    "晋城市", "晋城市纪委监委", "市局", "市局分局", "甲县", "甲县纪委监委", "甲县局", "甲县局股室",
    "乙县", "乙县局",
}  # fmt: skip
UNITS_SEEN: dict[str, set[str]] = {
    "supervisor": CITY,
    "api_reader": CITY,
    "admin": CITY | {"某省"},
    "inspector_a": {"甲县局", "甲县局股室"},
    "inspector_a_child": {"甲县局股室"},
    "inspector_b": {"乙县局"},
    "county_a_supervisor": {"甲县", "甲县纪委监委", "甲县局", "甲县局股室"},
    "no_unit": set(),
}

# Inspection → (total, done) over the caller's own cases.
INSPECTIONS_SEEN: dict[str, dict[str, tuple[int, int]]] = {
    "supervisor": {"inspection": (2, 0), "inspection_b": (1, 1), "restricted": (1, 0)},
    "admin": {"inspection": (2, 0), "inspection_b": (1, 1), "restricted": (1, 0)},
    "api_reader": {"inspection": (2, 0), "inspection_b": (1, 1)},
    "inspector_a": {"inspection": (1, 0)},
    "inspector_a_child": {},
    "inspector_b": {"inspection": (1, 0), "inspection_b": (1, 1)},
    "county_a_supervisor": {"inspection": (1, 0), "restricted": (1, 0)},
    "no_unit": {},
}

# Completion by unit and by region: name → (total, done), and the grand total.
STATS_BY_UNIT: dict[str, dict[str, tuple[int, int]]] = {
    "supervisor": {"甲县局": (2, 0), "乙县局": (2, 1)},
    "admin": {"甲县局": (2, 0), "乙县局": (2, 1)},
    "api_reader": {"甲县局": (1, 0), "乙县局": (2, 1)},
    "inspector_a": {"甲县局": (1, 0)},
    "inspector_a_child": {},
    "inspector_b": {"乙县局": (2, 1)},
    "county_a_supervisor": {"甲县局": (2, 0)},
    "no_unit": {},
}
STATS_BY_REGION: dict[str, dict[str, tuple[int, int]]] = {
    "supervisor": {"甲县": (2, 0), "乙县": (2, 1)},
    "admin": {"甲县": (2, 0), "乙县": (2, 1)},
    "api_reader": {"甲县": (1, 0), "乙县": (2, 1)},
    "inspector_a": {"甲县": (1, 0)},
    "inspector_a_child": {},
    "inspector_b": {"乙县": (2, 1)},
    "county_a_supervisor": {"甲县": (2, 0)},
    "no_unit": {},
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_lists_only_the_cases_in_scope(scene, persona):
    client = client_for(scene.world, persona)
    response = client.get(f"{API}/cases/", {"page_size": 200})
    assert response.status_code == 200
    body = response.json()
    expected = {scene.cases[label].pk for label in CASES_SEEN[persona]}
    assert {row["id"] for row in body["results"]} == expected
    assert body["count"] == len(expected)


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_lists_only_the_units_in_scope(scene, persona):
    client = client_for(scene.world, persona)
    response = client.get(f"{API}/units/", {"page_size": 200})
    assert response.status_code == 200
    assert {row["name"] for row in response.json()["results"]} == UNITS_SEEN[persona]


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_lists_only_the_inspections_in_scope_with_figures_over_own_cases(scene, persona):
    client = client_for(scene.world, persona)
    response = client.get(f"{API}/inspections/", {"page_size": 200})
    assert response.status_code == 200
    by_id = {inspection.pk: label for label, inspection in scene.inspections.items()}
    seen = {by_id[row["id"]]: (row["total"], row["done"]) for row in response.json()["results"]}
    assert seen == INSPECTIONS_SEEN[persona]


@pytest.mark.parametrize("as_of", [None, "today"])
@pytest.mark.parametrize("persona", PERSONAS)
def test_it_counts_only_the_cases_in_scope_in_stats(scene, persona, as_of):
    """The tables above count every case the caller sees; the answer's rows and total count the
    rectification ledgers only, and the restricted case (in 甲县局, 甲县) comes apart under
    `restricted` for those who read it: null for the others."""
    client = client_for(scene.world, persona)
    params = {"as_of": str(timezone.localdate())} if as_of else {}
    expected_inspections = {
        scene.inspections[label].pk: figures for label, figures in INSPECTIONS_SEEN[persona].items()
    }
    by_unit = {scene.unit(name).pk: figures for name, figures in STATS_BY_UNIT[persona].items()}
    by_region = {scene.unit(name).pk: f for name, f in STATS_BY_REGION[persona].items()}
    seen = CASES_SEEN[persona]
    secret = scene.cases["restricted"]
    for group_by, expected, secret_key in (
        ("unit", by_unit, secret.responsible_unit_id),
        ("region", by_region, secret.region_id),
        ("inspection", expected_inspections, secret.inspection_id),
    ):
        response = client.get(f"{API}/stats/completion/", {"group_by": group_by, **params})
        assert response.status_code == 200
        body = response.json()
        apart = body["restricted"]
        if "restricted" in seen:
            total, done = expected[secret_key]
            expected = {**expected, secret_key: (total - 1, done)}
            expected = {key: figures for key, figures in expected.items() if figures[0]}
            secret_rows = {row["key"]: (row["total"], row["done"]) for row in apart["rows"]}
            assert secret_rows == {secret_key: (1, 0)}, group_by
            assert (apart["total"]["total"], apart["total"]["done"]) == (1, 0)
        else:
            assert apart is None, group_by
        rows = {row["key"]: (row["total"], row["done"]) for row in body["rows"]}
        assert rows == expected, group_by
        total = (body["total"]["total"], body["total"]["done"])
        assert total == (len(seen - {"restricted"}), 1 if "sibling_other" in seen else 0)


# --- Filters cannot widen the scope ---------------------------------------------------------


def _filters(scene: Scene) -> list[tuple[str, str, dict[str, Any]]]:
    world = scene.world
    return [
        ("inspector_a", "cases", {"responsible_unit": world.unit_b.pk}),
        ("inspector_a", "cases", {"inspection": scene.inspections["inspection_b"].pk}),
        ("inspector_a", "cases", {"inspection": world.restricted.pk}),
        ("inspector_a", "cases", {"region": world.county_b.pk}),
        ("inspector_a", "cases", {"search": "乙县"}),
        ("inspector_a_child", "cases", {"responsible_unit": world.unit_a.pk}),
        ("api_reader", "cases", {"inspection": world.restricted.pk}),
        ("county_a_supervisor", "cases", {"responsible_unit": world.unit_b.pk}),
        ("inspector_a", "units", {"parent": world.county_b.pk}),
        ("inspector_a", "units", {"search": "乙县"}),
        ("inspector_a", "units", {"level": "county"}),
        ("county_a_supervisor", "units", {"parent": world.county_b.pk}),
        ("no_unit", "units", {"level": "city"}),
    ]


def test_it_ignores_filters_that_point_outside_the_scope(scene):
    for persona, resource, params in _filters(scene):
        client = client_for(scene.world, persona)
        response = client.get(f"{API}/{resource}/", params)
        assert response.status_code == 200, (persona, resource, params)
        assert response.json()["results"] == [], (persona, resource, params)
        assert response.json()["count"] == 0


@pytest.mark.parametrize(
    ("persona", "params"),
    [
        ("api_reader", {"inspection": "restricted"}),
        ("inspector_a", {"inspection": "restricted"}),
        ("inspector_a", {"inspection": "inspection_b"}),
        ("inspector_a", {"region": "county_b"}),
        ("inspector_b", {"region": "county_a"}),
        ("county_a_supervisor", {"region": "county_b"}),
    ],
)
def test_it_answers_zero_stats_for_filters_outside_the_scope(scene, persona, params):
    client = client_for(scene.world, persona)
    query = {
        key: (scene.inspections[value] if key == "inspection" else getattr(scene.world, value)).pk
        for key, value in params.items()
    }
    response = client.get(f"{API}/stats/completion/", {"group_by": "unit", **query})
    assert response.status_code == 200
    body = response.json()
    assert body["rows"] == []
    assert (body["total"]["total"], body["total"]["done"]) == (0, 0)


# --- Units and inspections one by one ----------------------------------------------------

# (unit_a, unit_b, the province above the city)
UNIT_DETAIL: dict[str, tuple[int, int, int]] = {
    "anonymous": (401, 401, 401),
    "supervisor": (200, 200, 404),
    "api_reader": (200, 200, 404),
    "inspector_a": (200, 404, 404),
    "inspector_a_child": (404, 404, 404),
    "inspector_b": (404, 200, 404),
    "county_a_supervisor": (200, 404, 404),
    "no_unit": (404, 404, 404),
    "admin": (200, 200, 200),
}


@pytest.mark.parametrize("persona", list(UNIT_DETAIL))
def test_it_shows_a_unit_only_in_scope(scene, persona):
    client = client_for(scene.world, persona)
    units = [scene.world.unit_a, scene.world.unit_b, scene.unit("某省")]
    answers = tuple(client.get(f"{API}/units/{unit.pk}/").status_code for unit in units)
    assert answers == UNIT_DETAIL[persona]


# (inspection, inspection_b, restricted)
INSPECTION_DETAIL: dict[str, tuple[int, int, int]] = {
    "anonymous": (401, 401, 401),
    "supervisor": (200, 200, 200),
    "api_reader": (200, 200, 404),
    "inspector_a": (200, 404, 404),
    "inspector_a_child": (404, 404, 404),
    "inspector_b": (200, 200, 404),
    "county_a_supervisor": (200, 404, 200),
    "no_unit": (404, 404, 404),
    "admin": (200, 200, 200),
}


@pytest.mark.parametrize("persona", list(INSPECTION_DETAIL))
def test_it_shows_an_inspection_only_in_scope_with_own_figures(scene, persona):
    client = client_for(scene.world, persona)
    answers = []
    for label in ("inspection", "inspection_b", "restricted"):
        response = client.get(f"{API}/inspections/{scene.inspections[label].pk}/")
        answers.append(response.status_code)
        if response.status_code == 200:
            body = response.json()
            assert (body["total"], body["done"]) == INSPECTIONS_SEEN[persona][label]
        elif persona != "anonymous":
            assert_error_shape(response, 404)
    assert tuple(answers) == INSPECTION_DETAIL[persona]
