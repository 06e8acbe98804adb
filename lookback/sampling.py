"""Drawing a look-back's sample, so that anyone can draw it again and get the same cases.

The population is the starter's visible closed problems (`population`) ordered by id; the
sample is `random.Random(seed).sample(ids, size)`. The seed, the filters, the population's ids
and the drawn ids are stored on the look-back, so an auditor re-draws it (`redraw`) from the
record alone, and can compare the population with what the filters give today.
"""

from __future__ import annotations

import math
import random
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext as _

from cases import selectors as case_selectors
from cases.completion import end_of_day
from cases.errors import InvalidInput
from cases.models import Case
from cases.workflow import Status

from .models import LookBack, RecheckTask

# Seeds are stored in a signed 64-bit column.
SEED_BITS = 62


@dataclass(frozen=True)
class Filters:
    inspection: int | None = None
    unit: int | None = None  # the responsible unit or any unit under it
    region: int | None = None
    closed_before: date | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "inspection": self.inspection,
            "unit": self.unit,
            "region": self.region,
            "closed_before": self.closed_before.isoformat() if self.closed_before else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Filters:
        before = data.get("closed_before")
        return cls(
            inspection=data.get("inspection"),
            unit=data.get("unit"),
            region=data.get("region"),
            closed_before=date.fromisoformat(before) if before else None,
        )


def population(user: Any, filters: Filters) -> QuerySet[Case]:
    """The closed problems (销号, items excluded: a problem is re-checked whole) `user` may see,
    narrowed by `filters`, without those already under an open re-check; ordered by id."""
    cases = case_selectors.visible_cases(user).filter(status=Status.COMPLETED, parent__isnull=True)
    if filters.inspection is not None:
        cases = cases.filter(inspection_id=filters.inspection)
    if filters.unit is not None:
        cases = cases.filter(
            case_selectors.in_unit_subtree_of_id(filters.unit, "responsible_unit_id")
        )
    if filters.region is not None:
        cases = cases.filter(region_id=filters.region)
    if filters.closed_before is not None and filters.closed_before < date.max:
        cases = cases.filter(closed_at__lt=end_of_day(filters.closed_before))
    open_recheck = RecheckTask.objects.filter(
        case_id=OuterRef("pk"), outcome=RecheckTask.Outcome.PENDING
    )
    return cases.exclude(Exists(open_recheck)).order_by("id")


def new_seed() -> int:
    return secrets.randbits(SEED_BITS)


def sample_size(population_size: int, *, size: int | None, percentage: int | None) -> int:
    """How many to draw: a number, or a percentage of the population rounded up (at least one
    case of a population that has any)."""
    if (size is None) == (percentage is None):
        message = _("请填写抽样数量或抽样比例（二选一）。")
        raise InvalidInput(message, fields={"size": [message]})
    if percentage is not None:
        if not 1 <= percentage <= 100:
            message = _("抽样比例须在 1% 到 100% 之间。")
            raise InvalidInput(message, fields={"percentage": [message]})
        return math.ceil(population_size * percentage / 100)
    assert size is not None  # noqa: S101 (for mypy: refused above)
    if size < 1:
        message = _("抽样数量至少为 1。")
        raise InvalidInput(message, fields={"size": [message]})
    if size > population_size:
        message = _("抽样数量（%(size)s）超过了符合条件的已销号问题数（%(total)s）。") % {
            "size": size,
            "total": population_size,
        }
        raise InvalidInput(message, fields={"size": [message]})
    return size


def draw(ids: list[int], seed: int, size: int) -> list[int]:
    """The sample: the one rule, for the draw and every re-draw."""
    return random.Random(seed).sample(sorted(ids), size)  # noqa: S311 (reproducible, not secret)


def redraw(lookback: LookBack) -> list[int]:
    """The look-back's sample drawn again from its record: equal to `drawn_ids` unless the
    record was altered."""
    return draw(list(lookback.population_ids), lookback.seed, len(lookback.drawn_ids))
