"""The case page's rows (cases.views._case_context): each kind read once for a case the user
was given by `selectors.case_get`, and everyone on them labelled with one query
(`selectors.label_many`), as `selectors.case_history`, `selectors.case_evidence`,
`follow_ups.case_follow_ups` and the extension requests label them one kind at a time.

Queries: checklist, history, evidence, extension requests, and the follow-ups' readers (none
without follow-ups), then one for whose names the user may read (none when every person is
the user, or nobody). The evidence attached to a history row is taken from the case's
evidence (`CaseEvent.attached`), not read again.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, prefetch_related_objects

from . import follow_ups, selectors
from .extension_models import ExtensionRequest
from .follow_ups import FollowUpThread
from .models import Case, CaseEvent, CheckPoint, Evidence


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
    checklist_rows = CheckPoint.objects.select_related("confirmed_by__unit")
    prefetch_related_objects([case], Prefetch("checklist", queryset=checklist_rows))
    checklist = list(case.checklist.all())
    events = list(selectors.case_events(case))
    evidence = list(selectors.case_evidence_rows(case))
    by_event: dict[int, list[Evidence]] = defaultdict(list)
    for item in evidence:
        if item.event_id is not None:
            by_event[item.event_id].append(item)
    for event in events:
        event.attached = by_event.get(event.pk, [])  # type: ignore[attr-defined]
    requests = list(
        case.extension_requests.select_related("requested_by__unit", "decided_by__unit")
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
