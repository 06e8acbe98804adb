"""The case page's rows (cases.views._case_context): each kind read once for a case the user
was given by `selectors.case_get`, everyone on them read once (`_people`), and labelled with
one query (`selectors.label_many`), as `selectors.case_history`, `selectors.case_evidence`,
`follow_ups.case_follow_ups` and the extension requests label them one kind at a time.

Queries: checklist, history (with the unit each actor acted for), evidence, extension
requests, the people on them with their units, and the follow-ups' readers (none without
follow-ups), then one for whose names the user may read (none when every person is the user,
or nobody). The evidence attached to a history row is taken from the case's evidence
(`CaseEvent.attached`), not read again. The people are read apart rather than joined to each
kind: four joins of a person and a unit cost more to build than one read.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, prefetch_related_objects

from . import follow_ups, selectors
from .extension_models import ExtensionRequest
from .follow_ups import FollowUpThread
from .models import Case, CaseEvent, CheckPoint, Evidence, User


@dataclass
class CaseRecords:
    checklist: list[CheckPoint]
    events: list[CaseEvent]
    evidence: list[Evidence]
    extension_requests: list[ExtensionRequest]
    follow_ups: list[FollowUpThread]


def case_records(user: Any, case: Case) -> CaseRecords:
    """The rows of `case` (read through `selectors.case_get` for `user`), labelled for `user`.

    The checklist is kept on the case (`case.checklist.all()`), so that the workflow form
    reads the same rows."""
    prefetch_related_objects([case], Prefetch("checklist", queryset=CheckPoint.objects.all()))
    checklist = list(case.checklist.all())
    # (Their people are read once for all the kinds below, not joined to each.)
    events = list(selectors.case_events(case).select_related(None).select_related("actor_unit"))
    evidence = list(selectors.case_evidence_rows(case).select_related(None))
    by_event: dict[int, list[Evidence]] = defaultdict(list)
    for item in evidence:
        if item.event_id is not None:
            by_event[item.event_id].append(item)
    for event in events:
        event.attached = by_event.get(event.pk, [])  # type: ignore[attr-defined]
    requests = list(case.extension_requests.all())
    _people(
        [
            (checklist, "confirmed_by"),
            (events, "actor"),
            (evidence, "uploaded_by"),
            (requests, "requested_by"),
            (requests, "decided_by"),
        ]
    )
    threads = follow_ups.open_threads(events)
    readers = follow_ups.thread_readers(case, threads)
    selectors.label_many(
        user,
        [
            (checklist, "confirmed_by", ""),
            (events, "actor", "actor_unit"),
            (evidence, "uploaded_by", ""),
            (requests, "requested_by", ""),
            (requests, "decided_by", ""),
            (readers, "recipient", ""),
        ],
    )
    return CaseRecords(
        checklist=checklist,
        events=events,
        evidence=evidence,
        extension_requests=requests,
        follow_ups=follow_ups.finish_threads(threads, readers),
    )


def _people(groups: list[tuple[list[Any], str]]) -> None:
    """Set each row's person `field` (a foreign key to User), with the person's unit, from
    one query for all of them."""
    ids = {getattr(row, f"{field}_id") for rows, field in groups for row in rows}
    ids.discard(None)
    people = User.objects.select_related("unit").in_bulk(ids) if ids else {}
    for rows, field in groups:
        for row in rows:
            setattr(row, field, people.get(getattr(row, f"{field}_id")))
