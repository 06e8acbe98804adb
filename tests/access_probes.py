"""The access contract, written out by hand: every URL and API operation, for each role, on
objects in each relation to the caller (used by tests/test_access_sweep.py).

Nothing here is derived from the code under test. The rules, from the issue and the scoping
rules in cases/selectors.py's docstring:

- anonymous: pages send to the login page, the API answers 401 (except asking for a token);
- a case, unit, inspection, job or notification the caller may not see is answered exactly as
  a missing id: 404 with the same body (and a write to it changes nothing);
- api_reader reads its jurisdiction (never restricted ledgers) and every API write is 403; the
  pages answer a write it may not make with the form's error (400) and store nothing;
- inspectors record rectification, evidence and moves on their unit's cases (and below);
  deadlines, reassignment, follow-ups, imports and case creation are for supervisors;
- a supervisor sees the jurisdiction of its commission, restricted ledgers included;
- restricted ledgers (the clue ledger) are the commission's alone: a supervisor of a
  government department (dept_supervisor, of 甲县局, where the restricted case lies) sees its
  unit's cases but the restricted one is answered as a missing id by every probe, as for an
  inspector or an API reader. Only a commission's supervisors open the grants page, grant and
  revoke (everybody else: 403); a grant they may not see is a missing id.

Roles and the users acting them (tests/factories.py's world):

    anonymous          nobody
    no_unit            no_unit             a user without a unit or role
    api_reader         api_reader          晋城市纪委监委 (the city's commission), read-only
    inspector          inspector_a         甲县局
    county_supervisor  county_a_supervisor 甲县纪委监委: oversees 甲县
    supervisor         supervisor          晋城市纪委监委: oversees 晋城市
    dept_supervisor    dept_supervisor     甲县局, a county government department (no commission)

The scene's cases, one per place in the tree (plus a case on the restricted clue ledger):

    某省 ─┬─ province       某省: on the province's own inspection
          ├─ 另一市 ── other_city
          └─ 晋城市 ── city  (晋城市 itself)
                 ├─ 市局 ── city_dept
                 ├─ 甲县 ── county_a
                 │    ├─ 甲县局 ── unit_a, restricted (clue ledger)
                 │    │    └─ 甲县局股室 ── unit_a_child
                 │    └─ 甲县二局 ── a_sibling
                 └─ 乙县 ── 乙县局 ── unit_b (on 乙县纪委监委's inspection)

Grants of the restricted ledger (by 晋城市纪委监委): to 甲县二局 ("a_sibling") and to 乙县局
("unit_b"); no role's user is in either unit, so what each role sees of cases is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = (
    "anonymous",
    "no_unit",
    "api_reader",
    "inspector",
    "county_supervisor",
    "supervisor",
    "dept_supervisor",
)
ROLE_USERS = {
    "no_unit": "no_unit",
    "api_reader": "api_reader",
    "inspector": "inspector_a",
    "county_supervisor": "county_a_supervisor",
    "supervisor": "supervisor",
    "dept_supervisor": "dept_supervisor",
}

# --- Objects, by their relation to the caller -----------------------------------------------

# Relation → the scene's case in that relation to the role's user (anonymous and no_unit use
# the inspector's objects: they may see none of them).
_INSPECTOR_CASES = {
    "own": "unit_a",
    "sibling": "a_sibling",
    "parent": "county_a",
    "child": "unit_a_child",
    "restricted": "restricted",
}
_CITY_CASES = {
    "own": "city",
    "sibling": "other_city",
    "parent": "province",
    "child": "county_a",
    "restricted": "restricted",
}
CASE_RELATIONS: dict[str, dict[str, str]] = {
    "anonymous": _INSPECTOR_CASES,
    "no_unit": _INSPECTOR_CASES,
    "inspector": _INSPECTOR_CASES,
    "county_supervisor": {
        "own": "county_a",
        "sibling": "unit_b",
        "parent": "city",
        "child": "unit_a",
        "restricted": "restricted",
    },
    "supervisor": _CITY_CASES,
    "api_reader": _CITY_CASES,
    # Its own unit holds the restricted case: only the restricted rule hides it.
    "dept_supervisor": _INSPECTOR_CASES,
}

# The same for units (by name).
_INSPECTOR_UNITS = {"own": "甲县局", "sibling": "甲县二局", "parent": "甲县", "child": "甲县局股室"}
_CITY_UNITS = {"own": "晋城市", "sibling": "另一市", "parent": "某省", "child": "甲县"}
UNIT_RELATIONS: dict[str, dict[str, str]] = {
    "anonymous": _INSPECTOR_UNITS,
    "no_unit": _INSPECTOR_UNITS,
    "inspector": _INSPECTOR_UNITS,
    "county_supervisor": {"own": "甲县", "sibling": "乙县", "parent": "晋城市", "child": "甲县局"},
    "supervisor": _CITY_UNITS,
    "api_reader": _CITY_UNITS,
    "dept_supervisor": _INSPECTOR_UNITS,
}

# Inspections: the city commission's, its restricted clue ledger, 乙县纪委监委's (a county's
# own) and the province's.
INSPECTIONS = ("inspection", "restricted", "county_b", "province")

# --- What each role may see ------------------------------------------------------------------

CITY_CASES = {"city", "city_dept", "county_a", "unit_a", "a_sibling", "unit_a_child", "unit_b"}
CASES_SEEN: dict[str, set[str]] = {
    "anonymous": set(),
    "no_unit": set(),
    "api_reader": CITY_CASES,
    # Their unit's cases and below; never the restricted ledger.
    "inspector": {"unit_a", "unit_a_child"},
    "county_supervisor": {"county_a", "unit_a", "a_sibling", "unit_a_child", "restricted"},
    "supervisor": CITY_CASES | {"restricted"},
    # A supervisor, but of a government department: never the restricted ledger.
    "dept_supervisor": {"unit_a", "unit_a_child"},
}

CITY_UNITS = {
    "晋城市",
    "晋城市纪委监委",
    "市局",
    "市局分局",
    "甲县",
    "甲县纪委监委",
    "甲县局",
    "甲县局股室",
    "甲县二局",
    "乙县",
    "乙县纪委监委",
    "乙县局",
}
UNITS_SEEN: dict[str, set[str]] = {
    "anonymous": set(),
    "no_unit": set(),
    "api_reader": CITY_UNITS,
    "inspector": {"甲县局", "甲县局股室"},
    "county_supervisor": {"甲县", "甲县纪委监委", "甲县局", "甲县局股室", "甲县二局"},
    "supervisor": CITY_UNITS,
    "dept_supervisor": {"甲县局", "甲县局股室"},
}

INSPECTIONS_SEEN: dict[str, set[str]] = {
    "anonymous": set(),
    "no_unit": set(),
    "api_reader": {"inspection", "county_b"},
    "inspector": {"inspection"},
    "county_supervisor": {"inspection", "restricted"},
    "supervisor": {"inspection", "restricted", "county_b"},
    "dept_supervisor": {"inspection"},
}

# Grants of the restricted ledger (the city commission's), by the unit granted: the city
# commission sees them; a county commission, though the ledger's county cases are in its
# scope, neither reads nor revokes what the city decided.
GRANTS = ("a_sibling", "unit_b")
GRANTS_SEEN: dict[str, set[str]] = {
    "anonymous": set(),
    "no_unit": set(),
    "api_reader": set(),
    "inspector": set(),
    "county_supervisor": set(),
    "supervisor": {"a_sibling", "unit_b"},
    "dept_supervisor": set(),
}

# --- The probes ------------------------------------------------------------------------------

LOGIN = "login"  # 302 to the login page, with ?next= the page asked for


_SAME_AS_COUNTY = object()


def row(
    anonymous: int | str | None,
    no_unit: int | str | None,
    api_reader: int | str | None,
    inspector: int | str | None,
    county_supervisor: int | str | None,
    supervisor: int | str | None,
    dept_supervisor: int | str | object | None = _SAME_AS_COUNTY,
) -> dict[str, int | str | None]:
    """Answers in ROLES order. None: the role never reaches the case (no object it sees).
    A department's supervisor is a supervisor: on what it sees it answers as the county's
    commission does, unless given (what it sees differs: CASES_SEEN and the rest)."""
    dept = county_supervisor if dept_supervisor is _SAME_AS_COUNTY else dept_supervisor
    answers = (anonymous, no_unit, api_reader, inspector, county_supervisor, supervisor, dept)
    return dict(zip(ROLES, answers, strict=True))  # type: ignore[arg-type]


def every(answer: int | str) -> dict[str, int | str | None]:
    return dict.fromkeys(ROLES, answer)


@dataclass(frozen=True)
class Probe:
    """One URL or API operation.

    `path` may hold {case}, {evidence}, {point}, {follow_up}, {unit}, {inspection}, {job},
    {notification} or {token};
    `target` says which kind of object they refer to ("case", "unit", "inspection",
    "export_job", "import_job", "notification", "api_token"), None for a URL without an object.
    `seen` is the answer per
    role for an object the role may see (for a URL without an object: the answer); `hidden`
    overrides the answer for an object it may not see or that does not exist (default: 404,
    and for anonymous callers the same as `seen`). `data` names the payload sent. A write
    answered with success changes the case it targets, unless the role is not among
    `writers` (when given): the bulk actions answer every role with the list, and do nothing
    for a role that may not.
    """

    method: str
    path: str
    seen: dict[str, int | str | None]
    target: str | None = None
    hidden: dict[str, int | str | None] = field(default_factory=dict)
    data: str | None = None
    writers: frozenset[str] | None = None


# An id no object has, for the pages whose objects the scene does not build.
_MISSING = 987_654_321

# Pages, keyed by URL name. Every pattern under admin/ is probed by the admin sweep instead
# (test_the_admin_is_for_superusers_only: every admin URL, each role).
ADMIN_PREFIX = "admin/"

# Pages refused to every role but supervisors before any lookup: the same 403 for an object
# out of sight.
_SUPERVISORS_ONLY: dict[str, int | str | None] = {
    "no_unit": 403,
    "api_reader": 403,
    "inspector": 403,
}

WEB_PROBES: dict[str, Probe] = {
    "cases:home": Probe("get", "/", row(LOGIN, 302, 302, 302, 302, 302)),
    "cases:healthz": Probe("get", "/healthz", every(200)),
    "cases:dashboard": Probe("get", "/dashboard/", row(LOGIN, 200, 200, 200, 200, 200)),
    "cases:report": Probe("get", "/reports/progress/", row(LOGIN, 200, 200, 200, 200, 200)),
    # The documents of the same selection: everyone's own scope (no_unit: an empty one).
    "documents:progress": Probe(
        "get", "/reports/progress.docx", row(LOGIN, 200, 200, 200, 200, 200)
    ),
    "documents:notice": Probe("get", "/reports/notice.docx", row(LOGIN, 200, 200, 200, 200, 200)),
    "documents:lists-xlsx": Probe(
        "get", "/reports/lists.xlsx", row(LOGIN, 200, 200, 200, 200, 200)
    ),
    "documents:lists-docx": Probe(
        "get", "/reports/lists.docx", row(LOGIN, 200, 200, 200, 200, 200)
    ),
    "cases:list": Probe("get", "/cases/", row(LOGIN, 200, 200, 200, 200, 200)),
    # A bulk action goes back to the list: on cases out of scope it does nothing.
    "cases:bulk": Probe(
        "post",
        "/cases/bulk/",
        row(LOGIN, None, 302, 302, 302, 302),
        "case",
        hidden=row(LOGIN, 302, 302, 302, 302, 302),
        data="bulk_follow_up",
        writers=frozenset({"county_supervisor", "supervisor", "dept_supervisor"}),
    ),
    "cases:detail": Probe("get", "/cases/{case}/", row(LOGIN, None, 200, 200, 200, 200), "case"),
    # Writes: 302 back to the case when done; a refused role sees the form's error (400). The
    # commissions' supervisors do not start another unit's case (cases.rules): 403.
    "cases:transition": Probe(
        "post",
        "/cases/{case}/transition/",
        row(LOGIN, None, 400, 302, 403, 403, 302),
        "case",
        data="start",
    ),
    "cases:rectification": Probe(
        "post",
        "/cases/{case}/rectification/",
        row(LOGIN, None, 400, 302, 302, 302),
        "case",
        data="rectify",
    ),
    "cases:evidence": Probe(
        "post",
        "/cases/{case}/evidence/",
        row(LOGIN, None, 400, 302, 302, 302),
        "case",
        data="upload",
    ),
    "cases:deadline": Probe(
        "post",
        "/cases/{case}/deadline/",
        row(LOGIN, None, 400, 400, 302, 302),
        "case",
        data="deadline",
    ),
    "cases:assign": Probe(
        "post",
        "/cases/{case}/assign/",
        row(LOGIN, None, 400, 400, 302, 302),
        "case",
        data="assign",
    ),
    # The reassignment form (its pickers), asked for when the case page's panel opens.
    "cases:assign-form": Probe(
        "get", "/cases/{case}/assign/form/", row(LOGIN, None, 403, 403, 200, 200), "case"
    ),
    "cases:follow-up": Probe(
        "post",
        "/cases/{case}/follow-up/",
        row(LOGIN, None, 400, 400, 302, 302),
        "case",
        data="follow_up",
    ),
    # A reply to a follow-up (回复督办): the unit's people (its inspectors, and 甲县局's own
    # supervisor); anyone else who sees the case gets the form's error (400).
    "cases:follow-up-reply": Probe(
        "post",
        "/cases/{case}/follow-ups/{follow_up}/reply/",
        row(LOGIN, None, 400, 302, 400, 400, 302),
        "case",
        data="reply",
    ),
    # Extension requests (延期申请): the scene's cases of 甲县局 and 甲县局股室 have a decided
    # request (a new one may be made), every other case a pending one. The unit's people ask
    # (inspector and 甲县局's own supervisor); the supervising commission decides (approve);
    # anyone else who sees the case gets the form's error. {extension}: the case's request.
    "cases:extension-request": Probe(
        "post",
        "/cases/{case}/extension-requests/",
        row(LOGIN, None, 400, 302, 400, 400, 302),
        "case",
        data="extension_request",
    ),
    "cases:extension-decision": Probe(
        "post",
        "/extension-requests/{extension}/decision/",
        row(LOGIN, None, 400, 400, 400, 302, 400),
        "case",
        data="extension_decision",
    ),
    # The inboxes: everybody signed in (empty for all but supervisors: tests/cases/test_inbox).
    "cases:inbox": Probe("get", "/inbox/", row(LOGIN, 200, 200, 200, 200, 200)),
    # The top bar's counts, asked for by every page once loaded: nothing for a session that
    # ended (204: htmx swaps nothing), the user's own counts otherwise.
    "cases:top-bar": Probe("get", "/top-bar/", row(204, 200, 200, 200, 200, 200)),
    "cases:evidence-download": Probe(
        "get", "/cases/{case}/evidence/{evidence}/", row(LOGIN, None, 200, 200, 200, 200), "case"
    ),
    # The pickers' search: units for everyone signed in (what each sees: tests/cases/
    # test_autocomplete.py), people for those who reassign cases only.
    "cases:autocomplete-units": Probe(
        "get", "/autocomplete/units/", row(LOGIN, 200, 200, 200, 200, 200)
    ),
    "cases:autocomplete-users": Probe(
        "get", "/autocomplete/users/", row(LOGIN, 403, 403, 403, 200, 200)
    ),
    # Restricted-ledger grants: a commission's supervisors only (everybody else 403, before
    # any lookup); granting goes back to the list, as does revoking a grant they see. The
    # county commission has no ledger of its own to grant: a form error (400).
    "cases:grants": Probe("get", "/restricted-grants/", row(LOGIN, 403, 403, 403, 200, 200, 403)),
    "cases:grant-create": Probe(
        "post", "/restricted-grants/new/", row(LOGIN, 403, 403, 403, 400, 302, 403), data="grant"
    ),
    "cases:grant-revoke": Probe(
        "post",
        "/restricted-grants/{grant}/revoke/",
        row(LOGIN, None, None, None, 302, 302, None),
        "grant",
        hidden={"no_unit": 403, "api_reader": 403, "inspector": 403, "dept_supervisor": 403},
    ),
    # 人员管理 (cases.people_views): unit administrators and superusers only, none of the
    # roles here: 403 before any lookup. A unit administrator's own scope, and its writes:
    # tests/cases/test_people.py.
    "people:list": Probe("get", "/people/", row(LOGIN, 403, 403, 403, 403, 403)),
    "people:create": Probe("get", "/people/new/", row(LOGIN, 403, 403, 403, 403, 403)),
    "people:detail": Probe("get", "/people/1/", row(LOGIN, 403, 403, 403, 403, 403)),
    "people:password": Probe("get", "/people/1/password/", row(LOGIN, 403, 403, 403, 403, 403)),
    "people:bots": Probe("get", "/people/bots/", row(LOGIN, 403, 403, 403, 403, 403)),
    "people:bot-create": Probe("get", "/people/bots/new/", row(LOGIN, 403, 403, 403, 403, 403)),
    "people:bot-detail": Probe("get", "/people/bots/1/", row(LOGIN, 403, 403, 403, 403, 403)),
    # 立项登记 (cases/registry_views.py): supervisors only, refused (403) before any lookup;
    # an inspection out of sight answers as a missing one. Editing is for the inspection's
    # own commission: a county sees the city's inspection but does not edit it (403).
    "cases:inspections": Probe("get", "/inspections/", row(LOGIN, 403, 403, 403, 200, 200)),
    "cases:inspection-create": Probe(
        "get", "/inspections/new/", row(LOGIN, 403, 403, 403, 200, 200)
    ),
    "cases:inspection-edit": Probe(
        "get",
        "/inspections/{inspection}/edit/",
        row(LOGIN, 403, 403, 403, 403, 200, 403),
        "inspection",
        hidden=_SUPERVISORS_ONLY,
    ),
    "cases:problem-create": Probe(
        "get",
        "/inspections/{inspection}/problems/new/",
        row(LOGIN, 403, 403, 403, 200, 200),
        "inspection",
        hidden=_SUPERVISORS_ONLY,
    ),
    "cases:paste": Probe(
        "get",
        "/inspections/{inspection}/paste/",
        row(LOGIN, 403, 403, 403, 200, 200),
        "inspection",
        hidden=_SUPERVISORS_ONLY,
    ),
    # Checklist points on the case page: as the other supervisors' writes of a case.
    "cases:checklist-add": Probe(
        "post",
        "/cases/{case}/checklist/",
        row(LOGIN, None, 400, 400, 302, 302),
        "case",
        data="checklist_add",
    ),
    "cases:checklist-edit": Probe(
        "post",
        "/cases/{case}/checklist/{point}/",
        row(LOGIN, None, 400, 400, 302, 302),
        "case",
        data="checklist_edit",
    ),
    "reminders:notifications": Probe("get", "/notifications/", row(LOGIN, 200, 200, 200, 200, 200)),
    "reminders:read-all": Probe(
        "post", "/notifications/read-all/", row(LOGIN, 302, 302, 302, 302, 302)
    ),
    "reminders:read": Probe(
        "post",
        "/notifications/{notification}/read/",
        row(LOGIN, 302, 302, 302, 302, 302),
        "notification",
    ),
    # Small exports are built in the request: the file itself.
    "ledgers:export": Probe(
        "post", "/ledgers/export/", row(LOGIN, 200, 200, 200, 200, 200), data="export"
    ),
    "ledgers:export-job": Probe(
        "get", "/ledgers/exports/{job}/", row(LOGIN, 200, 200, 200, 200, 200), "export_job"
    ),
    "ledgers:export-status": Probe(
        "get", "/ledgers/exports/{job}/status/", row(LOGIN, 200, 200, 200, 200, 200), "export_job"
    ),
    "ledgers:export-download": Probe(
        "get",
        "/ledgers/exports/{job}/download/",
        row(LOGIN, 200, 200, 200, 200, 200),
        "export_job",
    ),
    "ledgers:import": Probe("get", "/ledgers/import/", row(LOGIN, 403, 403, 403, 200, 200)),
    "ledgers:import-template": Probe(
        "get", "/ledgers/import/template/", row(LOGIN, 403, 403, 403, 200, 200)
    ),
    "ledgers:import-job": Probe(
        "get", "/ledgers/imports/{job}/", row(LOGIN, 200, 200, 200, 200, 200), "import_job"
    ),
    "ledgers:import-status": Probe(
        "get", "/ledgers/imports/{job}/status/", row(LOGIN, 200, 200, 200, 200, 200), "import_job"
    ),
    # The own job is already done: confirming again is refused with a message, back to it.
    "ledgers:import-confirm": Probe(
        "post",
        "/ledgers/imports/{job}/confirm/",
        row(LOGIN, 403, 403, 403, 302, 302),
        "import_job",
    ),
    # The audit log: a commission's supervisors and superusers only (not a department's).
    "audit:list": Probe("get", "/audit/", row(LOGIN, 403, 403, 403, 200, 200, 403)),
    # 回头看与问责 (lookback): a commission's supervisors only, everybody else 403 before any
    # lookup; a look-back, task or case out of sight answers as a missing one (404). What
    # each sees of real look-backs, tasks and records: tests/lookback/test_access.py.
    "lookback:list": Probe("get", "/lookback/", row(LOGIN, 403, 403, 403, 200, 200, 403)),
    "lookback:start": Probe("get", "/lookback/new/", row(LOGIN, 403, 403, 403, 200, 200, 403)),
    "lookback:detail": Probe(
        "get", f"/lookback/{_MISSING}/", row(LOGIN, 403, 403, 403, 404, 404, 403)
    ),
    "lookback:task": Probe(
        "get", f"/lookback/tasks/{_MISSING}/", row(LOGIN, 403, 403, 403, 404, 404, 403)
    ),
    "lookback:decide": Probe(
        "post",
        f"/lookback/tasks/{_MISSING}/decision/",
        row(LOGIN, 403, 403, 403, 404, 404, 403),
    ),
    "lookback:task-accountability": Probe(
        "post",
        f"/lookback/tasks/{_MISSING}/accountability/",
        row(LOGIN, 403, 403, 403, 404, 404, 403),
    ),
    "lookback:case-accountability": Probe(
        "get",
        "/lookback/cases/{case}/accountability/",
        row(LOGIN, None, 403, 403, 200, 200, 403),
        "case",
        hidden=_SUPERVISORS_ONLY | {"dept_supervisor": 403},
    ),
    "login": Probe("get", "/accounts/login/", every(200)),
    # Single sign-on (sso/): OIDC is not configured here, so both answer as missing.
    "sso:oidc-authenticate": Probe("get", "/oidc/authenticate/", every(404)),
    "sso:oidc-callback": Probe("get", "/oidc/callback/", every(404)),
    "logout": Probe("post", "/accounts/logout/", every(302)),
    "password_change": Probe(
        "get", "/accounts/password_change/", row(LOGIN, 200, 200, 200, 200, 200)
    ),
    "password_change_done": Probe(
        "get", "/accounts/password_change/done/", row(LOGIN, 200, 200, 200, 200, 200)
    ),
    # One's own API tokens: another user's token is answered as a missing one.
    "token_list": Probe("get", "/accounts/tokens/", row(LOGIN, 200, 200, 200, 200, 200)),
    "token_revoke": Probe(
        "post",
        "/accounts/tokens/{token}/revoke/",
        row(LOGIN, 302, 302, 302, 302, 302),
        "api_token",
    ),
    "password_reset": Probe("get", "/accounts/password_reset/", every(200)),
    "password_reset_done": Probe("get", "/accounts/password_reset/done/", every(200)),
    # A made-up link: the "invalid link" page, for everybody.
    "password_reset_confirm": Probe("get", "/accounts/reset/MQ/abc-def/", every(200)),
    "password_reset_complete": Probe("get", "/accounts/reset/done/", every(200)),
    "set_language": Probe("post", "/i18n/setlang/", every(302), data="language"),
    "api:api-root": Probe("get", "/api/v1/", row(401, 200, 200, 200, 200, 200)),
    "schema": Probe("get", "/api/schema/", every(200)),
    "api-docs": Probe("get", "/api/docs/", every(200)),
}

# API operations, keyed by (METHOD, path) as the OpenAPI schema lists them. `path` is what is
# requested (with a query string where the operation needs one).
_API_READ_ONLY_WRITE = {"api_reader": 403}  # the read-only role is refused before any lookup

API_PROBES: dict[tuple[str, str], Probe] = {
    ("POST", "/api/v1/auth/token/"): Probe(
        # Anonymous callers send a wrong password: 400, the same for unknown users.
        "post",
        "/api/v1/auth/token/",
        row(400, 200, 200, 200, 200, 200),
        data="credentials",
    ),
    ("DELETE", "/api/v1/auth/token/"): Probe(
        "delete", "/api/v1/auth/token/", row(401, 204, 204, 204, 204, 204)
    ),
    ("GET", "/api/v1/units/"): Probe("get", "/api/v1/units/", row(401, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/units/{id}/"): Probe(
        "get", "/api/v1/units/{unit}/", row(401, None, 200, 200, 200, 200), "unit"
    ),
    ("GET", "/api/v1/inspections/"): Probe(
        "get", "/api/v1/inspections/", row(401, 200, 200, 200, 200, 200)
    ),
    ("GET", "/api/v1/inspections/{id}/"): Probe(
        "get",
        "/api/v1/inspections/{inspection}/",
        row(401, None, 200, 200, 200, 200),
        "inspection",
    ),
    ("GET", "/api/v1/cases/"): Probe("get", "/api/v1/cases/", row(401, 200, 200, 200, 200, 200)),
    # Registering a case for a unit: only supervisors; a unit outside the jurisdiction (or a
    # missing one) does not resolve: 400 on the field, the same message.
    ("POST", "/api/v1/cases/"): Probe(
        "post",
        "/api/v1/cases/",
        row(401, 403, 403, 403, 201, 201),
        "unit",
        hidden=row(401, 403, 403, 403, 400, 400),
        data="create",
    ),
    ("GET", "/api/v1/cases/{id}/"): Probe(
        "get", "/api/v1/cases/{case}/", row(401, None, 200, 200, 200, 200), "case"
    ),
    ("PATCH", "/api/v1/cases/{id}/"): Probe(
        "patch",
        "/api/v1/cases/{case}/",
        row(401, None, 403, 200, 200, 200),
        "case",
        hidden=_API_READ_ONLY_WRITE,
        data="progress",
    ),
    ("GET", "/api/v1/cases/{id}/history/"): Probe(
        "get", "/api/v1/cases/{case}/history/", row(401, None, 200, 200, 200, 200), "case"
    ),
    ("GET", "/api/v1/cases/{id}/evidence/"): Probe(
        "get", "/api/v1/cases/{case}/evidence/", row(401, None, 200, 200, 200, 200), "case"
    ),
    ("POST", "/api/v1/cases/{id}/evidence/"): Probe(
        "post",
        "/api/v1/cases/{case}/evidence/",
        row(401, None, 403, 201, 201, 201),
        "case",
        hidden=_API_READ_ONLY_WRITE,
        data="upload_api",
    ),
    ("GET", "/api/v1/cases/{case_id}/evidence/{evidence_id}/download/"): Probe(
        "get",
        "/api/v1/cases/{case}/evidence/{evidence}/download/",
        row(401, None, 200, 200, 200, 200),
        "case",
    ),
    ("POST", "/api/v1/cases/{id}/transitions/"): Probe(
        "post",
        "/api/v1/cases/{case}/transitions/",
        row(401, None, 403, 200, 403, 403, 200),
        "case",
        hidden=_API_READ_ONLY_WRITE,
        data="start_api",
    ),
    ("POST", "/api/v1/cases/{id}/follow-up/"): Probe(
        "post",
        "/api/v1/cases/{case}/follow-up/",
        row(401, None, 403, 403, 201, 201),
        "case",
        hidden=_API_READ_ONLY_WRITE,
        data="follow_up_api",
    ),
    # A case's follow-ups with their readers and replies: whoever sees the case.
    ("GET", "/api/v1/cases/{case_id}/follow-ups/"): Probe(
        "get", "/api/v1/cases/{case}/follow-ups/", row(401, None, 200, 200, 200, 200), "case"
    ),
    # A reply: the unit's people only (甲县局's inspector and its own supervisor).
    ("POST", "/api/v1/cases/{case_id}/follow-ups/{event_id}/replies/"): Probe(
        "post",
        "/api/v1/cases/{case}/follow-ups/{follow_up}/replies/",
        row(401, None, 403, 201, 403, 403, 201),
        "case",
        hidden=_API_READ_ONLY_WRITE,
        data="reply_api",
    ),
    ("GET", "/api/v1/cases/{case_id}/extension-requests/"): Probe(
        "get",
        "/api/v1/cases/{case}/extension-requests/",
        row(401, None, 200, 200, 200, 200),
        "case",
    ),
    ("POST", "/api/v1/cases/{case_id}/extension-requests/"): Probe(
        "post",
        "/api/v1/cases/{case}/extension-requests/",
        row(401, None, 403, 201, 403, 403, 201),
        "case",
        hidden=_API_READ_ONLY_WRITE,
        data="extension_request_api",
    ),
    ("GET", "/api/v1/extension-requests/"): Probe(
        "get", "/api/v1/extension-requests/", row(401, 200, 200, 200, 200, 200)
    ),
    ("POST", "/api/v1/extension-requests/{request_id}/decision/"): Probe(
        "post",
        "/api/v1/extension-requests/{extension}/decision/",
        row(401, None, 403, 403, 403, 200, 403),
        "case",
        hidden=_API_READ_ONLY_WRITE,
        data="extension_decision_api",
    ),
    ("GET", "/api/v1/inbox/"): Probe("get", "/api/v1/inbox/", row(401, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/cases/export/"): Probe(
        "get", "/api/v1/cases/export/", row(401, 200, 200, 200, 200, 200)
    ),
    # With `case`, one case's reminders: a case out of scope answers as a missing one.
    ("GET", "/api/v1/reminders/"): Probe(
        "get", "/api/v1/reminders/?case={case}", row(401, None, 200, 200, 200, 200), "case"
    ),
    # A background job, the caller's own: anyone else's answers as a missing one.
    ("GET", "/api/v1/jobs/exports/{id}/"): Probe(
        "get", "/api/v1/jobs/exports/{job}/", row(401, 200, 200, 200, 200, 200), "export_job"
    ),
    ("GET", "/api/v1/jobs/imports/{id}/"): Probe(
        "get", "/api/v1/jobs/imports/{job}/", row(401, 200, 200, 200, 200, 200), "import_job"
    ),
    # The look-back (lookback.api): lists empty for anyone but a commission's supervisors
    # (accountability: and the commission's API readers); writes refused (403) to everybody
    # else before any lookup. Sent without a body: 400 for those who may write.
    ("GET", "/api/v1/lookbacks/"): Probe(
        "get", "/api/v1/lookbacks/", row(401, 200, 200, 200, 200, 200)
    ),
    ("POST", "/api/v1/lookbacks/"): Probe(
        "post", "/api/v1/lookbacks/", row(401, 403, 403, 403, 400, 400, 403)
    ),
    ("GET", "/api/v1/rechecks/"): Probe(
        "get", "/api/v1/rechecks/", row(401, 200, 200, 200, 200, 200)
    ),
    ("POST", "/api/v1/rechecks/{task_id}/decision/"): Probe(
        "post", f"/api/v1/rechecks/{_MISSING}/decision/", row(401, 403, 403, 403, 404, 404, 403)
    ),
    ("GET", "/api/v1/accountability/"): Probe(
        "get", "/api/v1/accountability/", row(401, 200, 200, 200, 200, 200)
    ),
    ("POST", "/api/v1/accountability/"): Probe(
        "post", "/api/v1/accountability/", row(401, 403, 403, 403, 400, 400, 403)
    ),
    ("GET", "/api/v1/stats/completion/"): Probe(
        "get", "/api/v1/stats/completion/?group_by=unit", row(401, 200, 200, 200, 200, 200)
    ),
}
