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

Cost: the counts of the top bar are four queries whatever the data (the scope's unit ids and
their number, as `selectors.visible_cases` reads them; one conditional COUNT of the waiting
cases, served by the partial index `case_waiting_supervisor`; one COUNT of the pending
requests, served by their partial index). Nothing for anyone but supervisors.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils.functional import cached_property

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
        """{kind: number}: two COUNT queries after the scope."""
        if not self.active:
            return dict.fromkeys(KINDS, 0)
        waiting = self._cases.filter(status__in=[Status.SUBMITTED, Status.ESCALATED])
        figures = waiting.aggregate(
            to_verify=Count("pk", filter=Q(status=Status.SUBMITTED)),
            escalated=Count("pk", filter=Q(status=Status.ESCALATED)),
        )
        figures["extension_requests"] = self.extension_requests().count()
        return figures

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def label(user: Any, requests: Any) -> list[ExtensionRequest]:
    """Requests with their people labelled as `user` may see them."""
    return label_requests(user, requests)
