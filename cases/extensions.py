"""Extension requests (延期申请): the responsible unit asks for a later deadline with a reason;
a supervisor of the case's supervising unit approves it (the deadline changes through
`services.case_extend_deadline`, which counts and caps every extension) or refuses it with a
note. Every step is a row of the case's history.

Who may do what (the one definition, as a filter for lists, which the inbox's are built from,
and as a test of one case in hand, `on_unit_side` and `on_supervising_side`: a test holds the
two forms equal):

- request: an inspector or supervisor of the responsible unit (the user's unit is the case's
  responsible unit or above it) or the case's owner: `unit_side`;
- decide: a supervisor (or superuser) whose own unit is the case's supervising unit or above
  it: `supervising_side`; never someone of the unit side, nor the requester.

Every write locks the case row first (as every case write does), then the request row: two
supervisors deciding at once are served one after the other, and the second finds the
request decided (409).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from . import rules, selectors, services
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .history import append_event
from .models import Case, CaseEvent, ExtensionRequest
from .permissions import Action, may, require
from .workflow import DONE_STATES, Role, check_extension_cap

Status = ExtensionRequest.Status


class ExtensionPending(Conflict):
    code = "extension_pending"


class ExtensionDecided(Conflict):
    code = "extension_decided"


# --- Who -----------------------------------------------------------------------------------


def unit_side(user: Any, prefix: str = "") -> Q:
    """Cases (reached through `prefix`) whose responsible unit is the user's unit or below
    it, or that the user owns: the unit's side, who rectify and ask for time."""
    if selectors.user_role(user) is None or user.unit_id is None:
        return Q(pk__in=[])
    # A subquery on the units rather than a list of ids read first: one query less on every
    # page (the top bar's inbox, cases.inbox).
    return selectors.within_subtree(user.unit, f"{prefix}responsible_unit") | Q(
        **{f"{prefix}owner_id": user.pk}
    )


def supervising_side(user: Any, prefix: str = "") -> Q:
    """Cases whose supervising unit is the supervisor's own unit or below it (a superuser:
    every case), less the unit's side: whom a case is submitted, escalated and its requests
    sent to. A commission above the supervising one may still act (its jurisdiction), but
    the work is not addressed to it."""
    role = selectors.user_role(user)
    if role != Role.SUPERVISOR:
        return Q(pk__in=[])
    if user.is_superuser:
        return Q()
    own = selectors.within_subtree(user.unit, f"{prefix}supervising_unit")
    return own & ~unit_side(user, prefix)


def on_unit_side(user: Any, case: Case) -> bool:
    """`unit_side` for one case in hand (read with its responsible unit): no query."""
    if selectors.user_role(user) is None or user.unit_id is None:
        return False
    return case.owner_id == user.pk or rules.over_unit(user, case)


def on_supervising_side(user: Any, case: Case) -> bool:
    """`supervising_side` for one case in hand (read with its units): no query."""
    if selectors.user_role(user) != Role.SUPERVISOR:
        return False
    if user.is_superuser:
        return True
    own = case.supervising_unit.path.startswith(user.unit.path)
    return own and not on_unit_side(user, case)


def may_request(user: Any, case: Case) -> bool:
    """For the page: offer the request form (the service decides)."""
    return (
        may(user, Action.REQUEST_EXTENSION)
        and case.status not in DONE_STATES
        and on_unit_side(user, case)
    )


def may_decide(user: Any, case: Case) -> bool:
    return may(user, Action.EXTEND_DEADLINE) and on_supervising_side(user, case)


# --- Reads ---------------------------------------------------------------------------------


def visible_requests(user: Any) -> QuerySet[ExtensionRequest]:
    """The requests of the cases `user` may see, newest first."""
    return (
        ExtensionRequest.objects.filter(case__in=selectors.visible_cases(user).values("pk"))
        .select_related("case", "case__responsible_unit", "case__inspection")
        .select_related("requested_by__unit", "decided_by__unit")
        .order_by("-requested_at", "-id")
    )


def case_requests(user: Any, case_id: Any) -> list[ExtensionRequest]:
    """A visible case's requests, newest first, people labelled as `user` may see them."""
    case = selectors.case_get(user, case_id)
    rows = visible_requests(user).filter(case_id=case.pk)
    return label_requests(user, rows)


def label_requests(user: Any, rows: Any) -> list[ExtensionRequest]:
    """`rows` with who asked and who decided labelled (`selectors.label_people`), one query."""
    rows = list(rows)
    selectors.label_many(user, [(rows, "requested_by", ""), (rows, "decided_by", "")])
    return rows


def request_get(user: Any, request_id: Any) -> ExtensionRequest:
    try:
        return visible_requests(user).get(pk=request_id)
    except (ExtensionRequest.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("未找到该延期申请，或您无权查看。")) from None


# --- Writes --------------------------------------------------------------------------------


@transaction.atomic
def extension_request_create(
    *, actor: Any, case_id: int, deadline: date, reason: str
) -> ExtensionRequest:
    """The unit asks for `deadline` (later than the current one) with `reason`. Refused: 403
    for anyone but the unit's side, 409 when the case is done, a request is already pending
    or the inspection's cap is reached, 400 for a bad date or an empty reason."""
    case = selectors.case_get_for_update(actor, case_id)  # 404 first, as every case write
    at = timezone.now()
    require(actor, Action.REQUEST_EXTENSION)
    if not on_unit_side(actor, case):
        raise Forbidden(_("只有该问题责任单位的人员可以申请延期。"))
    if case.status in DONE_STATES:
        raise Conflict(_("已办结的问题不能申请延期。"))
    if case.extension_requests.filter(status=Status.PENDING).exists():
        raise ExtensionPending(_("该问题已有待审批的延期申请，请等待审批后再申请。"))
    errors: dict[str, list[str]] = {}
    if not reason.strip():
        errors["reason"] = [_("请填写延期理由。")]
    if deadline <= case.deadline:
        errors["deadline"] = [
            _("申请延至的日期须晚于当前整改时限（%(deadline)s）。") % {"deadline": case.deadline}
        ]
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], fields=errors)
    check_extension_cap(case.extensions, case.inspection.max_extensions)
    try:
        with transaction.atomic():
            request = ExtensionRequest.objects.create(
                case=case,
                current_deadline=case.deadline,
                deadline=deadline,
                reason=reason.strip(),
                requested_by=actor,
                requested_at=at,
            )
    except IntegrityError:
        # The unique constraint of one pending request a case: unreachable under the case's
        # lock, kept as the last word if a writer ever skips it.
        raise ExtensionPending(_("该问题已有待审批的延期申请，请等待审批后再申请。")) from None
    append_event(
        case,
        actor=actor,
        kind=CaseEvent.Kind.EXTENSION,
        at=at,
        note=request.reason,
        changes={"extension_request": [None, Status.PENDING], "requested_deadline": [
            str(case.deadline), str(deadline)]},
    )  # fmt: skip
    return request


@transaction.atomic
def extension_request_decide(
    *, actor: Any, request_id: int, approve: bool, note: str = ""
) -> ExtensionRequest:
    """Approve (the deadline moves through `case_extend_deadline`: counted, capped, in the
    history) or refuse (a note is required; a history row) a pending request. 403 for anyone
    but the supervising side, 404 for a request the actor may not see, 409 for a request
    already decided (or a cap reached, or a deadline that moved past the one asked for)."""
    case_id = request_get(actor, request_id).case_id
    require(actor, Action.EXTEND_DEADLINE)
    case = selectors.case_get_for_update(actor, case_id)  # the lock every case write takes
    request = ExtensionRequest.objects.select_for_update().get(pk=request_id)
    at = timezone.now()
    if not on_supervising_side(actor, case) or request.requested_by_id == actor.pk:
        raise Forbidden(_("只有该问题监督单位的监督人员可以审批延期申请，且不能审批本单位的申请。"))
    if request.status != Status.PENDING:
        raise ExtensionDecided(
            _("该延期申请已审批（%(status)s），不能重复审批。")
            % {"status": request.get_status_display()}
        )
    note = note.strip()
    if approve:
        if request.deadline <= case.deadline:
            raise Conflict(_("整改时限已调整为不早于申请的日期，请不予同意该申请。"))
        reason = _("同意延期申请。申请理由：%(reason)s") % {"reason": request.reason}
        services.case_extend_deadline(
            actor=actor,
            case_id=case.pk,
            deadline=request.deadline,
            reason=f"{reason}\n{_('审批意见：')}{note}" if note else reason,
            at=at,
        )
    else:
        if not note:
            message = _("不同意延期须填写审批意见。")
            raise InvalidInput(message, fields={"note": [message]})
        append_event(
            case,
            actor=actor,
            kind=CaseEvent.Kind.EXTENSION,
            at=at,
            note=note,
            changes={"extension_request": [Status.PENDING, Status.REFUSED]},
        )
    request.status = Status.APPROVED if approve else Status.REFUSED
    request.decided_by, request.decided_at, request.decision_note = actor, at, note
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return request
