"""Every write of the look-back, shared by the pages, the API and the admin.

- `lookback_start`: draw the sample (`lookback.sampling`) and make one re-check task per
  drawn case for the named checker;
- `recheck_decide`: confirmed, or a false rectification (虚假整改/纸面整改) that reopens the case
  through the case workflow (`cases.services.case_transition`: the history row with the
  finding, the seal chain, the roll-ups and the unit's notification all as for any reopen);
- `accountability_create`: an accountability record (问责) on a case or one of its re-checks.

Each is one transaction; the refusals are domain errors (nothing written).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditEntry
from audit.services import audit_record
from cases import selectors as case_selectors
from cases import services as case_services
from cases.errors import Conflict, Forbidden, InvalidInput, NotFound
from cases.models import Case, Unit, User
from cases.workflow import Status

from . import sampling, selectors
from .models import AccountabilityRecord, LookBack, RecheckTask

FINDING_MAX_CHARS = 2000


def _require_overseer(actor: Any) -> None:
    if not selectors.oversees_lookbacks(actor):
        raise Forbidden(_("只有纪委监委的监督人员可以开展回头看、认定复核结论和登记问责。"))


def _checker(actor: Any, checker_id: Any) -> User:
    try:
        checker = selectors.possible_checkers(actor).filter(pk=checker_id).first()
    except (ValueError, TypeError):
        checker = None
    if checker is None:
        message = _("复核人须为您管辖范围内纪委监委的监督人员。")
        raise InvalidInput(message, fields={"checker": [message]})
    return checker


def _require_visible_filters(actor: Any, filters: sampling.Filters) -> None:
    if filters.inspection is not None and not (
        case_selectors.visible_inspections(actor).filter(pk=filters.inspection).exists()
    ):
        message = _("未找到该检查，或您无权查看。")
        raise InvalidInput(message, fields={"inspection": [message]})
    for field in ("unit", "region"):
        unit_id = getattr(filters, field)
        if unit_id is not None and not (
            case_selectors.visible_units(actor).filter(pk=unit_id).exists()
        ):
            message = _("请选择您管辖范围内的单位。")
            raise InvalidInput(message, fields={field: [message]})


@transaction.atomic
def lookback_start(
    *,
    actor: Any,
    name: str,
    checker_id: Any,
    deadline: date,
    filters: sampling.Filters,
    size: int | None = None,
    percentage: int | None = None,
    seed: int | None = None,
    at: datetime | None = None,
    request: Any = None,
) -> LookBack:
    """Start a look-back: draw `size` (or `percentage`%) of the closed problems `actor` sees
    within `filters`, at random with `seed` (a fresh one if not given), and give each drawn
    case a re-check task for the checker, due `deadline`."""
    at = at or timezone.now()
    _require_overseer(actor)
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = [_("请填写回头看名称。")]
    if deadline < timezone.localdate(at):
        errors["deadline"] = [_("复核时限不能早于今天。")]
    if seed is not None and not 0 <= seed < 2**63:
        errors["seed"] = [_("随机种子须为非负整数。")]
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], fields=errors)
    _require_visible_filters(actor, filters)
    checker = _checker(actor, checker_id)
    # The cases drawn are locked while their tasks are written: a close being reopened meanwhile
    # waits, and the partial unique constraint keeps two look-backs off one case.
    ids = list(sampling.population(actor, filters).values_list("pk", flat=True))
    if not ids:
        message = _("范围内没有可供抽查的已销号问题。")
        raise InvalidInput(message, fields={"__all__": [message]})
    count = sampling.sample_size(len(ids), size=size, percentage=percentage)
    seed = sampling.new_seed() if seed is None else seed
    drawn = sampling.draw(ids, seed, count)
    cases = list(
        Case.objects.select_for_update(of=("self",))
        .filter(pk__in=drawn, status=Status.COMPLETED)
        .order_by("pk")
    )
    if len(cases) != len(drawn):
        raise Conflict(_("抽中的问题在抽样期间发生了变化，请重新发起。"))
    if case_selectors.visible_cases(checker).filter(pk__in=drawn).count() != len(drawn):
        message = _("复核人无权查看部分抽中的问题，请另选复核人或缩小范围。")
        raise InvalidInput(message, fields={"checker": [message]})
    unit = actor.unit if actor.unit_id else cases[0].supervising_unit
    if not selectors.follows(checker, unit):  # a superuser's look-back: its checker sees it
        message = _("复核人须为您管辖范围内纪委监委的监督人员。")
        raise InvalidInput(message, fields={"checker": [message]})
    lookback = LookBack.objects.create(
        name=name.strip(),
        started_by=actor,
        unit=unit,
        filters=filters.as_json(),
        population_size=len(ids),
        population_ids=ids,
        seed=seed,
        percentage=percentage,
        drawn_ids=drawn,
        deadline=deadline,
        created_at=at,
    )
    try:
        with transaction.atomic():
            RecheckTask.objects.bulk_create(
                RecheckTask(
                    lookback=lookback,
                    case=case,
                    checker=checker,
                    deadline=deadline,
                    closed_at=case.closed_at,
                    inspection_id=case.inspection_id,
                    responsible_unit_id=case.responsible_unit_id,
                    region_id=case.region_id,
                )
                for case in cases
            )
    except IntegrityError:
        raise Conflict(_("部分抽中的问题已在另一次回头看中待复核，请重新发起。")) from None
    # Who drew which sample, with what seed: the audit log keeps it beyond the look-back's row.
    audit_record(
        actor=actor,
        action=AuditEntry.Action.LOOKBACK_START,
        target=lookback,
        changes={"seed": seed, "population_size": len(ids), "drawn": len(drawn)},
        request=request,
    )
    return lookback


@transaction.atomic
def recheck_decide(
    *,
    actor: Any,
    task_id: Any,
    outcome: str,
    finding: str = "",
    at: datetime | None = None,
    request: Any = None,
) -> RecheckTask:
    """Record a re-check's outcome. A false rectification needs the finding, and reopens the
    case with it in the history (the workflow's `reopen`: 已销号 → 整改中)."""
    _require_overseer(actor)
    task = selectors.task_get_for_update(actor, task_id)
    if outcome not in (RecheckTask.Outcome.CONFIRMED, RecheckTask.Outcome.FALSE):
        message = _("复核结论只能是“整改属实”或“虚假整改/纸面整改”。")
        raise InvalidInput(message, fields={"outcome": [message]})
    finding = finding.strip()
    if len(finding) > FINDING_MAX_CHARS:
        message = _("复核发现不能超过 %(n)s 字。") % {"n": FINDING_MAX_CHARS}
        raise InvalidInput(message, fields={"finding": [message]})
    if outcome == RecheckTask.Outcome.FALSE and not finding:
        message = _("认定虚假整改须填写复核发现。")
        raise InvalidInput(message, fields={"finding": [message]})
    if not task.is_open:
        raise Conflict(
            _("该复核任务已认定为“%(outcome)s”。") % {"outcome": task.get_outcome_display()}
        )
    # A close reopened since it was drawn is no longer the close being re-checked: neither
    # outcome would be true of it (and a "confirmed" would count a passed check).
    if task.case.status != Status.COMPLETED:
        raise Conflict(_("该问题已不是销号状态，无需再复核；请待其重新销号后另行抽查。"))
    at = at or timezone.now()
    if outcome == RecheckTask.Outcome.FALSE:
        note = _("回头看复核认定虚假整改（%(lookback)s）：%(finding)s") % {
            "lookback": task.lookback.name,
            "finding": finding,
        }
        case_services.case_transition(
            actor=actor, case_id=task.case_id, to=Status.IN_PROGRESS, note=note, at=at
        )
    task.outcome, task.finding = outcome, finding
    task.decided_by, task.decided_at = actor, at
    task.save(update_fields=["outcome", "finding", "decided_by", "decided_at"])
    # A confirmed close leaves no history row on the case: the log says who confirmed it.
    audit_record(
        actor=actor,
        action=AuditEntry.Action.RECHECK_DECIDE,
        target=task,
        case=task.case_id,
        changes={"outcome": outcome},
        request=request,
    )
    return task


@transaction.atomic
def accountability_create(
    *,
    actor: Any,
    case_id: Any,
    person_name: str,
    unit_id: Any,
    measure: str,
    decided_on: date,
    document_number: str,
    person_title: str = "",
    note: str = "",
    recheck_id: Any = None,
    at: datetime | None = None,
    request: Any = None,
) -> AccountabilityRecord:
    """Record an accountability measure (问责) against a person of a unit, on a case the actor
    sees, or on one of its re-checks."""
    _require_overseer(actor)
    case = case_selectors.case_get_for_update(actor, case_id)
    recheck = None
    if recheck_id not in (None, ""):
        try:
            recheck = selectors.task_get(actor, recheck_id)
        except NotFound:
            recheck = None
        if recheck is None or recheck.case_id != case.pk:
            message = _("复核任务不属于该问题。")
            raise InvalidInput(message, fields={"recheck": [message]})
    errors: dict[str, list[str]] = {}
    if not person_name.strip():
        errors["person_name"] = [_("请填写被问责人。")]
    if measure not in AccountabilityRecord.Measure.values:
        errors["measure"] = [_("未知的问责方式。")]
    if not document_number.strip():
        errors["document_number"] = [_("请填写决定文号。")]
    if decided_on > timezone.localdate():
        errors["decided_on"] = [_("问责日期不能晚于今天。")]
    unit = _unit_in_scope(actor, unit_id)
    if unit is None:
        errors["unit"] = [_("请选择您管辖范围内的单位。")]
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], fields=errors)
    assert unit is not None  # noqa: S101 (for mypy: refused above)
    record = AccountabilityRecord.objects.create(
        case=case,
        recheck=recheck,
        person_name=person_name.strip(),
        person_title=person_title.strip(),
        unit=unit,
        measure=measure,
        decided_on=decided_on,
        document_number=document_number.strip(),
        note=note.strip(),
        recorded_by=actor,
        recorded_at=at or timezone.now(),
    )
    # The measure and the decision's number, not the person: the log is read more widely.
    audit_record(
        actor=actor,
        action=AuditEntry.Action.ACCOUNTABILITY_CREATE,
        target=record,
        case=case,
        changes={"measure": measure, "document_number": record.document_number},
        request=request,
    )
    return record


def _unit_in_scope(actor: Any, unit_id: Any) -> Unit | None:
    try:
        return case_selectors.visible_units(actor).filter(pk=unit_id).first()
    except (ValueError, TypeError):
        return None
