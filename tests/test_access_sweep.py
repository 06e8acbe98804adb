"""The access sweep: every URL (from the URLconf) and API operation (from the OpenAPI schema)
× role × object relation, answered as tests/access_probes.py says.

- A URL or operation without a probe fails `test_every_url_and_operation_has_a_probe`, by
  name: a new endpoint cannot ship unprobed.
- Each probe is requested as each role on the objects in each relation to the caller (own
  unit, sibling, parent, child, restricted ledger) and on a missing id; the status must be the
  one written down, a hidden object must be answered exactly as the missing id (status and
  body), and nothing may change in the database except what a successful write of the caller
  is meant to change. Every page's context may hold only rows the caller may see.
- Lists, aggregates, exports, reminders and notifications are compared with what each role
  may see, row by row.

Each request runs inside a savepoint that is rolled back, so one scene serves a whole role.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.paginator import Page
from django.db import transaction
from django.db.models import Count, Model, QuerySet
from django.forms import BaseForm
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django_filters import FilterSet
from openpyxl import load_workbook
from rest_framework.test import APIClient

from cases import grants as case_grants
from cases import services
from cases.models import (
    ApiToken,
    Case,
    CaseEvent,
    Evidence,
    ExtensionRequest,
    Inspection,
    RestrictedGrant,
    Unit,
    User,
)
from ledgers import services as ledger_services
from ledgers.models import ExportJob, ImportJob, Job
from reminders import services as reminder_services
from reminders.models import Notification, Reminder
from tests.access_probes import (
    ADMIN_PREFIX,
    API_PROBES,
    CASE_RELATIONS,
    CASES_SEEN,
    GRANTS,
    GRANTS_SEEN,
    INSPECTIONS,
    INSPECTIONS_SEEN,
    LOGIN,
    ROLE_USERS,
    ROLES,
    UNIT_RELATIONS,
    UNITS_SEEN,
    WEB_PROBES,
    Probe,
)
from tests.factories import (
    PASSWORD,
    PDF,
    ImportJobFactory,
    NotificationFactory,
    World,
    add_evidence,
    api_key,
    build_world,
    days,
    make_case,
    make_inspection,
    make_unit,
)

pytestmark = pytest.mark.django_db

MISSING = 987_654_321
SUCCESS = {200, 201, 204, 302}


# --- Enumeration ---------------------------------------------------------------------------


def url_patterns() -> Iterator[tuple[str, str | None]]:
    """(route, namespaced name) of every pattern in the URLconf, recursively."""

    def walk(patterns: list[Any], prefix: str, namespace: str) -> Iterator[tuple[str, str | None]]:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                yield from walk(pattern.url_patterns, route, inner)
            elif isinstance(pattern, URLPattern):
                yield route, f"{namespace}{pattern.name}" if pattern.name else None

    yield from walk(get_resolver().url_patterns, "", "")


def url_keys() -> set[str]:
    """Every URL outside the admin, by name (a pattern without one: by its route)."""
    return {name or route for route, name in url_patterns() if not route.startswith(ADMIN_PREFIX)}


def api_operations() -> set[tuple[str, str]]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    methods = {"get", "post", "put", "patch", "delete", "head", "options", "trace"}
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in methods
    }


def _sample(path: str) -> str:
    """A schema path with every parameter filled in, to resolve it."""
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_url_and_operation_has_a_probe():
    operations = api_operations()
    unprobed_operations = sorted(operations - set(API_PROBES))
    stale_operations = sorted(set(API_PROBES) - operations)
    assert not unprobed_operations, f"API operations without a probe: {unprobed_operations}"
    assert not stale_operations, f"probes of operations that no longer exist: {stale_operations}"
    # The API's URL names are probed through their operations.
    through_api = {resolve(_sample(path)).view_name for _method, path in API_PROBES}
    probed = set(WEB_PROBES) | through_api
    unprobed = sorted(url_keys() - probed)
    stale = sorted(set(WEB_PROBES) - url_keys())
    assert not unprobed, f"URLs without a probe in tests/access_probes.py: {unprobed}"
    assert not stale, f"probes of URLs that no longer exist: {stale}"
    # Each probe's path is the URL it is keyed by.
    for key, probe in WEB_PROBES.items():
        path = probe.path.split("?")[0].format(
            case=1,
            evidence=1,
            job=1,
            notification=1,
            token=1,
            grant=1,
            inspection=1,
            point=1,
            follow_up=1,
            extension=1,
        )
        assert resolve(path).view_name == key, key
    for (method, path), probe in API_PROBES.items():
        assert probe.method.upper() == method
        sent = probe.path.split("?")[0].format(
            case=1, evidence=1, unit=1, inspection=1, job=1, follow_up=1, extension=1
        )
        assert resolve(sent).view_name == resolve(_sample(path)).view_name, (method, path)


# --- The scene -------------------------------------------------------------------------------


@dataclass
class Scene:
    world: World
    users: dict[str, User]  # role → user (not for anonymous)
    units: dict[str, Unit]  # by name
    inspections: dict[str, Inspection]
    cases: dict[str, Case]
    evidence: dict[str, Evidence]
    export_jobs: dict[str, ExportJob]  # role → the user's own; "foreign": inspector_b's
    import_jobs: dict[str, ImportJob]
    notifications: dict[str, Notification]
    api_tokens: dict[str, ApiToken]  # role → one of the user's own; "foreign": inspector_b's
    api_keys: dict[str, str]  # role → the key of that token
    grants: dict[str, RestrictedGrant]  # by the granted unit's case label (GRANTS)
    points: dict[str, int]  # by case label: the id of the case's checklist point
    # By case label: pending, but decided (refused) on the inspector's own cases.
    extension_requests: dict[str, ExtensionRequest] = field(default_factory=dict)

    def user(self, role: str) -> User | None:
        return self.users.get(role)


SCENE_SETTINGS = {
    "REMINDER_CHANNELS": ["in_app"],
    "REMINDER_WORKING_DAYS": False,
    "REMINDER_DUE_SOON_DAYS": [7, 1],
    "REMINDER_OVERDUE_EVERY_DAYS": 7,
    "REMINDER_ESCALATION_DAYS": 14,
}


@pytest.fixture(scope="module")
def sweep_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sweep")


@pytest.fixture(autouse=True)
def _sweep_settings(settings, sweep_root, _evidence_root):
    # The scene's files (evidence, exported ledgers) outlive a single test.
    settings.EVIDENCE_ROOT = sweep_root / "evidence"
    settings.LEDGER_FILES_ROOT = sweep_root / "ledgers"
    for name, value in SCENE_SETTINGS.items():
        setattr(settings, name, value)
    # Throttle counters live in the cache and outlive the test database.
    cache.clear()


@pytest.fixture(scope="module")
def scene(django_db_setup, django_db_blocker, sweep_root) -> Iterator[Scene]:
    """One scene for the whole module, in a transaction rolled back at its end; each test
    runs in a savepoint inside it (pytest-django's `db`), each request in another."""
    overrides = override_settings(
        EVIDENCE_ROOT=sweep_root / "evidence",
        LEDGER_FILES_ROOT=sweep_root / "ledgers",
        **SCENE_SETTINGS,
    )
    with django_db_blocker.unblock(), overrides, transaction.atomic():
        yield build_scene(build_world())
        transaction.set_rollback(True)


def build_scene(world: World) -> Scene:
    province = world.city.parent
    assert province is not None
    units = {unit.name: unit for unit in Unit.objects.all()}
    province_commission = make_unit(
        "某省纪委监委", parent=province, is_supervising_body=True, is_responsible_unit=False
    )
    units["另一市"] = make_unit("另一市", parent=province, level=Unit.Level.CITY)
    units["甲县二局"] = make_unit("甲县二局", parent=world.county_a)
    units["乙县纪委监委"] = make_unit(
        "乙县纪委监委", parent=world.county_b, is_supervising_body=True
    )
    inspections = {
        "inspection": world.inspection,
        "restricted": world.restricted,
        "county_b": make_inspection(units["乙县纪委监委"], code="SWEEP-B", name="乙县专项检查"),
        "province": make_inspection(province_commission, code="SWEEP-P", name="省专项检查"),
    }
    places = {
        "province": (units["某省"], "province"),
        "other_city": (units["另一市"], "province"),
        "city": (units["晋城市"], "inspection"),
        "city_dept": (units["市局"], "inspection"),
        "county_a": (units["甲县"], "inspection"),
        "unit_a": (units["甲县局"], "inspection"),
        "a_sibling": (units["甲县二局"], "inspection"),
        "unit_a_child": (units["甲县局股室"], "inspection"),
        "restricted": (units["甲县局"], "restricted"),
        "unit_b": (units["乙县局"], "county_b"),
    }
    # Every case overdue by more than the escalation period and a key problem, so that every
    # list, lamp and reminder has them all to choose from.
    cases = {
        label: make_case(
            world.admin,
            inspections[inspection],
            unit,
            title=title_of(label),
            code=code_of(label),
            deadline=days(-20),
            is_key_problem=True,
            checklist=["探针验收要点"],
        )
        for label, (unit, inspection) in places.items()
    }
    evidence = {
        label: add_evidence(world.admin, case, f"{label}.pdf") for label, case in cases.items()
    }
    for case in cases.values():
        services.case_follow_up(actor=world.admin, case_id=case.pk, note="探针督办")
    reminder_services.sweep()
    reminder_services.deliver()

    users = {role: getattr(world, name) for role, name in ROLE_USERS.items()}
    owners = {**users, "foreign": world.inspector_b}
    export_jobs = {}
    for role, user in owners.items():
        job = ledger_services.export_job_create(actor=user, query="", total=0)
        ledger_services.export_job_run(job_id=job.pk)
        export_jobs[role] = ExportJob.objects.get(pk=job.pk)
        assert export_jobs[role].status == Job.Status.DONE
    import_jobs = {
        role: ImportJobFactory(
            owner=user, status=Job.Status.DONE, original_name="台账.xlsx", total=1, processed=1
        )
        for role, user in owners.items()
    }
    notifications = {
        role: NotificationFactory(user=user, title="探针通知") for role, user in owners.items()
    }
    api_keys = {role: api_key(user, name="探针") for role, user in owners.items()}
    api_tokens = {role: ApiToken.objects.get(user=user) for role, user in owners.items()}
    restricted_grants = {
        label: case_grants.restricted_grant_create(
            actor=world.supervisor,
            inspection_id=world.restricted.pk,
            unit_id=places[label][0].pk,
            reason="探针授权",
        )
        for label in GRANTS
    }
    extension_requests = {label: _extension_request(world, case, label)
                          for label, case in cases.items()}  # fmt: skip
    return Scene(
        world,
        users,
        units,
        inspections,
        cases,
        evidence,
        export_jobs,
        import_jobs,
        notifications,
        api_tokens,
        api_keys,
        restricted_grants,
        {label: case.checklist.get().pk for label, case in cases.items()},
        extension_requests,
    )


# The cases whose request is already decided: their unit's people may ask again.
DECIDED_EXTENSIONS = {"unit_a", "unit_a_child"}


def _extension_request(world: World, case: Case, label: str) -> ExtensionRequest:
    """A request of the case, written directly: the scene's units have no people to ask."""
    decided = label in DECIDED_EXTENSIONS
    return ExtensionRequest.objects.create(
        case=case,
        current_deadline=case.deadline,
        deadline=days(60),
        reason="探针延期申请",
        requested_by=world.admin,
        status="refused" if decided else "pending",
        decided_by=world.admin if decided else None,
        decision_note="探针不同意" if decided else "",
    )


def title_of(label: str) -> str:
    return f"〔探针:{label}〕"


def code_of(label: str) -> str:
    return f"SWEEP-{label}"


def client_for(scene: Scene, role: str) -> APIClient:
    """Sessions for people (the pages and the API alike); api_reader through its token."""
    client = APIClient()
    user = scene.user(role)
    if user is None:
        return client
    if role == "api_reader":
        client.credentials(HTTP_AUTHORIZATION=f"Token {scene.api_keys[role]}")
    client.force_login(user)
    return client


# --- Objects in each relation ------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    relation: str
    ids: dict[str, int]  # placeholder → id
    seen: bool
    case: str | None = None  # the scene's case label, for case targets


def targets(scene: Scene, role: str, probe: Probe) -> list[Target]:
    kind = probe.target
    if kind is None:
        return [Target("-", {}, True)]
    found: list[Target] = []
    if kind == "case":
        follow_ups = dict(  # each case's follow-up (the scene follows every case up)
            CaseEvent.objects.filter(kind="follow_up").values_list("case_id", "pk")
        )
        for relation, label in CASE_RELATIONS[role].items():
            case_id = scene.cases[label].pk
            ids = {
                "case": case_id,
                "evidence": scene.evidence[label].pk,
                "point": scene.points[label],
                "follow_up": follow_ups[case_id],
                "extension": scene.extension_requests[label].pk,
            }
            found.append(Target(relation, ids, label in CASES_SEEN[role], label))
        missing = {
            "case": MISSING,
            "evidence": MISSING,
            "point": MISSING,
            "follow_up": MISSING,
            "extension": MISSING,
        }
        found.append(Target("missing", missing, False))
        if "{point}" in probe.path:
            # A visible case with another case's checklist point.
            own = CASE_RELATIONS[role]["own"]
            other = scene.points[CASE_RELATIONS[role]["sibling"]]
            ids = {"case": scene.cases[own].pk, "evidence": MISSING, "point": other}
            found.append(Target("other_point", ids, False))
        if "{evidence}" in probe.path:
            # A visible case with another case's evidence id.
            own = CASE_RELATIONS[role]["own"]
            other = scene.evidence[CASE_RELATIONS[role]["sibling"]].pk
            found.append(
                Target("other_evidence", {"case": scene.cases[own].pk, "evidence": other}, False)
            )
    elif kind == "unit":
        for relation, name in UNIT_RELATIONS[role].items():
            found.append(Target(relation, {"unit": scene.units[name].pk}, name in UNITS_SEEN[role]))
        found.append(Target("missing", {"unit": MISSING}, False))
    elif kind == "grant":
        for label in GRANTS:
            seen = label in GRANTS_SEEN[role]
            found.append(Target(label, {"grant": scene.grants[label].pk}, seen))
        found.append(Target("missing", {"grant": MISSING}, False))
    elif kind == "inspection":
        for label in INSPECTIONS:
            seen = label in INSPECTIONS_SEEN[role]
            found.append(Target(label, {"inspection": scene.inspections[label].pk}, seen))
        found.append(Target("missing", {"inspection": MISSING}, False))
    else:
        objects: dict[str, Any] = {
            "export_job": scene.export_jobs,
            "import_job": scene.import_jobs,
            "notification": scene.notifications,
            "api_token": scene.api_tokens,
        }[kind]
        placeholder = {"notification": "notification", "api_token": "token"}.get(kind, "job")
        own = objects.get(role) or objects["inspector"]  # anonymous: somebody's
        found.append(Target("own", {placeholder: own.pk}, role in objects))
        found.append(Target("foreign", {placeholder: objects["foreign"].pk}, False))
        found.append(Target("missing", {placeholder: MISSING}, False))
    return found


def expected(probe: Probe, role: str, target: Target) -> int | str | None:
    if target.seen:
        return probe.seen[role]
    if role in probe.hidden:
        return probe.hidden[role]
    return probe.seen[role] if role == "anonymous" else 404


# --- Payloads --------------------------------------------------------------------------------


def payload(scene: Scene, role: str, probe: Probe, target: Target) -> tuple[Any, str | None]:
    """(data, format) for the request: format "json" or "multipart" for the API, None for a
    form post."""
    name = probe.data
    case_id = target.ids.get("case", MISSING)
    if name is None:
        return None, None
    if name == "start":
        return {"to": "in_progress"}, None
    if name == "rectify":
        return {"measures": "探针措施", "progress": "探针进展"}, None
    if name == "upload":
        return {"evidence": _pdf(), "note": "探针"}, None
    if name == "deadline":
        return {"deadline": days(90).isoformat(), "reason": "探针延期"}, None
    if name == "assign":
        return {
            "responsible_unit": _reassign_to(scene, role, target).pk,
            "owner": "",
            "note": "探针",
        }, None
    if name == "follow_up":
        return {"note": "探针督办"}, None
    if name == "checklist_add":
        return {"text": "探针新要点"}, None
    if name == "checklist_edit":
        return {f"point-{target.ids.get('point', MISSING)}-text": "探针要点改"}, None
    if name == "bulk_follow_up":
        return {"action": "follow_up", "cases": [case_id], "note": "探针督办"}, None
    if name == "export":
        return {"query": ""}, None
    if name == "grant":
        return {
            "inspection": scene.world.restricted.pk,
            "unit": scene.units["甲县局股室"].pk,
            "reason": "探针授权",
        }, None
    if name == "language":
        return {"language": "en", "next": "/"}, None
    if name == "credentials":
        user = scene.user(role)
        if user is None:
            return {"username": "nobody-at-all", "password": "wrong-password"}, "json"
        return {"username": user.username, "password": PASSWORD}, "json"
    if name == "create":
        return {
            "inspection": scene.world.inspection.pk,
            "responsible_unit": target.ids["unit"],
            "title": "探针新登记",
            "deadline": days(30).isoformat(),
        }, "json"
    if name == "progress":
        return {"progress": "探针进展"}, "json"
    if name == "upload_api":
        return {"file": _pdf(), "note": "探针"}, "multipart"
    if name == "start_api":
        return {"to": "in_progress"}, "json"
    if name == "follow_up_api":
        return {"note": "探针督办"}, "json"
    if name == "reply":
        return {"note": "探针回复"}, None
    if name == "reply_api":
        return {"note": "探针回复"}, "json"
    if name == "extension_request":
        return {"deadline": days(90).isoformat(), "reason": "探针申请延期"}, None
    if name == "extension_decision":
        return {"approve": "1", "note": "探针同意"}, None
    if name == "extension_request_api":
        return {"deadline": days(90).isoformat(), "reason": "探针申请延期"}, "json"
    if name == "extension_decision_api":
        return {"approve": True, "note": "探针同意"}, "json"
    raise AssertionError(name)


def _pdf() -> SimpleUploadedFile:
    return SimpleUploadedFile("探针.pdf", PDF, content_type="application/pdf")


def _reassign_to(scene: Scene, role: str, target: Target) -> Unit:
    """A unit in the supervisor's jurisdiction other than the case's own (甲县局's supervisor
    oversees only its unit and the one below)."""
    current = scene.cases[target.case].responsible_unit_id if target.case else None
    unit = scene.units["甲县局股室" if role == "dept_supervisor" else "甲县二局"]
    return scene.units["甲县局"] if unit.pk == current else unit


def send(client: APIClient, probe: Probe, url: str, data: Any, fmt: str | None) -> Any:
    method = getattr(client, probe.method)
    if probe.method == "get":
        return method(url)
    if fmt is None:
        return method(url, data or {}) if probe.method == "post" else method(url)
    return method(url, data, format=fmt)


# --- The state a request could change ------------------------------------------------------------


def _per_case(model: type[Model]) -> dict[int, int]:
    rows = model._default_manager.order_by().values_list("case_id").annotate(n=Count("pk"))
    return dict(rows)


def snapshot() -> dict[str, dict[Any, Any]]:
    fields = (
        "status",
        "title",
        "measures",
        "progress",
        "deadline",
        "responsible_unit_id",
        "owner_id",
        "updated_at",
    )
    events, evidence, reminders = _per_case(CaseEvent), _per_case(Evidence), _per_case(Reminder)
    return {
        "cases": {
            pk: (*rest, events.get(pk), evidence.get(pk), reminders.get(pk))
            for pk, *rest in Case.objects.values_list("pk", *fields)
        },
        "notifications": {
            pk: (user, read)
            for pk, user, read in Notification.objects.values_list("pk", "user_id", "read_at")
        },
        "tokens": {
            pk: (user, revoked)
            for pk, user, revoked in ApiToken.objects.values_list("pk", "user_id", "revoked_at")
        },
        "export_jobs": {
            pk: rest
            for pk, *rest in ExportJob.objects.values_list("pk", "owner_id", "status", "processed")
        },
        "import_jobs": {
            pk: rest
            for pk, *rest in ImportJob.objects.values_list("pk", "owner_id", "status", "processed")
        },
        "units": dict(Unit.objects.values_list("pk", "name")),
        "inspections": dict(Inspection.objects.values_list("pk", "name")),
        "users": dict(User.objects.values_list("pk", "is_active")),
        "grants": {
            pk: rest
            for pk, *rest in RestrictedGrant.objects.values_list("pk", "unit_id", "revoked_at")
        },
        "extension_requests": _extension_requests_by_case(),
    }


def _extension_requests_by_case() -> dict[int, tuple]:
    """Case → its requests (id, status, deadline, decider), so a write is allowed on the
    requests of the case it targets and no other."""
    rows: dict[int, list] = {}
    for case_id, *rest in ExtensionRequest.objects.order_by("pk").values_list(
        "case_id", "pk", "status", "deadline", "decided_by_id"
    ):
        rows.setdefault(case_id, []).append(tuple(rest))
    return {case_id: tuple(found) for case_id, found in rows.items()}


def changed(before: dict[str, dict], after: dict[str, dict]) -> dict[str, set]:
    out = {}
    for kind, rows in before.items():
        keys = {k for k in rows.keys() | after[kind].keys() if rows.get(k) != after[kind].get(k)}
        if keys:
            out[kind] = keys
    return out


def allowed_changes(
    scene: Scene, key: Any, probe: Probe, role: str, target: Target, success: bool
) -> dict[str, Any]:
    """What a write may change: kind → the keys allowed to change, "added" (new rows only) or
    "own" (the caller's rows only). Nothing by default: a refused or hidden write changes
    nothing at all."""
    if not success:
        return {}
    if probe.target == "case" and target.seen and (probe.writers is None or role in probe.writers):
        case_id = target.ids["case"]
        # The case itself (its row, history, evidence, reminders and extension requests).
        return {"cases": {case_id}, "extension_requests": {case_id}}
    if key == ("POST", "/api/v1/cases/"):
        return {"cases": "added"}
    if key in {("POST", "/api/v1/auth/token/"), ("DELETE", "/api/v1/auth/token/")}:
        return {"tokens": "own"}
    if key == "token_revoke":
        return {"tokens": "own"}
    if key in {"reminders:read", "reminders:read-all"}:
        return {"notifications": "own"}
    if key == "cases:grant-create":
        return {"grants": "added"}
    if key == "cases:grant-revoke" and target.seen:
        return {"grants": {target.ids["grant"]}}
    return {}


def check_changes(
    scene: Scene, before: dict, after: dict, allowed: dict[str, Any], role: str
) -> list[str]:
    problems = []
    user = scene.user(role)
    for kind, keys in changed(before, after).items():
        permitted = allowed.get(kind, set())
        if permitted == "added":
            bad = {k for k in keys if k in before[kind]}
        elif permitted == "own":
            bad = {k for k in keys if after[kind].get(k, before[kind].get(k))[0] != user.pk}
        else:
            bad = keys - permitted
        if bad:
            problems.append(f"changed {kind} {sorted(bad, key=str)}")
    return problems


# --- What a page's context may hold -----------------------------------------------------------


@dataclass
class Allowed:
    cases: set[int]
    units: set[int]
    inspections: set[int]
    users: set[int]
    owner: int | None
    grants: set[int]

    @classmethod
    def of(cls, scene: Scene, role: str) -> Allowed:
        user = scene.user(role)
        units = {scene.units[name].pk for name in UNITS_SEEN[role]}
        people = set(User.objects.filter(unit__in=units).values_list("pk", flat=True))
        return cls(
            cases={scene.cases[label].pk for label in CASES_SEEN[role]},
            units=units,
            inspections={scene.inspections[label].pk for label in INSPECTIONS_SEEN[role]},
            users=people | ({user.pk} if user else set()),
            owner=user.pk if user else None,
            grants={scene.grants[label].pk for label in GRANTS_SEEN[role]},
        )

    def foreign(self, row: Model) -> bool:
        if isinstance(row, Case):
            return row.pk not in self.cases
        if isinstance(row, CaseEvent | Evidence | Reminder | ExtensionRequest):
            return row.case_id not in self.cases
        if isinstance(row, Unit):
            return row.pk not in self.units
        if isinstance(row, Inspection):
            return row.pk not in self.inspections
        if isinstance(row, User):
            return row.pk not in self.users
        if isinstance(row, Notification | ApiToken):
            return row.user_id != self.owner
        if isinstance(row, ExportJob | ImportJob):
            return row.owner_id != self.owner
        if isinstance(row, RestrictedGrant):
            return row.pk not in self.grants
        return False


def foreign_in_context(response: Any, allowed: Allowed) -> list[str]:
    """Rows in a rendered page's context that the caller may not see: model instances,
    querysets, pages, lists, and the choices of every form field."""
    if response.context is None:
        return []
    found: list[str] = []

    def rows(value: Any, depth: int = 0) -> Iterator[Model]:
        if depth > 3 or isinstance(value, str | bytes):
            return
        if isinstance(value, Model):
            yield value
        elif isinstance(value, QuerySet):
            yield from value
        elif isinstance(value, Page):
            yield from rows(list(value.object_list), depth + 1)
        elif isinstance(value, BaseForm):
            for form_field in value.fields.values():
                queryset = getattr(form_field, "queryset", None)
                if queryset is not None:
                    yield from queryset
        elif isinstance(value, FilterSet):
            yield from rows(value.form, depth + 1)
        elif isinstance(value, dict):
            for item in value.values():
                yield from rows(item, depth + 1)
        elif isinstance(value, list | tuple):
            for item in value:
                yield from rows(item, depth + 1)

    contexts = response.context if isinstance(response.context, list) else [response.context]
    values: dict[int, tuple[str, Any]] = {}
    for context in contexts:
        for name, value in context.flatten().items():
            if name not in {"user", "request"}:
                values.setdefault(id(value), (name, value))
    for name, value in values.values():
        for item in rows(value):
            if allowed.foreign(item):
                found.append(f"context[{name!r}] holds {type(item).__name__} {item.pk}")
    return sorted(set(found))


# --- The sweep -------------------------------------------------------------------------------


def _normalise(response: Any, target: Target) -> tuple[int, str, bytes]:
    """Status, Location and body, with the ids of the object asked for blanked out (the same
    answer for any id): in URL paths, and in the strings of a JSON body (never its numbers:
    an id may well be 404)."""
    ids = sorted({str(v) for v in target.ids.values()}, key=len, reverse=True)
    body = b"" if getattr(response, "streaming", False) else response.content
    if "json" in response.get("Content-Type", "") and body:

        def blank(value: Any) -> Any:
            if isinstance(value, str):
                for number in ids:
                    value = re.sub(rf"(?<!\d){number}(?!\d)", "<id>", value)
                return value
            if isinstance(value, dict):
                return {key: blank(item) for key, item in value.items()}
            if isinstance(value, list):
                return [blank(item) for item in value]
            return value

        body = json.dumps(blank(json.loads(body)), sort_keys=True).encode()
    else:
        # The browsable API's pages carry a fresh CSRF token each time.
        body = re.sub(
            rb'("csrfToken": "|name="csrfmiddlewaretoken" value=")[^"]+', rb"\1<csrf>", body
        )
        for number in ids:
            body = re.sub(rf"(?<=/){number}(?!\d)".encode(), b"<id>", body)
    location = response.get("Location", "")
    for number in ids:
        location = re.sub(rf"(?<=/){number}(?!\d)", "<id>", location)
    return response.status_code, location, body


def _check_status(response: Any, want: int | str | None, url: str) -> str | None:
    got = response.status_code
    if want == LOGIN:
        location = response.get("Location", "")
        if got != 302 or not location.startswith("/accounts/login/"):
            return f"want a redirect to login, got {got} {location}"
        if "?" in location and not location.endswith(f"?next={quote(url.split('?')[0])}"):
            return f"login redirect loses the page: {location}"
        return None
    if got != want:
        return f"want {want}, got {got}"
    return None


def _close(response: Any) -> None:
    """Read a streamed body to its end: the test client closes it then (closing a response
    by hand would send request_finished, which closes the test's database connection)."""
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)


def sweep(scene: Scene, role: str, probes: dict[Any, Probe]) -> list[str]:
    """Request every probe as `role` on every target; return what differs from the contract."""
    problems: list[str] = []
    allowed = Allowed.of(scene, role)
    client = client_for(scene, role)
    baseline = snapshot()
    for key, probe in probes.items():
        answers: dict[str, tuple[int, str, bytes]] = {}
        for target in targets(scene, role, probe):
            url = probe.path.format(**target.ids)
            label = f"{key} as {role} on {target.relation} ({url})"
            savepoint = transaction.savepoint_create()
            try:
                found, answer = _probe_once(
                    scene, role, key, probe, target, client, allowed, baseline
                )
                problems += [f"{label}: {problem}" for problem in found]
                if answer is not None:
                    answers[target.relation] = answer
            finally:
                transaction.savepoint_rollback(savepoint)
        # A hidden object is answered exactly as a missing one.
        missing = answers.get("missing")
        for relation, answer in answers.items():
            if relation == "missing" or missing is None or answer == missing:
                continue
            if not next(t for t in targets(scene, role, probe) if t.relation == relation).seen:
                problems.append(
                    f"{key} as {role}: {relation} answered {answer[:2]} {answer[2][:300]!r}, "
                    f"a missing id {missing[:2]} {missing[2][:300]!r}"
                )
    return problems


def _probe_once(
    scene: Scene,
    role: str,
    key: Any,
    probe: Probe,
    target: Target,
    client: APIClient,
    allowed: Allowed,
    baseline: dict[str, dict],
) -> tuple[list[str], tuple[int, str, bytes] | None]:
    want = expected(probe, role, target)
    url = probe.path.format(**target.ids)
    data, fmt = payload(scene, role, probe, target)
    if probe.data == "language" or key == "logout":
        client = client_for(scene, role)  # these change the client's session or cookies
    try:
        response = send(client, probe, url, data, fmt)
    except Exception as error:  # a server error, re-raised by the test client
        return [f"raised {type(error).__name__}: {error}"], None
    problems = []
    if response.status_code >= 500:
        problems.append(f"answered {response.status_code}")
    status_problem = _check_status(response, want, url)
    if status_problem:
        problems.append(status_problem)
    answer = _normalise(response, target)
    problems += foreign_in_context(response, allowed)
    if probe.method != "get":
        success = response.status_code in SUCCESS and want != LOGIN
        after = snapshot()
        rules = allowed_changes(scene, key, probe, role, target, success)
        problems += check_changes(scene, baseline, after, rules, role)
        writes = probe.target == "case" and (probe.writers is None or role in probe.writers)
        touched = changed(baseline, after).get("cases", set())
        if writes and target.seen and success and target.ids["case"] not in touched:
            problems.append(f"answered {response.status_code} and changed nothing")
    _close(response)
    return problems, answer


@pytest.mark.parametrize("role", ROLES)
def test_every_page_answers_each_role_on_each_relation(scene, role):
    problems = sweep(scene, role, WEB_PROBES)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_every_api_operation_answers_each_role_on_each_relation(scene, role):
    problems = sweep(scene, role, API_PROBES)
    assert not problems, "\n".join(problems)


# --- Lists, aggregates, exports, reminders and notifications ---------------------------------

PEOPLE = [role for role in ROLES if role != "anonymous"]


def _ledger_codes(response: Any) -> set[str]:
    from tests.ledgers.helpers import ledger_rows

    assert response.status_code == 200, response.status_code
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return {row["问题编号"] for row in ledger_rows(load_workbook(io.BytesIO(content)))}


def _html(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.mark.parametrize("role", PEOPLE)
def test_no_list_aggregate_export_or_notification_holds_a_foreign_row(scene, role):
    client = client_for(scene, role)
    user = scene.users[role]
    seen = CASES_SEEN[role]
    ids = {scene.cases[label].pk for label in seen}
    codes = {code_of(label) for label in seen}
    foreign = [label for label in scene.cases if label not in seen]
    cases = {scene.cases[label].pk: Case.objects.get(pk=scene.cases[label].pk) for label in seen}
    expected_units = {case.responsible_unit_id for case in cases.values()}

    def no_foreign_title(where: str, html: str) -> None:
        shown = [label for label in foreign if title_of(label) in html]
        assert not shown, f"{where} shows foreign cases {shown}"

    # The case list, in the API and on the page.
    body = client.get("/api/v1/cases/", {"page_size": 200}).json()
    assert {row["id"] for row in body["results"]} == ids
    assert body["count"] == len(ids)
    page = client.get("/cases/")
    assert {case.pk for case in page.context["page"].object_list} == ids
    no_foreign_title("the case list", _html(page))

    # Filters pointing at a foreign case, its unit, inspection or region never widen the scope.
    filters: list[dict[str, Any]] = []
    for label in foreign:
        case = Case.objects.get(pk=scene.cases[label].pk)
        filters += [
            {"search": code_of(label)},
            {"parent": case.pk},
            {"responsible_unit": case.responsible_unit_id},
            {"unit": case.responsible_unit_id},
            {"unit": case.responsible_unit_id, "restricted": "true"},
        ]
    filters += [{"inspection": pk} for pk in Inspection.objects.values_list("pk", flat=True)]
    filters += [
        {"region": pk} for pk in Unit.objects.filter(level="county").values_list("pk", flat=True)
    ]
    for params in filters:
        listed = client.get("/api/v1/cases/", {**params, "page_size": 200}).json()
        assert {row["id"] for row in listed["results"]} <= ids, params
        if "search" not in params:
            stats = client.get("/api/v1/stats/completion/", {"group_by": "unit", **params})
            counted = {row["key"] for row in stats.json()["rows"]}
            assert counted <= expected_units, params
    for params in filters[:3]:
        page = client.get("/cases/", params)
        assert {c.pk for c in page.context["page"].object_list} <= ids, params

    # Exports: the API's, the page's (built in the request) and a background job's file.
    assert _ledger_codes(client.get("/api/v1/cases/export/")) == codes
    assert _ledger_codes(client.post("/ledgers/export/", {"query": ""})) == codes
    job = scene.export_jobs[role]
    assert _ledger_codes(client.get(f"/ledgers/exports/{job.pk}/download/")) == codes
    for label in foreign:
        unit = scene.cases[label].responsible_unit_id
        narrowed = client.post("/ledgers/export/", {"query": f"responsible_unit={unit}"})
        assert _ledger_codes(narrowed) <= codes, label

    # Completion figures: the API's and the dashboard's, by unit, region and inspection.
    expected_keys = {
        "unit": {case.responsible_unit_id for case in cases.values()},
        "region": {case.region_id for case in cases.values()},
        "inspection": {case.inspection_id for case in cases.values()},
    }
    # The restricted ledgers are counted apart (under "restricted"): both blocks together
    # hold exactly the caller's cases.
    for group_by, keys in expected_keys.items():
        stats = client.get("/api/v1/stats/completion/", {"group_by": group_by}).json()
        apart = stats["restricted"] or {"rows": [], "total": {"total": 0}}
        assert {row["key"] for row in stats["rows"] + apart["rows"]} == keys, group_by
        assert stats["total"]["total"] + apart["total"]["total"] == len(ids)
    for url in ("/dashboard/", "/reports/progress/"):
        response = client.get(url)
        figures = response.context["figures"]
        apart = figures["restricted"] or {"by_inspection": [], "total": {"total": 0}}
        assert figures["total"]["total"] + apart["total"]["total"] == len(ids), url
        inspections = figures["by_inspection"] + apart["by_inspection"]
        assert {row["key"] for row in inspections} == expected_keys["inspection"]
        assert {row["key"] for row in figures["by_region"]} <= expected_keys["region"]
        assert {row["key"] for row in figures["units"]["rows"]} <= expected_keys["unit"]
        statuses = sum(row["count"] for row in figures["statuses"])
        assert statuses + apart["total"]["total"] == len(ids), url
        # Every scene case is overdue and a key problem: the lists hold exactly the caller's.
        assert {case.pk for case in response.context["overdue"]} == ids, url
        if "key_problems" in response.context:
            assert {case.pk for case in response.context["key_problems"]} == ids, url
        no_foreign_title(url, _html(response))

    # Inspections and units, as listed by the API.
    listed = client.get("/api/v1/inspections/", {"page_size": 200}).json()["results"]
    wanted = {scene.inspections[label].pk for label in INSPECTIONS_SEEN[role]}
    assert {row["id"] for row in listed} == wanted
    listed = client.get("/api/v1/units/", {"page_size": 200}).json()["results"]
    assert {row["name"] for row in listed} == UNITS_SEEN[role]

    # Reminders: only of the caller's cases, and only people the caller may see by name.
    allowed = Allowed.of(scene, role)
    listed = client.get("/api/v1/reminders/", {"page_size": 200}).json()["results"]
    assert {row["case"] for row in listed} <= ids
    assert {row["case"] for row in listed} == set(
        Reminder.objects.filter(case__in=ids).values_list("case_id", flat=True)
    )
    named = {row["recipient"]["id"] for row in listed if row["recipient"]}
    assert named <= allowed.users, named - allowed.users

    # Notifications: the caller's own, about cases the caller may see.
    page = client.get("/notifications/")
    shown = list(page.context["page"].object_list)
    assert {n.pk for n in shown} == set(
        Notification.objects.filter(user=user).values_list("pk", flat=True)
    )
    about = {item["case"] for n in shown for item in n.items}
    assert about <= ids, about - ids
    no_foreign_title("the notifications", _html(page))


def test_reminders_and_notifications_reach_only_people_who_may_see_the_case(scene):
    """Everybody's, not only the sweep's roles: the scene's follow-ups, overdue reminders and
    escalations went to the case's people and the supervising commission, never further."""
    from cases.selectors import visible_cases

    assert Notification.objects.exclude(items=[]).exists()
    for user in User.objects.all():
        visible = set(visible_cases(user).values_list("pk", flat=True))
        reminded = set(Reminder.objects.filter(recipient=user).values_list("case_id", flat=True))
        assert reminded <= visible, (user.username, reminded - visible)
        notified = {
            item["case"] for n in Notification.objects.filter(user=user) for item in n.items
        }
        assert notified <= visible, (user.username, notified - visible)
    # Restricted ledgers never reach a group bot, nor an inspector.
    restricted = scene.cases["restricted"].pk
    assert not Reminder.objects.filter(case=restricted, unit__isnull=False).exists()
    assert not Reminder.objects.filter(case=restricted, recipient__role="inspector").exists()


# --- Every format and method of the API ------------------------------------------------------

DETAIL_PATHS = {
    "case": [
        "/api/v1/cases/{case}",
        "/api/v1/cases/{case}/history",
        "/api/v1/cases/{case}/evidence",
    ],
    "unit": ["/api/v1/units/{unit}"],
    "inspection": ["/api/v1/inspections/{inspection}"],
}


@pytest.mark.parametrize(
    "role", ["inspector", "county_supervisor", "api_reader", "dept_supervisor"]
)
def test_hidden_objects_answer_like_missing_ones_in_every_format_and_method(scene, role):
    """Format suffixes (.json, .api) and HEAD/OPTIONS, which the schema does not list."""
    client = client_for(scene, role)
    problems = []
    for kind, paths in DETAIL_PATHS.items():
        probe = Probe("get", "", {}, kind)
        for path in paths:
            for suffix in ("/", ".json", ".api"):
                for method in ("get", "head", "options"):
                    answers = {}
                    for target in targets(scene, role, probe):
                        url = path.format(**target.ids) + suffix
                        try:
                            response = getattr(client, method)(url)
                        except Exception as error:  # a server error
                            problems.append(f"{method} {url}: raised {error!r}")
                            continue
                        if response.status_code >= 500:
                            problems.append(f"{method} {url}: {response.status_code}")
                        if target.seen and suffix == "/":
                            if response.status_code != 200:
                                problems.append(f"{method} {url}: {response.status_code}")
                        elif not target.seen:
                            answers[target.relation] = _normalise(response, target)
                    missing = answers.pop("missing", None)
                    for relation, answer in answers.items():
                        if missing is not None and answer != missing:
                            problems.append(
                                f"{method} {path}{suffix} on {relation}: {answer[:2]} "
                                f"{answer[2][:200]!r}, missing {missing[:2]} {missing[2][:200]!r}"
                            )
    assert not problems, "\n".join(problems)


# --- The admin ---------------------------------------------------------------------------------


def _admin_url(route: str) -> str:
    """An admin route with its parameters filled in."""
    path = "/" + route.replace("^", "").replace("$", "")
    path = re.sub(r"\(\?P<app_label>[^)]*\)", "cases", path)
    path = re.sub(r"\(\?P<url>[^)]*\)", "no-such-page/", path)
    path = re.sub(r"<(?:path:|int:|str:)?content_type_id>", "1", path)
    return re.sub(r"<(?:path:|int:|str:)?\w+>", "1", path)


def admin_urls() -> list[tuple[str, str | None]]:
    return [
        (_admin_url(route), name)
        for route, name in url_patterns()
        if route.startswith(ADMIN_PREFIX)
    ]


def test_every_admin_url_is_built_by_the_admin_sweep():
    urls = admin_urls()
    assert len(urls) > 20
    for url, name in urls:
        assert "<" not in url and "(" not in url, url
        match = resolve(url)
        if name:
            assert match.view_name == name, (url, match.view_name)


@pytest.mark.parametrize("role", [*ROLES, "staff", "staff_not_superuser"])
def test_the_admin_is_for_superusers_only(scene, role):
    """Every admin URL: the login page for anyone who is not a superuser (inspectors,
    supervisors, and staff accounts with every permission but not superusers, included:
    tracker.admin_site); the pages themselves for the superusers ("staff")."""
    client = APIClient()
    if role == "staff":
        client.force_login(scene.world.admin)
    elif role == "staff_not_superuser":
        from django.contrib.auth.models import Permission

        staff = scene.users["county_supervisor"]
        User.objects.filter(pk=staff.pk).update(is_staff=True)
        staff.user_permissions.set(Permission.objects.all())
        client.force_login(staff)
    elif scene.user(role) is not None:
        client.force_login(scene.users[role])
    problems = []
    for url, name in admin_urls():
        savepoint = transaction.savepoint_create()
        try:
            response = client.get(url)
        except Exception as error:
            problems.append(f"{url}: raised {type(error).__name__}: {error}")
            continue
        finally:
            transaction.savepoint_rollback(savepoint)
        status, location = response.status_code, response.get("Location", "")
        if role == "staff":
            if status >= 500 or status not in {200, 302, 403, 404, 405}:
                problems.append(f"{url}: {status}")
        elif name == "admin:login":
            if status != 200:
                problems.append(f"{url}: want the login page, got {status}")
        elif name == "admin:logout":
            if (status, location) != (302, "/admin/"):
                problems.append(f"{url}: want a redirect to /admin/, got {status} {location}")
        elif (status, location) != (302, f"/admin/login/?next={quote(url)}"):
            problems.append(f"{url}: want the admin login, got {status} {location}")
        _close(response)
    assert not problems, "\n".join(problems)


# --- Rows that move or point elsewhere ----------------------------------------------------------


def test_a_problem_shows_only_its_items_in_scope(scene):
    """A problem of 甲县局 with an item at 甲县局股室 and one at 乙县局: inspector_a sees the
    problem and the first item only, on the page, in the list and in the export."""
    world = scene.world
    problem = make_case(world.admin, world.inspection, scene.units["甲县局"], title="探针总问题")
    mine = make_case(
        world.admin,
        world.inspection,
        scene.units["甲县局股室"],
        parent=problem,
        title="探针本单位事项",
    )
    theirs = make_case(
        world.admin, world.inspection, scene.units["乙县局"], parent=problem, title="探针外单位事项"
    )
    client = client_for(scene, "inspector")
    page = client.get(f"/cases/{problem.pk}/")
    assert {case.pk for case in page.context["items"]} == {mine.pk}
    assert "探针外单位事项" not in _html(page)
    listed = client.get("/api/v1/cases/", {"parent": problem.pk}).json()["results"]
    assert [row["id"] for row in listed] == [mine.pk]
    assert client.get(f"/cases/{theirs.pk}/").status_code == 404
    exported = _ledger_codes(client.post("/ledgers/export/", {"query": f"parent={problem.pk}"}))
    assert exported == {mine.code}


def test_writes_pointing_outside_the_scope_change_nothing(scene):
    """A supervisor of 甲县 names a unit, person or problem of 乙县 in a write of its own
    case: refused on the field (the same answer as for an id that does not exist)."""
    client = client_for(scene, "county_supervisor")
    own = scene.cases["unit_a"].pk
    foreign_unit = scene.units["乙县局"].pk
    foreign_person = scene.world.inspector_b.pk
    foreign_case = scene.cases["unit_b"].pk
    before = snapshot()
    attempts = [
        ("patch", f"/api/v1/cases/{own}/", {"responsible_unit": foreign_unit, "reason": "x"}),
        ("patch", f"/api/v1/cases/{own}/", {"owner": foreign_person, "reason": "x"}),
        (
            "post",
            "/api/v1/cases/",
            {
                "inspection": scene.world.inspection.pk,
                "responsible_unit": scene.units["甲县局"].pk,
                "parent": foreign_case,
                "title": "x",
                "deadline": days(30).isoformat(),
            },
        ),
        (
            "post",
            "/api/v1/cases/",
            {
                "inspection": scene.inspections["county_b"].pk,
                "responsible_unit": scene.units["甲县局"].pk,
                "title": "x",
                "deadline": days(30).isoformat(),
            },
        ),
    ]
    for method, url, data in attempts:
        response = getattr(client, method)(url, data, format="json")
        assert response.status_code == 400, (url, data, response.status_code)
        swapped = {
            k: (MISSING if v in (foreign_unit, foreign_person, foreign_case) else v)
            for k, v in data.items()
        }
        if swapped == data:  # the inspection of another county: compare with a missing one
            swapped = {**data, "inspection": MISSING}
        missing = getattr(client, method)(url, swapped, format="json")
        named = {
            "unit": foreign_unit,
            "person": foreign_person,
            "case": foreign_case,
            "inspection": scene.inspections["county_b"].pk,
            "missing": MISSING,
        }
        target = Target("-", named, False)
        assert _normalise(response, target) == _normalise(missing, target), (url, data)
    forms = [
        (f"/cases/{own}/assign/", {"responsible_unit": foreign_unit, "owner": "", "note": "x"}),
        (
            f"/cases/{own}/assign/",
            {"responsible_unit": scene.units["甲县局"].pk, "owner": foreign_person, "note": "x"},
        ),
        (
            "/cases/bulk/",
            {"action": "assign", "cases": [own], "responsible_unit": foreign_unit, "note": "x"},
        ),
    ]
    for url, data in forms:
        response = client.post(url, data)
        assert response.status_code in {302, 400}, (url, data, response.status_code)
    assert not changed(before, snapshot())


def test_a_notification_stops_showing_a_case_moved_out_of_scope(scene):
    """inspector_a was notified about 甲县局's case; once it is handed to 乙县局 it is a
    foreign case, and the notification page no longer shows it."""
    world = scene.world
    case = scene.cases["unit_a"]
    client = client_for(scene, "inspector")
    page = client.get("/notifications/")
    assert title_of("unit_a") in _html(page)
    services.case_assign(
        actor=world.supervisor, case_id=case.pk, responsible_unit=scene.units["乙县局"], note="移交"
    )
    page = client.get("/notifications/")
    assert title_of("unit_a") not in _html(page)
    about = {item["case"] for n in page.context["page"].object_list for item in n.items}
    assert case.pk not in about
