"""Every read that serves a user, scoped to what the user's place in the unit tree allows.

- superuser: everything;
- supervisor: the jurisdiction of their unit (a commission sees the whole area it sits in);
- api_reader: the same jurisdiction, read-only;
- inspector: cases whose responsible unit is their unit or under it;
- unit_admin: their unit's subtree, read-only (they manage its people: cases.people);
- anyone else (no unit, no role, anonymous): nothing.

Restricted ledgers (问题线索台账) are further narrowed by one rule, `restricted_q`: within that
scope only a commission's supervisors, and the units a commission granted the ledger to,
read them; a government department's supervisor, an inspector and an API reader never do.

Views, the API, exports and tasks build on these querysets, never on `Model.objects`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Case as SqlCase  # cases.models.Case is the case
from django.db.models import (
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.utils.translation import gettext

from . import tally
from .errors import NotFound
from .history import with_last_event_at
from .models import (
    Case,
    CaseEvent,
    CompletionTally,
    Evidence,
    Inspection,
    RestrictedGrant,
    Unit,
    User,
)
from .tally_sql import FIGURE_COLUMNS
from .workflow import Role, Status


def user_role(user: Any) -> Role | None:
    """The role the workflow applies to `user`; superusers act as supervisors."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return Role.SUPERVISOR
    if user.unit_id is None or not user.role:
        return None
    return Role(user.role)


def jurisdiction_of(unit: Unit) -> Unit:
    """The root of what a unit's staff oversee.

    A commission (纪委监委) is a department of the area it sits in and oversees the whole area:
    晋城市纪委监委 sees everything under 晋城市. Any other unit oversees its own subtree.
    """
    if unit.is_supervising_body and unit.parent_id is not None:
        parent = unit.parent
        if parent is not None and parent.level != Unit.Level.DEPARTMENT:
            return parent
    return unit


def sees_everything(user: Any) -> bool:
    return user_role(user) is not None and user.is_superuser


def scope_root(user: Any) -> Unit | None:
    """The unit whose subtree bounds what `user` may see; None for no access (and for
    superusers, who are not bounded: check `sees_everything` first)."""
    role = user_role(user)
    if role is None or user.is_superuser:
        return None
    if role in (Role.INSPECTOR, Role.UNIT_ADMIN):
        # A unit administrator manages (cases.people) and reads its own unit's subtree only.
        return user.unit
    return jurisdiction_of(user.unit)


def is_commission_supervisor(user: Any) -> bool:
    """A supervisor of a commission (纪委监委, 纪检监察机关) at any level: the one role that
    reads the restricted ledgers of its jurisdiction, and grants them to other units."""
    if user_role(user) != Role.SUPERVISOR or user.is_superuser or user.unit_id is None:
        return False
    return bool(user.unit.is_supervising_body)


def restricted_q(user: Any, inspection: str = "inspection") -> Q:
    """The one rule for restricted ledgers, as a filter on rows whose inspection is reached
    through the foreign key `inspection` ("" for inspections themselves). Applied on top of
    the user's scope, never instead of it, so it only ever narrows:

    - superusers and commission supervisors: no narrowing (their scope is the commission's
      jurisdiction);
    - API readers: never a restricted ledger, even in the commission's own unit (a token is
      the credential most easily lost, and a report generator has no need of clues);
    - anyone else with a role (a government department's supervisor, an inspector): only the
      restricted ledgers a commission has granted to their own unit (a live RestrictedGrant;
      a grant to a unit does not reach its sub-units).

    The grants are a subquery, not a list read first: every scoped read pays no extra round
    trip, and the planner hashes the handful of rows once.
    """
    if sees_everything(user) or is_commission_supervisor(user):
        return Q()
    flag = f"{inspection}__restricted" if inspection else "restricted"
    open_ledgers = Q(**{flag: False})
    role = user_role(user)
    if role is None or role == Role.API_READER:
        return open_ledgers
    granted = RestrictedGrant.objects.filter(unit_id=user.unit_id, revoked_at__isnull=True).values(
        "inspection_id"
    )
    return open_ledgers | Q(**{f"{inspection}_id__in" if inspection else "id__in": granted})


def reads_restricted_ledgers(user: Any) -> bool:
    """Whether `user` may read any restricted ledger (`restricted_q`): superusers, commission
    supervisors, and the people of a unit holding a live grant; never an API reader. The
    dashboard and the completion API show these ledgers' figures apart, to them only."""
    if sees_everything(user) or is_commission_supervisor(user):
        return True
    role = user_role(user)
    if role is None or role == Role.API_READER:
        return False
    return RestrictedGrant.objects.filter(unit_id=user.unit_id, revoked_at__isnull=True).exists()


def _subtree(unit: Unit, prefix: str = "") -> Q:
    return Q(**{f"{prefix}path__startswith": unit.path})


def within_subtree(unit: Unit, field: str) -> Q:
    """`field` (a unit foreign key, through any prefix) points into `unit`'s subtree, as a
    subquery on the units rather than a join to each row's unit: the planner reads the
    subtree's ids once (a hashed list) and checks every row against it, where the join looked
    up each row's unit (the province's thousands of waiting cases in the top bar's counts)."""
    return Q(**{f"{field}__in": Unit.objects.filter(_subtree(unit)).values("pk")})


def in_unit_subtree(unit: Unit, field: str) -> Q:
    """`field` (a unit foreign key) points into `unit`'s subtree, as a list of ids read first:
    with the ids in hand the planner sees how few cases they hold and reaches them through the
    (unit, status) index, where a join on the path, or a subquery OR-ed with another
    condition, made it read them all."""
    ids = list(Unit.objects.filter(_subtree(unit)).values_list("id", flat=True))
    return Q(**{f"{field}__in": ids})


def in_unit_subtree_of_id(unit_id: int, field: str) -> Q:
    """`in_unit_subtree` for a unit known by its id, in one query: paths are made of ids
    ("/1/7/42/"), so the subtree of 42 is the units whose path holds "/42/". An unknown id
    has no subtree: the filter matches nothing."""
    ids = list(
        Unit.objects.filter(path__contains=f"/{unit_id}/").order_by().values_list("id", flat=True)
    )
    return Q(**{f"{field}__in": ids})


def _covers_everything(root: Unit) -> bool:
    """Whether `root`'s subtree is every unit: the top of the only tree (a unit's path starts
    with its root's, so every unit outside lies under another root). No query for any unit
    but a root."""
    if root.parent_id is not None:
        return False
    return not Unit.objects.filter(parent__isnull=True).exclude(pk=root.pk).exists()


# The attribute of a user read for one request (`remember_scope_for_request`) that keeps its
# scope's unit ids for that request: a page asks several selectors for them.
REQUEST_SCOPE = "_request_scope_ids"


def remember_scope_for_request(user: Any) -> Any:
    """Mark `user`, read by the authentication of one request, to keep what its scope's
    unit ids are for the rest of that request (they are read once, not by every selector).
    Users read anywhere else (tasks, services, tests) always read them afresh."""
    setattr(user, REQUEST_SCOPE, {})
    return user


def _scope_ids(user: Any, root: Unit) -> list[int] | None:
    """The ids of `root`'s subtree, or None when that is every unit (`_covers_everything`):
    once per request for a request's user."""
    memo = getattr(user, REQUEST_SCOPE, None)
    if memo is not None and root.pk in memo:
        return memo[root.pk]
    ids = None
    if not _covers_everything(root):
        ids = list(Unit.objects.filter(_subtree(root)).order_by().values_list("id", flat=True))
    if memo is not None:
        memo[root.pk] = ids
    return ids


def _scope_is_everything(user: Any, root: Unit) -> bool:
    """`_covers_everything(root)`, once per request for a request's user (from the ids when
    they were read)."""
    memo = getattr(user, REQUEST_SCOPE, None)
    if memo is None:
        return _covers_everything(root)
    if root.pk in memo:
        return memo[root.pk] is None
    key = ("everything", root.pk)
    if key not in memo:
        memo[key] = _covers_everything(root)
    return bool(memo[key])


def visible_units(user: Any) -> QuerySet[Unit]:
    units = Unit.objects.all()
    if sees_everything(user):
        return units
    root = scope_root(user)
    if root is None:
        return units.none()
    return units if _scope_is_everything(user, root) else units.filter(_subtree(root))


def visible_cases(user: Any, *, one: bool = False) -> QuerySet[Case]:
    """The cases `user` may see. For lists the unit scope is a list of unit ids read first (see
    `in_unit_subtree`); `one=True`, for reading cases by id, joins on the unit paths instead and
    saves those lookups."""
    cases = Case.objects.all()
    if sees_everything(user):
        return cases
    root = scope_root(user)
    if root is None:
        return cases.none()
    inspector = user_role(user) == Role.INSPECTOR
    if one and not _scope_is_everything(user, root):
        responsible = within_subtree(root, "responsible_unit")
        supervising = within_subtree(root, "supervising_unit")
    elif not one and (ids := _scope_ids(user, root)) is not None:
        responsible = Q(responsible_unit_id__in=ids)
        supervising = Q(supervising_unit_id__in=ids)
    else:  # the top of the only tree (the provincial commission): every case, no filter
        responsible = supervising = Q()
    if responsible:
        # An inspector: their unit's cases and below, and any case they were made owner of. A
        # commission also follows what it supervises elsewhere (a city commission's case
        # handed to a provincial body stays on its books).
        cases = cases.filter(responsible | (Q(owner_id=user.pk) if inspector else supervising))
    return cases.filter(restricted_q(user))


def visible_tally(user: Any, rows: QuerySet) -> QuerySet:
    """Roll-up rows (`cases.tally`) of the cases `visible_cases` gives, but for the cases an
    inspector owns outside their unit (`owned_outside_scope`)."""
    scope = tally_scope(user)
    return rows.none() if scope is None else rows.filter(scope)


def tally_scope(user: Any) -> Q | None:
    """`visible_tally`'s filter (None: nothing), for callers that apply it to several queries."""
    if sees_everything(user):
        return Q()
    root = scope_root(user)
    if root is None:
        return None
    scope = Q()
    if _scope_ids(user, root) is not None:  # else every unit is in scope
        scope = _subtree(root, "responsible_unit__")
        if user_role(user) != Role.INSPECTOR:
            scope |= _subtree(root, "supervising_unit__")
    return scope & restricted_q(user)


def owned_outside_scope(user: Any) -> QuerySet[Case]:
    """Visible cases that `visible_tally` leaves out: an inspector's own outside their unit."""
    root = scope_root(user)
    if root is None or user_role(user) != Role.INSPECTOR:
        return Case.objects.none()
    return (
        visible_cases(user).filter(owner_id=user.pk).exclude(_subtree(root, "responsible_unit__"))
    )


def _has_visible_cases(user: Any) -> Q | Exists:
    """An inspection holds a case the user may see. On PostgreSQL it is read from the
    completion roll-ups (a few rows an inspection) rather than from a million cases."""
    # Until beat has built the roll-ups, read the cases: a GET never builds them.
    if not tally.available() or not tally.is_built():
        return Q(id__in=visible_cases(user).values("inspection_id"))
    counts = [F(column) for column in FIGURE_COLUMNS if column.split("_", 1)[1] in Status.values]
    groups = (
        visible_tally(user, CompletionTally.objects.filter(inspection_id=OuterRef("pk")))
        .order_by()
        .values("inspection_id")
        .annotate(cases=Sum(sum(counts[1:], counts[0])))
        .filter(cases__gt=0)  # delta rows of cases that moved away add up to zero
    )
    owned = owned_outside_scope(user).filter(inspection_id=OuterRef("pk"))
    return Exists(groups) | Exists(owned)


def visible_inspections(user: Any) -> QuerySet[Inspection]:
    inspections = Inspection.objects.all()
    if sees_everything(user):
        return inspections
    root = scope_root(user)
    if root is None:
        return inspections.none()
    if user_role(user) == Role.INSPECTOR:
        inspections = inspections.filter(_has_visible_cases(user))
    elif not _scope_is_everything(user, root):  # (else every inspection is in its scope)
        # The cheap path tests first: OR stops at the first true one, before the subquery.
        inspections = inspections.filter(
            _subtree(root, "supervising_unit__")
            | _subtree(root, "issuing_unit__")
            | _has_visible_cases(user)
        )
    return inspections.filter(restricted_q(user, ""))


def managed_inspections(user: Any) -> QuerySet[Inspection]:
    """The inspections a supervisor may edit (`organisation.inspection_update`): visible ones
    issued or supervised within its scope. A county commission that sees a city inspection's
    county cases does not edit the city's inspection."""
    if user_role(user) != Role.SUPERVISOR:
        return Inspection.objects.none()
    if sees_everything(user):
        return visible_inspections(user)
    root = scope_root(user)
    if root is None:
        return Inspection.objects.none()
    own = _subtree(root, "supervising_unit__") | _subtree(root, "issuing_unit__")
    return visible_inspections(user).filter(own)


def grantable_inspections(user: Any) -> QuerySet[Inspection]:
    """The restricted ledgers a commission supervisor may grant to other units: its own, i.e.
    supervised or issued within its jurisdiction. A county commission that sees a city ledger's
    county cases does not pass the city commission's ledger on."""
    root = scope_root(user) if is_commission_supervisor(user) else None
    if root is None:
        return Inspection.objects.none()
    own = _subtree(root, "supervising_unit__") | _subtree(root, "issuing_unit__")
    return visible_inspections(user).filter(own, restricted=True)


def restricted_grants(user: Any) -> QuerySet[RestrictedGrant]:
    """The grants, live and revoked, that a commission supervisor may read and revoke: of its
    own ledgers, to units of its jurisdiction, made within its jurisdiction (a lower commission
    never reads or revokes what a higher one decided)."""
    root = scope_root(user) if is_commission_supervisor(user) else None
    if root is None:
        return RestrictedGrant.objects.none()
    return RestrictedGrant.objects.filter(
        _subtree(root, "granted_by__unit__"),
        inspection__in=grantable_inspections(user),
        unit__in=visible_units(user),
    ).select_related("inspection", "unit", "granted_by", "revoked_by")


def case_list(user: Any, *, one: bool = False) -> QuerySet[Case]:
    """The cases a user may see, with what a list row shows, in one query."""
    return visible_cases(user, one=one).select_related(
        "inspection", "responsible_unit", "supervising_unit", "region", "owner"
    )


def case_get(user: Any, case_id: Any) -> Case:
    """One visible case; a missing id and an out-of-scope one both raise NotFound."""
    try:
        return case_list(user, one=True).get(pk=case_id)
    except (Case.DoesNotExist, ValueError, TypeError):
        raise NotFound(_not_found_message()) from None


def case_get_for_update(user: Any, case_id: Any) -> Case:
    """The visible case, locked until the end of the transaction (only its own row), in one
    query with what a write reads besides the row: the related rows a list row shows (the API
    answers with the case as written), the owner's unit (the reminders of the write) and when
    its history was last written (`cases.history.require_after_history`)."""
    cases = with_last_event_at(
        visible_cases(user, one=True).select_related(*_WRITE_RELATED, "owner__unit__parent")
    ).select_for_update(of=("self",))
    try:
        case = cases.get(pk=case_id)
        if _read_before_the_lock(case):
            case = cases.get(pk=case_id)  # the lock is held now: read as it stands
    except (Case.DoesNotExist, ValueError, TypeError):
        raise NotFound(_not_found_message()) from None
    return case


_WRITE_RELATED = ("inspection", "responsible_unit", "supervising_unit", "region", "owner")


def _read_before_the_lock(case: Case) -> bool:
    """A lock that waited on another write gets the case row as that write left it, but the
    joined rows and the history subquery as they were when the statement began (PostgreSQL's
    READ COMMITTED): a reassignment's new owner or unit, or the other write's history row,
    would be missing. Rare (two writes of one case at once): then the case is read again."""
    for name in _WRITE_RELATED:
        related = getattr(case, name)
        if getattr(related, "pk", None) != getattr(case, f"{name}_id"):
            return True
    return bool(case.history_length) and case.last_event_at is None  # type: ignore[attr-defined]


def case_history(user: Any, case_id: Any) -> list[CaseEvent]:
    """A visible case's history, oldest first, with who acted labelled as `user` may see
    them (`label_people`): on the events and on the evidence attached to them."""
    case = case_get(user, case_id)
    attached = Prefetch("evidence", Evidence.objects.select_related("uploaded_by__unit"))
    events = list(case_events(case).prefetch_related(attached))
    evidence = [item for event in events for item in event.evidence.all()]
    label_many(user, [(events, "actor", "actor_unit"), (evidence, "uploaded_by", "")])
    return events


def case_events(case: Case) -> QuerySet[CaseEvent]:
    """The history of `case` (one the caller read through `case_get`), oldest first, with
    who acted; label them (`label_people`) before showing them."""
    return case.events.select_related("actor", "actor_unit").order_by("created_at", "id")


def case_evidence_rows(case: Case) -> QuerySet[Evidence]:
    """The evidence of `case` (one the caller read through `case_get`), oldest first, with
    its uploader; label them (`label_people`) before showing them."""
    return case.evidence.select_related("uploaded_by__unit").order_by("created_at", "id")


def evidence_get(user: Any, case_id: Any, evidence_id: Any) -> Evidence:
    case = case_get(user, case_id)
    try:
        return case.evidence.get(pk=evidence_id)
    except (Evidence.DoesNotExist, ValueError, TypeError):
        raise NotFound(_not_found_message()) from None


def visible_users(user: Any) -> QuerySet[User]:
    """Active people in the units the user may see (candidates for owner)."""
    return User.objects.filter(is_active=True, unit__in=visible_units(user))


def users_in_unit_subtree(unit: Unit) -> QuerySet[User]:
    return User.objects.filter(unit__path__startswith=unit.path, is_active=True)


def unit_search(user: Any, term: str, *, responsible_only: bool = False) -> QuerySet[Unit]:
    """The pickers' units (cases.autocomplete): `visible_units` whose name contains `term`,
    names starting with it first."""
    units = visible_units(user)
    if responsible_only:
        units = units.filter(is_responsible_unit=True)
    return _ranked(units, term, ["name"]).select_related("parent")


def assignable_users(user: Any, term: str, *, unit: Unit | None = None) -> QuerySet[User]:
    """The owner picker's people (cases.autocomplete): `visible_users` whose name or username
    contains `term`; with `unit` (one the caller sees), only people of its subtree, as
    `services.case_assign` requires of an owner."""
    users = visible_users(user)
    if unit is not None:
        users = users.filter(pk__in=users_in_unit_subtree(unit).values("pk"))
    return _ranked(users, term, ["full_name", "username"]).select_related("unit")


def _ranked(rows: QuerySet, term: str, fields: list[str]) -> QuerySet:
    """Rows with `term` in one of `fields` (case-insensitive), prefix matches first."""
    term = term.strip()
    if not term:
        return rows.order_by(*fields, "pk")
    contains, prefix = Q(), Q()
    for field in fields:
        contains |= Q(**{f"{field}__icontains": term})
        prefix |= Q(**{f"{field}__istartswith": term})
    rank = SqlCase(When(prefix, then=Value(0)), default=Value(1), output_field=IntegerField())
    return rows.filter(contains).annotate(search_rank=rank).order_by("search_rank", *fields, "pk")


def _not_found_message() -> str:
    return gettext("未找到该整改问题，或您无权查看。")


# --- Who did it: people named only within the viewer's scope ------------------------------


def nameable_people(viewer: Any, person_ids: Iterable[int]) -> set[int]:
    """The ids among `person_ids` whose names `viewer` may read: the viewer, and people of
    the units the viewer may see (`visible_units`, whatever their active state). Anyone else
    (a supervisor of the commission above an inspector, a colleague of a sibling unit)
    appears by unit and role only (`person_label`). One query."""
    ids = {pk for pk in person_ids if pk is not None}
    if not ids or sees_everything(viewer):
        return ids
    own = {viewer.pk} & ids if getattr(viewer, "pk", None) else set()
    root = scope_root(viewer)
    if root is None:
        return own
    found = User.objects.filter(pk__in=ids - own, unit__path__startswith=root.path)
    return own | set(found.values_list("pk", flat=True))


def person_label(person: User | None, *, unit: Unit | None, named: bool) -> str:
    """How history shows who acted: the name for someone in the viewer's scope, otherwise
    "<unit> · <role>". The unit name is no secret (the case's supervising unit is on its
    page); the person's is."""
    if person is None:
        return gettext("系统")
    if named:
        return person.get_full_name()
    if person.is_superuser:
        role = gettext("系统管理员")
    elif person.role:
        role = str(Role(person.role).label)
    else:
        role = gettext("工作人员")
    return f"{unit.name} · {role}" if unit is not None else role


def label_people(viewer: Any, rows: Iterable[Any], field: str, *, unit_field: str = "") -> list:
    """`rows` (events, evidence, checklist points) with `<field>_named` and `<field>_label`
    set for their person `field`, as `viewer` may see them: the one rule of the case page,
    the API and anything else that shows who did what. `unit_field`: the unit the person
    acted for, as recorded on the row (default: the person's unit)."""
    return label_many(viewer, [(rows, field, unit_field)])[0]


def label_many(viewer: Any, groups: Iterable[tuple[Iterable[Any], str, str]]) -> list[list]:
    """`label_people` for several (rows, field, unit_field) groups at once, with one
    `nameable_people` query for all their people (a page that shows many kinds of rows)."""
    listed = [(list(rows), field, unit_field) for rows, field, unit_field in groups]
    named = nameable_people(
        viewer, (getattr(row, f"{field}_id") for rows, field, _ in listed for row in rows)
    )
    for rows, field, unit_field in listed:
        for row in rows:
            person = getattr(row, field)
            if unit_field:
                unit = getattr(row, unit_field)
            else:
                unit = person.unit if person is not None and person.unit_id else None
            shown = person is not None and person.pk in named
            setattr(row, f"{field}_named", shown)
            setattr(row, f"{field}_label", person_label(person, unit=unit, named=shown))
    return [rows for rows, _, _ in listed]


def case_evidence(user: Any, case_id: Any) -> list[Evidence]:
    """A visible case's evidence, oldest first, each uploader labelled (`label_people`)."""
    return label_people(user, case_evidence_rows(case_get(user, case_id)), "uploaded_by")
