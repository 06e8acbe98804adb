"""Checking an imported ledger and planning what it changes, then carrying the plan out.

`plan_import` reads what the rows refer to through the user-scoped selectors (a few queries
for the whole file, never one per row) and writes nothing: it gives, row by row, the problems
that forbid the import and the service calls that would make the tracker match the file.
`apply_plan` makes those calls: every change goes through `cases.services`, which lock, check
again and write history, so an import is recorded exactly as the same edits made on the case
page. A row that says what the tracker already holds plans no call at all: re-importing a
file, or importing an export, writes nothing.

Matching rules:
- a row is the case with the same 问题编号 among the cases the user may see; a new code
  registers a case (a code used by a case outside the user's scope is refused);
- 责任单位 by exact name among the user's visible units ("上级单位/单位" when names repeat);
  所属检查 by name or code among visible inspections; 责任人 by name or user name among the
  unit's people; 整改状态, 整改方式 and 问题来源 by their labels (or codes);
- where a name fits several, the case's current unit/owner wins (an export reads back as is);
- a missing column leaves that field alone; an empty cell clears an optional field.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cases import selectors as case_selectors
from cases import services as case_services
from cases.errors import DomainError
from cases.models import Case, CheckPoint, Inspection, Unit, User
from cases.workflow import DONE_STATES, MOVES, Status, moves_for

from .columns import BY_KEY, in_every_language, normalise
from .workbook import clean_text

# The note on every history row an import writes. History is shared data, kept in the
# language of the ledgers rather than in the importer's page language.
IMPORT_NOTE = "台账导入"
# A status path may pass through the ordinary flow only: an import never escalates or exempts
# a case on the way to somewhere else.
WAYPOINTS = frozenset({Status.IN_PROGRESS, Status.SUBMITTED})
MAX_CODE = Case._meta.get_field("code").max_length or 64
MAX_TITLE = Case._meta.get_field("title").max_length or 300
CHUNK = 1000


@dataclass
class RowPlan:
    row: int
    code: str
    case: Case | None = None  # the existing case; None for a new one
    create: dict[str, Any] | None = None  # case_create's arguments
    parent_code: str = ""  # the problem of an item (existing, or registered by this file)
    details: dict[str, Any] = field(default_factory=dict)
    rectification: dict[str, str] = field(default_factory=dict)
    deadline: date | None = None
    assign: dict[str, Any] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)  # statuses to move through, in order
    fields: list[str] = field(default_factory=list)  # what changes, for the preview
    is_item: bool = False
    current: str = Status.OPEN
    target: str = Status.OPEN

    @property
    def reopens(self) -> bool:
        """Moves from done to not done: before any other change (a done case takes none)."""
        return self.current in DONE_STATES and self.target not in DONE_STATES

    @property
    def action(self) -> str:
        if self.create is not None:
            return "create"
        changed = self.details or self.rectification or self.deadline or self.assign
        return "update" if changed or self.path else ""


@dataclass
class Plan:
    rows: list[RowPlan] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def changed(self) -> list[RowPlan]:
        return [row for row in self.rows if row.action]

    def changes(self) -> list[dict[str, Any]]:
        return [
            {"row": r.row, "code": r.code, "action": r.action, "fields": r.fields}
            for r in self.changed
        ]


class RowFailed(Exception):
    """A service refused a row while the plan was being carried out (the import is undone)."""

    def __init__(self, row: int, code: str, message: str) -> None:
        super().__init__(message)
        self.row, self.code, self.message = row, code, message


# --- Cell parsing --------------------------------------------------------------------------


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
    cleaned = re.sub(r"[,，\s元¥￥]", "", text)
    try:
        amount = Decimal(cleaned).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and abs(amount) < Decimal(10) ** 14 else None


def _labels(choices: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """normalised label (any language) or code -> code."""
    found: dict[str, str] = {}
    for value, label in choices:
        found[normalise(value)] = value
        for name in in_every_language(label):
            found.setdefault(name, value)
    return found


YES, NO = gettext_lazy("是"), gettext_lazy("否")


def _yes_no() -> dict[str, bool]:
    found = {name: True for name in in_every_language(YES)}
    found.update({name: False for name in in_every_language(NO)})
    found.update({n: True for n in ("是", "yes", "y", "true", "1", "√", "✓", "✔")})
    found.update({n: False for n in ("否", "no", "n", "false", "0", "×", "✗", "")})
    return found


def status_path(source: str, target: str, role: Any) -> list[str] | None:
    """The shortest legal way from `source` to `target` for `role`, through the ordinary flow
    only; [] when already there, None when there is none."""
    if source == target:
        return []
    queue: deque[tuple[str, list[str]]] = deque([(source, [])])
    seen = {source}
    while queue:
        state, path = queue.popleft()
        for move in moves_for(state, role):
            if move.target == target:
                return [*path, move.target]
            if move.target in WAYPOINTS and move.target not in seen:
                seen.add(move.target)
                queue.append((move.target, [*path, move.target]))
    return None


# --- Planning ------------------------------------------------------------------------------


class _Planner:
    def __init__(self, user: Any, columns: list[str], rows: list[dict[str, Any]]) -> None:
        self.user = user
        self.role = case_selectors.user_role(user)
        self.present = set(columns)
        self.rows = rows
        self.plan = Plan()
        self.statuses = _labels(Status.choices)
        self.methods = _labels(Case.Method.choices)
        self.sources = _labels(Case.Source.choices)
        self.yes_no = _yes_no()
        self._load()

    # Everything the rows refer to, in a few queries for the whole file.
    def _load(self) -> None:
        def values(key: str) -> set[str]:
            return {comparable(r["values"].get(key, "")) for r in self.rows} - {""}

        codes = values("code")
        self.cases: dict[str, Case] = {}
        points = (
            CheckPoint.objects.filter(case=OuterRef("pk"), confirmed=False)
            .order_by()
            .values("case")
            .annotate(n=Count("pk"))
            .values("n")
        )
        visible = case_selectors.visible_cases(self.user)
        for chunk in _chunks(sorted(codes | values("parent"))):
            for case in (
                visible.filter(code__in=chunk)
                .select_related("inspection", "responsible_unit", "owner__unit", "parent")
                .annotate(
                    open_points=Coalesce(Subquery(points, output_field=IntegerField()), Value(0))
                )
            ):
                self.cases[case.code] = case
        # Codes taken by cases the user may not see: a new row must not claim them (the
        # service would refuse at the end; the preview says so first).
        self.hidden: set[str] = set()
        for chunk in _chunks(sorted(codes - set(self.cases))):
            self.hidden.update(Case.objects.filter(code__in=chunk).values_list("code", flat=True))

        names = values("unit")
        parts = {part.strip() for name in names for part in re.split(r"[/／]", name)}
        self.units: dict[str, list[Unit]] = {}
        for unit in (
            case_selectors.visible_units(self.user)
            .filter(name__in=names | parts)
            .select_related("parent")
        ):
            self.units.setdefault(unit.name, []).append(unit)

        refs = values("inspection")
        self.inspections = list(
            case_selectors.visible_inspections(self.user).filter(
                Q(name__in=refs) | Q(code__in=refs)
            )
        )
        owners = values("owner")
        self.people = list(
            case_selectors.visible_users(self.user)
            .filter(
                Q(full_name__in=owners)
                | Q(username__in=owners)
                | Q(full_name="", first_name__in={o.split(" ")[0] for o in owners})
            )
            .select_related("unit")
        )

    def problem(self, row: int, code: str, column: str, message: str) -> None:
        label = str(BY_KEY[column].label) if column else ""
        self.plan.problems.append({"row": row, "code": code, "column": label, "message": message})

    def run(self) -> Plan:
        seen: dict[str, int] = {}
        for entry in self.rows:
            self._row(entry["row"], entry["values"], seen)
        self._check_items()
        return self.plan

    def _row(self, number: int, raw: dict[str, str], seen: dict[str, int]) -> None:
        values = {key: comparable(text) for key, text in raw.items()}
        code = values.get("code", "")
        problems_before = len(self.plan.problems)

        def problem(column: str, message: str) -> None:
            self.problem(number, code, column, message)

        if not code:
            return problem("code", _("缺少问题编号。"))
        if len(code) > MAX_CODE:
            return problem("code", _("问题编号超过 %(max)s 个字符。") % {"max": MAX_CODE})
        if code in seen:
            return problem(
                "code", _("问题编号在文件中重复（与第 %(row)s 行相同）。") % {"row": seen[code]}
            )
        seen[code] = number
        case = self.cases.get(code)
        if case is None and code in self.hidden:
            return problem("code", _("问题编号“%(code)s”不可用，请换一个编号。") % {"code": code})
        plan = RowPlan(row=number, code=code, case=case)
        new = case is None

        def given(key: str) -> bool:
            return key in self.present

        # Title and description.
        title = values.get("title", "")
        if (given("title") or new) and not title:
            problem("title", _("缺少问题标题。"))
        elif len(title) > MAX_TITLE:
            problem("title", _("问题标题超过 %(max)s 个字。") % {"max": MAX_TITLE})

        # Inspection: required for a new case, unchangeable for an existing one.
        inspection = None
        ref = values.get("inspection", "")
        if case is not None:
            if ref and ref not in (case.inspection.name, case.inspection.code):
                problem(
                    "inspection",
                    _("已有问题不能通过导入改变所属检查（系统中为“%(name)s”）。")
                    % {"name": case.inspection.name},
                )
        elif not ref:
            problem("inspection", _("缺少所属检查。"))
        else:
            inspection = self._inspection(ref, problem)

        source = None
        if values.get("source"):
            source = self.sources.get(normalise(values["source"]))
            if source is None:
                problem(
                    "source",
                    _("未知的问题来源“%(value)s”，可填：%(valid)s。")
                    % {"value": values["source"], "valid": _choices(Case.Source)},
                )

        # Parent problem: only for registering a new item.
        parent: Case | None = None
        parent_ref = values.get("parent", "")
        if case is not None:
            if parent_ref and parent_ref != (case.parent.code if case.parent else ""):
                problem("parent", _("已有问题不能通过导入改变所属问题。"))
            plan.is_item = case.parent is not None
            plan.parent_code = case.parent.code if case.parent else ""
        elif parent_ref:
            plan.is_item = True
            plan.parent_code = parent_ref
            parent = self.cases.get(parent_ref)
            if parent is None and parent_ref in seen and seen[parent_ref] != number:
                pass  # registered by an earlier row of this file
            elif parent is None:
                problem(
                    "parent",
                    _("未找到所属问题“%(code)s”（须为已有问题或本文件前面各行登记的问题）。")
                    % {"code": parent_ref},
                )
            elif parent.parent_id is not None:
                problem("parent", _("事项下不能再分事项。"))
            elif inspection is not None and parent.inspection_id != inspection.pk:
                problem("parent", _("事项须与所属问题属于同一检查。"))

        key_problem = None
        if given("key_problem"):
            key_problem = self.yes_no.get(normalise(values.get("key_problem", "")))
            if key_problem is None:
                problem("key_problem", _("“是否重点难点”请填“是”或“否”。"))

        amount: Decimal | None = None
        if values.get("amount"):
            amount = parse_amount(values["amount"])
            if amount is None or amount < 0:
                problem(
                    "amount",
                    _("涉及金额“%(value)s”不是有效的非负金额。") % {"value": values["amount"]},
                )

        unit = case.responsible_unit if case is not None else None
        if given("unit") or new:
            if not values.get("unit"):
                problem("unit", _("缺少责任单位。"))
                unit = None
            else:
                unit = self._unit(values["unit"], case, problem)

        owner: User | None = case.owner if case is not None else None
        if given("owner") and values.get("owner") and unit is not None:
            owner = self._owner(values["owner"], unit, case, problem)
        elif given("owner"):
            owner = None

        deadline = case.deadline if case is not None else None
        if given("deadline") or new:
            text = values.get("deadline", "")
            deadline = parse_date(text) if text else None
            if not text:
                problem("deadline", _("缺少整改时限。"))
            elif deadline is None:
                problem(
                    "deadline",
                    _("整改时限“%(value)s”不是有效日期（如 2024-06-30）。") % {"value": text},
                )

        method = None
        if given("method"):
            text = values.get("method", "")
            method = self.methods.get(normalise(text)) if text else ""
            if method is None:
                problem(
                    "method",
                    _("未知的整改方式“%(value)s”，可填：%(valid)s。")
                    % {"value": values["method"], "valid": _choices(Case.Method)},
                )

        plan.current = case.status if case is not None else Status.OPEN
        plan.target = plan.current
        if values.get("status"):
            target = self.statuses.get(normalise(values["status"]))
            if target is None:
                problem(
                    "status",
                    _("未知的整改状态“%(value)s”，可填：%(valid)s。")
                    % {"value": values["status"], "valid": _choices(Status)},
                )
            else:
                plan.target = target
                path = status_path(plan.current, target, self.role)
                if path is None:
                    problem(
                        "status",
                        _("不能从“%(source)s”变更为“%(target)s”：没有合法的状态流转。")
                        % {"source": Status(plan.current).label, "target": Status(target).label},
                    )
                else:
                    plan.path = path

        if len(self.plan.problems) > problems_before:
            return

        measures = values.get("measures") if given("measures") else None
        progress = values.get("progress") if given("progress") else None
        if case is None:
            assert inspection is not None and unit is not None and deadline is not None  # noqa: S101 (for mypy: a new row missing one was refused above)
            plan.create = {
                "code": code,
                "inspection": inspection,
                "title": title,
                "description": values.get("description", ""),
                "source": source or Case.Source.CITY_FEEDBACK,
                "parent": parent,
                "responsible_unit": unit,
                "owner": owner,
                "deadline": deadline,
                "measures": measures or "",
                "method": method or "",
                "is_key_problem": bool(key_problem),
                "amount": amount,
            }
            if progress:
                plan.rectification["progress"] = progress
            if plan.path:
                plan.fields.append(
                    _("整改状态：%(target)s") % {"target": Status(plan.target).label}
                )
            self.plan.rows.append(plan)
            return

        # An existing case: only what differs becomes a call.
        def differs(key: str, new_value: Any, old_value: Any) -> bool:
            if new_value != old_value:
                plan.fields.append(str(BY_KEY[key].label))
                return True
            return False

        if given("title") and differs("title", title, comparable(case.title)):
            plan.details["title"] = title
        if given("description"):
            text = values.get("description", "")
            if differs("description", text, comparable(case.description)):
                plan.details["description"] = text
        if source is not None and differs("source", source, case.source):
            plan.details["source"] = source
        if method is not None and differs("method", method, case.method):
            plan.details["method"] = method
        if key_problem is not None and differs("key_problem", key_problem, case.is_key_problem):
            plan.details["is_key_problem"] = key_problem
        if given("amount") and differs("amount", amount, case.amount):
            plan.details["amount"] = amount
        for key, given_text in (("measures", measures), ("progress", progress)):
            if given_text is not None and differs(key, given_text, comparable(getattr(case, key))):
                plan.rectification[key] = given_text
        if deadline is not None and deadline != case.deadline:
            plan.deadline = deadline
            plan.fields.append(
                _("整改时限：%(old)s → %(new)s") % {"old": case.deadline, "new": deadline}
            )
        if unit is not None and differs("unit", unit.pk, case.responsible_unit_id):
            plan.assign["responsible_unit"] = unit
            if given("owner"):
                plan.assign["owner"] = owner
        elif given("owner") and differs("owner", owner.pk if owner else None, case.owner_id):
            plan.assign["owner"] = owner
        if plan.path:
            plan.fields.append(
                _("整改状态：%(source)s → %(target)s")
                % {"source": Status(plan.current).label, "target": Status(plan.target).label}
            )

        was_done, will_be_done = plan.current in DONE_STATES, plan.target in DONE_STATES
        if (plan.rectification or plan.deadline) and was_done and will_be_done:
            problem(
                "status",
                _(
                    "已办结的问题不能修改整改措施、完成情况或整改时限；如需修改，请将整改状态改为“整改中”。"
                ),
            )
        closes = any(
            MOVES[(Status(src), Status(dst))].verifies
            for src, dst in zip([plan.current, *plan.path], plan.path, strict=False)
        )
        open_points = getattr(case, "open_points", 0)
        if closes and open_points:
            problem(
                "status",
                _("有 %(n)s 个验收要点尚未确认，请在问题页面逐项确认后销号。") % {"n": open_points},
            )
        self.plan.rows.append(plan)

    def _inspection(self, ref: str, problem: Callable[[str, str], None]) -> Inspection | None:
        by_code = [i for i in self.inspections if i.code == ref]
        by_name = [i for i in self.inspections if i.name == ref]
        if by_code:
            return by_code[0]
        if len(by_name) == 1:
            return by_name[0]
        if by_name:
            problem("inspection", _("有多个名为“%(name)s”的检查，请填写检查编号。") % {"name": ref})
        else:
            problem(
                "inspection",
                _("未找到检查“%(name)s”（按名称或编号，须在您的管辖范围内）。") % {"name": ref},
            )
        return None

    def _unit(
        self, name: str, case: Case | None, problem: Callable[[str, str], None]
    ) -> Unit | None:
        if case is not None and name == case.responsible_unit.name:
            # Unchanged, even when the unit lies outside the user's units (a case the
            # commission supervises elsewhere).
            return case.responsible_unit
        candidates = self.units.get(name, [])
        if not candidates and ("/" in name or "／" in name):
            # "上级单位/单位" for a name that repeats under several parents.
            parent_name, _slash, own = name.replace("／", "/").rpartition("/")
            candidates = [
                unit
                for unit in self.units.get(own.strip(), [])
                if unit.parent is not None and unit.parent.name == parent_name.strip()
            ]
        if case is not None and case.responsible_unit in candidates:
            return case.responsible_unit
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            problem(
                "unit", _("有多个名为“%(name)s”的单位，请写成“上级单位/单位”。") % {"name": name}
            )
        else:
            problem(
                "unit",
                _("未找到责任单位“%(name)s”（须为您管辖范围内单位的准确名称）。") % {"name": name},
            )
        return None

    def _owner(
        self, name: str, unit: Unit, case: Case | None, problem: Callable[[str, str], None]
    ) -> User | None:
        current = case.owner if case is not None else None
        if _answers_to(current, name, unit):
            return current  # unchanged, even if not among the user's visible people
        candidates = [person for person in self.people if _answers_to(person, name, unit)]
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            problem(
                "owner",
                _("“%(unit)s”有多个名为“%(name)s”的人员，请填写用户名。")
                % {"unit": unit.name, "name": name},
            )
        else:
            problem(
                "owner",
                _("未找到责任人“%(name)s”（须为“%(unit)s”或其下级单位的人员）。")
                % {"unit": unit.name, "name": name},
            )
        return None

    def _check_items(self) -> None:
        """What the services check about items, over the whole file and in the order
        `apply_plan` follows: an item is added or reopened only under a problem that is open
        by then, and a problem closes only when all its items are done."""
        by_code = {row.code: row for row in self.plan.rows}
        left: dict[str, int] = {}
        for row in self.plan.rows:
            if not row.is_item:
                continue
            was_done = row.case is not None and row.current in DONE_STATES
            will_be_done = row.target in DONE_STATES
            if row.case is None:
                left[row.parent_code] = left.get(row.parent_code, 0) + (not will_be_done)
            else:
                change = int(was_done and not will_be_done) - int(will_be_done and not was_done)
                left[row.parent_code] = left.get(row.parent_code, 0) + change
            parent_row, parent = by_code.get(row.parent_code), self.cases.get(row.parent_code)
            # Problems reopen before items are written and close after them.
            parent_done = (
                parent is not None
                and parent.status in DONE_STATES
                and not (parent_row is not None and parent_row.reopens)
            )
            if (row.case is None or (was_done and not will_be_done)) and parent_done:
                self.problem(
                    row.row,
                    row.code,
                    "parent",
                    _("所属问题已办结：请先（或在本文件中同时）将所属问题的整改状态改为“整改中”。"),
                )
        for row in self.plan.rows:
            if row.is_item or row.target not in DONE_STATES or not row.path:
                continue
            remaining = left.get(row.code, 0)
            if row.case is not None:
                remaining += row.case.items_total - row.case.items_done
            if remaining > 0:
                self.problem(
                    row.row,
                    row.code,
                    "status",
                    _("还有 %(left)s 个事项未完成，全部完成后才能办结该问题。")
                    % {"left": remaining},
                )


def _answers_to(person: User | None, name: str, unit: Unit) -> bool:
    """`person` goes by `name` (or has it as user name) and works in `unit` or under it."""
    return (
        person is not None
        and person.unit is not None
        and person.unit.path.startswith(unit.path)
        and name in (person.get_full_name(), person.username)
    )


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _choices(choices: Any) -> str:
    return "、".join(str(label) for label in choices.labels)


def plan_import(user: Any, columns: list[str], rows: list[dict[str, Any]]) -> Plan:
    """Check every row of a read ledger against the tracker, as `user` would import it."""
    return _Planner(user, columns, rows).run()


# --- Carrying the plan out -----------------------------------------------------------------


def apply_plan(plan: Plan, *, actor: Any, on_row: Callable[[int], None] | None = None) -> None:
    """Make the plan's service calls in an order the workflow accepts: problems first (a
    problem reopens before its items do), then items, then the moves of problems that close
    (once their items are done). The caller holds the transaction; a refusal raises RowFailed
    naming the row."""
    made: dict[str, Case] = {}
    closing: list[tuple[RowPlan, int]] = []
    changed = plan.changed
    ordered = [r for r in changed if not r.is_item] + [r for r in changed if r.is_item]
    for done, row in enumerate(ordered, 1):
        with _row_errors(row):
            case_id = _apply_row(row, actor=actor, made=made)
            if row.path and not row.reopens:
                if not row.is_item and row.target in DONE_STATES:
                    closing.append((row, case_id))
                else:
                    _walk(row, case_id, actor=actor)
        if on_row is not None:
            on_row(done)
    for row, case_id in closing:
        with _row_errors(row):
            _walk(row, case_id, actor=actor)


@contextmanager
def _row_errors(row: RowPlan) -> Iterator[None]:
    try:
        yield
    except DomainError as error:
        raise RowFailed(row.row, row.code, error.message) from None


def _walk(row: RowPlan, case_id: int, *, actor: Any) -> None:
    for status in row.path:
        case_services.case_transition(actor=actor, case_id=case_id, to=status, note=IMPORT_NOTE)


def _apply_row(row: RowPlan, *, actor: Any, made: dict[str, Case]) -> int:
    if row.create is not None:
        arguments = dict(row.create)
        if row.is_item and arguments["parent"] is None:
            arguments["parent"] = made[row.parent_code]  # registered by an earlier row
        case = case_services.case_create(actor=actor, **arguments)
        made[row.code] = case
        case_id = case.pk
    else:
        assert row.case is not None  # noqa: S101 (for mypy: a row either creates or updates)
        case_id = row.case.pk
    if row.path and row.reopens:
        _walk(row, case_id, actor=actor)
    if row.details:
        case_services.case_update_details(actor=actor, case_id=case_id, **row.details)
    if row.rectification:
        case_services.case_update_rectification(
            actor=actor,
            case_id=case_id,
            measures=row.rectification.get("measures"),
            progress=row.rectification.get("progress"),
        )
    if row.deadline is not None:
        case_services.case_extend_deadline(
            actor=actor, case_id=case_id, deadline=row.deadline, reason=IMPORT_NOTE
        )
    if row.assign:
        case_services.case_assign(actor=actor, case_id=case_id, note=IMPORT_NOTE, **row.assign)
    return case_id
