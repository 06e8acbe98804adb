"""Reading a ledger's cells: text as compared with the tracker, dates, amounts, labels, yes/no,
and the way from one status to another through the ordinary flow.

Parsing only: what a cell means. Whether the change it asks for is allowed is for the services.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_lazy

from cases.workflow import MOVES, Status

from ..columns import in_every_language, normalise
from ..sheetrows import clean_text

# A status path may pass through the ordinary flow only: an import never escalates or exempts
# a case on the way to somewhere else.
WAYPOINTS = frozenset({Status.IN_PROGRESS, Status.SUBMITTED})
CHUNK = 1000

YES, NO = gettext_lazy("是"), gettext_lazy("否")


def comparable(value: str) -> str:
    """Text as compared with what the tracker holds: what a spreadsheet keeps of it."""
    return clean_text(value).replace("\r\n", "\n").replace("\r", "\n").strip()


_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$"
)
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def parse_date(text: str) -> date | None:
    match = _DATE.match(text) or _COMPACT_DATE.match(text)
    if not match:
        return None
    try:
        day = date(*(int(part) for part in match.groups()))
    except ValueError:
        return None
    # A day number typed as a year, or a typo: no deadline of this tracker lies there.
    return day if 1990 <= day.year <= 2100 else None


def parse_amount(text: str) -> Decimal | None:
    """An amount as offices type it (1,234.5元); None when it is not a number. Whether a
    negative one may be stored is the services' rule."""
    cleaned = re.sub(r"[,，\s元¥￥]", "", text)
    try:
        amount = Decimal(cleaned).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and abs(amount) < Decimal(10) ** 14 else None


def labels(choices: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """normalised label (any language) or code -> code."""
    found: dict[str, str] = {}
    for value, label in choices:
        found[normalise(value)] = value
        for name in in_every_language(label):
            found.setdefault(name, value)
    return found


def yes_no() -> dict[str, bool]:
    found = {name: True for name in in_every_language(YES)}
    found.update({name: False for name in in_every_language(NO)})
    found.update({n: True for n in ("是", "yes", "y", "true", "1", "√", "✓", "✔")})
    found.update({n: False for n in ("否", "no", "n", "false", "0", "×", "✗", "")})
    return found


def choices_text(choices: Any) -> str:
    return "、".join(str(label) for label in choices.labels)


def status_path(source: str, target: str) -> list[str] | None:
    """The shortest way from `source` to `target` in the workflow's table, through the
    ordinary flow only; [] when already there, None when there is none. Who may make each
    move, and with what, is checked by `case_transition` when the import makes it."""
    if source == target:
        return []
    queue: deque[tuple[str, list[str]]] = deque([(source, [])])
    seen = {source}
    while queue:
        state, path = queue.popleft()
        for move in MOVES.values():
            if move.source != state:
                continue
            if move.target == target:
                return [*path, move.target]
            if move.target in WAYPOINTS and move.target not in seen:
                seen.add(move.target)
                queue.append((move.target, [*path, move.target]))
    return None


def chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]
