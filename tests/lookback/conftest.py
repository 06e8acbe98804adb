"""Fixtures of the look-back tests: closed problems in two counties (and one on the restricted
clue ledger), as the services leave them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from cases import grants
from cases.models import Case
from lookback import sampling, services
from lookback.models import LookBack
from tests.factories import World, drive_to


@dataclass
class Ledger:
    world: World
    closed_a: list[Case]  # 甲县局: closed
    closed_b: list[Case]  # 乙县局: closed
    open_a: Case  # 甲县局: still open (never drawn)
    restricted: Case  # 甲县局, on the clue ledger: closed

    @property
    def closed(self) -> list[Case]:
        return [*self.closed_a, *self.closed_b, self.restricted]


def close(world: World, unit: Any, **kwargs: Any) -> Case:
    return drive_to(world.case(unit, **kwargs), "completed", world.supervisor)


@pytest.fixture
def ledger(world) -> Ledger:
    return Ledger(
        world,
        closed_a=[close(world, world.unit_a) for _ in range(6)],
        closed_b=[close(world, world.unit_b) for _ in range(4)],
        open_a=world.case(world.unit_a),
        restricted=close_restricted(world),
    )


def close_restricted(world: World) -> Case:
    """A closed case of 甲县局 on the clue ledger: its inspector moves it while the ledger is
    granted to 甲县局, and sees it no more once the grant is revoked."""
    grant = grants.restricted_grant_create(
        actor=world.supervisor, inspection_id=world.restricted.pk, unit_id=world.unit_a.pk,
        reason="测试：整改期间授权",
    )  # fmt: skip
    case = close(world, world.unit_a, inspection=world.restricted)
    grants.restricted_grant_revoke(actor=world.supervisor, grant_id=grant.pk, reason="测试")
    return case


def in_days(n: int) -> Any:
    return timezone.localdate() + timedelta(days=n)


def start(actor: Any, checker: Any, **kwargs: Any) -> LookBack:
    """A look-back through the service; `filters` as keyword arguments of sampling.Filters."""
    filters = sampling.Filters(
        **{
            k: kwargs.pop(k)
            for k in ("inspection", "unit", "region", "closed_before")
            if k in kwargs
        }
    )
    kwargs.setdefault("name", "2026年回头看")
    kwargs.setdefault("deadline", in_days(10))
    if "size" not in kwargs and "percentage" not in kwargs:
        kwargs["size"] = 3
    return services.lookback_start(actor=actor, checker_id=checker.pk, filters=filters, **kwargs)
