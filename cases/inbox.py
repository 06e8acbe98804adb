"""The inboxes (待办): work waiting for the user, read through the user's scope.

- 待我验收 `to_verify`: cases submitted for verification (待验收) to the user's side;
- 待上级协调 `escalated`: cases whose unit asked for higher-level coordination, addressed to
  the user's side;
- 延期申请 `extension_requests`: pending extension requests the user may decide.

"The user's side" is `extensions.supervising_side`: a supervisor whose own unit is the case's
supervising unit (or above it), never for a case of their own unit. Coordination of an
escalated case falls to the supervising unit's supervisors, as the escalation reminders do
(not to the parent unit of the responsible unit, which may be a government that does not
supervise the case). Inspectors, readers and unit administrators have empty inboxes.

Cost: the badges of the top bar (`GET /top-bar/`, which every page asks for once it has
loaded) are one query whatever the data (`top_bar_counts`: the unread notifications, and for
supervisors three counts in the same SELECT: the waiting cases of each kind, served by the
partial index `case_waiting_supervisor`, and the pending requests, served by their partial
index).
"""

from __future__ import annotations

from typing import Any

from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

from reminders import selectors as reminder_selectors

from . import selectors
from .extensions import label_requests, supervising_side
from .models import Case, ExtensionRequest
from .workflow import Role, Status

KINDS = ("to_verify", "escalated", "extension_requests")


class Inbox:
    """One user's inboxes; build it once a request (the scope is read once)."""

    def __init__(self, user: Any) -> None:
        self.user = user

    @cached_property
    def active(self) -> bool:
        return selectors.user_role(self.user) == Role.SUPERVISOR

    @cached_property
    def _cases(self) -> QuerySet[Case]:
        if not self.active:
            return Case.objects.none()
        return selectors.visible_cases(self.user).filter(supervising_side(self.user))

    def cases(self, kind: str) -> QuerySet[Case]:
        """`to_verify` or `escalated`, the longest waiting (earliest deadline) first."""
        status = {"to_verify": Status.SUBMITTED, "escalated": Status.ESCALATED}[kind]
        return (
            self._cases.filter(status=status)
            .select_related("inspection", "responsible_unit", "supervising_unit")
            .order_by("deadline", "id")
        )

    def extension_requests(self) -> QuerySet[ExtensionRequest]:
        """Pending requests of the cases waiting for the user, oldest first."""
        if not self.active:
            return ExtensionRequest.objects.none()
        return (
            ExtensionRequest.objects.filter(
                status=ExtensionRequest.Status.PENDING, case__in=self._cases.values("pk")
            )
            .select_related("case", "case__responsible_unit", "case__inspection")
            .select_related("requested_by__unit")
            .order_by("requested_at", "id")
        )

    def rows(self, kind: str) -> QuerySet:
        return self.extension_requests() if kind == "extension_requests" else self.cases(kind)

    @cached_property
    def counts(self) -> dict[str, int]:
        """{kind: number}: one query of three counts (`_count_at_once`)."""
        if not self.active:
            return dict.fromkeys(KINDS, 0)
        return _count_at_once(self.count_querysets())

    def count_querysets(self) -> dict[str, QuerySet]:
        """{kind: the rows `counts` counts} (of an active inbox)."""
        # The scope joined on the unit paths (`one=True`) rather than read as a list of unit
        # ids first: two queries fewer on every page, and the counts start from the few
        # waiting rows (the partial indexes), not from the scope.
        cases = selectors.visible_cases(self.user, one=True).filter(supervising_side(self.user))
        return {
            "to_verify": cases.filter(status=Status.SUBMITTED),
            "escalated": cases.filter(status=Status.ESCALATED),
            "extension_requests": ExtensionRequest.objects.filter(
                status=ExtensionRequest.Status.PENDING, case__in=cases.values("pk")
            ),
        }

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def top_bar_counts(user: Any) -> dict[str, int]:
    """The top bar's badges in one query: the unread notifications (`reminders.selectors`)
    and, for a supervisor, the inbox's waiting rows ({kind: number}, `total` their sum)."""
    box = Inbox(user)
    querysets = {"unread": reminder_selectors.unread(user)}
    if box.active:
        querysets.update(box.count_querysets())
    counts = _count_at_once(querysets)
    counts["total"] = sum(counts.get(kind, 0) for kind in KINDS)
    return counts


def _count_at_once(querysets: dict[str, QuerySet]) -> dict[str, int]:
    """{name: COUNT(*) of its queryset}, as one SELECT of scalar subqueries (one round trip)."""
    using = next(iter(querysets.values())).db
    selects, params = [], []
    for name, rows in querysets.items():
        sql, row_params = rows.order_by().values("pk").query.get_compiler(using=using).as_sql()
        # (The ORM's SQL with its values bound; the names are this module's.)
        selects.append(f"(SELECT COUNT(*) FROM ({sql}) AS counted) AS {name}")  # noqa: S608
        params.extend(row_params)
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(selects)}", params)
        row = cursor.fetchone()
    return dict(zip(querysets, row, strict=True))


def label(user: Any, requests: Any) -> list[ExtensionRequest]:
    """Requests with their people labelled as `user` may see them."""
    return label_requests(user, requests)
