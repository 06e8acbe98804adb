"""Reading a ledger's rows into a plan: which case each row is, what its cells mean, what it
refers to (inspection, problem, unit, person) and which service calls would make the tracker
match it.

Matching only: whether a change is allowed (a move, closing, an item under a problem, a unit
or person in scope, a done case's fields…) is decided by the services when the plan is carried
out (`carrying.py`). What the rows refer to is read through the user-scoped selectors, a few
queries for the whole file, never one per row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _

from cases import selectors as case_selectors
from cases.models import Case, Inspection, Unit, User
from cases.workflow import Status

from ..columns import BY_KEY, normalise
from .cells import (
    choices_text,
    chunks,
    comparable,
    labels,
    parse_amount,
    parse_date,
    status_path,
    yes_no,
)
from .plan import Plan, RowPlan

MAX_CODE = Case._meta.get_field("code").max_length or 64
MAX_TITLE = Case._meta.get_field("title").max_length or 300
# case_update_details' fields: (argument, column).
DETAILS = (
    ("title", "title"),
    ("description", "description"),
    ("source", "source"),
    ("method", "method"),
    ("is_key_problem", "key_problem"),
    ("amount", "amount"),
)

Problem = Callable[[str, str], None]  # (column, message)


def read_plan(user: Any, columns: list[str], rows: list[dict[str, Any]]) -> Plan:
    """Each row of a read ledger as the service calls it asks for, or its problems."""
    return _Reader(user, columns, rows).run()


class _Reader:
    def __init__(self, user: Any, columns: list[str], rows: list[dict[str, Any]]) -> None:
        self.user = user
        self.present = set(columns)
        self.rows = rows
        self.plan = Plan()
        self.seen: dict[str, int] = {}  # code -> the row that used it first
        self.statuses = labels(Status.choices)
        self.methods = labels(Case.Method.choices)
        self.sources = labels(Case.Source.choices)
        self.yes_no = yes_no()
        self._load()

    def _load(self) -> None:
        """Everything the rows refer to, in a few queries for the whole file."""

        def values(key: str) -> set[str]:
            return {comparable(r["values"].get(key, "")) for r in self.rows} - {""}

        self.cases: dict[str, Case] = {}
        visible = case_selectors.visible_cases(self.user)
        for chunk in chunks(sorted(values("code") | values("parent"))):
            for case in visible.filter(code__in=chunk).select_related(
                "inspection", "responsible_unit", "owner__unit", "parent"
            ):
                self.cases[case.code] = case
        names = values("unit")
        names |= {part.strip() for name in names for part in re.split(r"[/／]", name)}
        # Every unit of these names: one outside the user's scope goes to the service, which
        # refuses it in its words; the user's own units win when a name repeats.
        self.units: dict[str, list[Unit]] = {}
        for unit in Unit.objects.filter(name__in=names).select_related("parent"):
            self.units.setdefault(unit.name, []).append(unit)
        self.own_units = set(
            case_selectors.visible_units(self.user)
            .filter(name__in=names)
            .values_list("pk", flat=True)
        )
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

    def problem(self, row: RowPlan, column: str, message: str) -> None:
        label = str(BY_KEY[column].label) if column else ""
        self.plan.problems.append(
            {"row": row.row, "code": row.code, "column": label, "message": message}
        )

    def run(self) -> Plan:
        for entry in self.rows:
            values = {key: comparable(text) for key, text in entry["values"].items()}
            row = RowPlan(row=entry["row"], code=values.get("code", ""))
            if self._identify(row):
                self._row(row, values)
        return self.plan

    def _row(self, row: RowPlan, values: dict[str, str]) -> None:
        """Read the row's cells and references; a row that reads cleanly becomes calls."""
        before = len(self.plan.problems)
        read = self._cells(row, values)
        read.update(self._references(row, values))
        # A new case's deadline defaults to the end of its inspection's rectification period
        # (`case_create`); without one, the cell is required.
        inspection = read.get("inspection")
        default = inspection.rectification_deadline if inspection is not None else None
        if row.case is None and not values.get("deadline") and default is None:
            self.problem(row, "deadline", _("缺少整改时限。"))
        self._status(row, values)
        if len(self.plan.problems) > before:
            return
        if row.case is None:
            self._plan_create(row, read)
        else:
            self._plan_update(row, row.case, read)
        self.plan.rows.append(row)

    # --- Steps ---------------------------------------------------------------------------

    def _identify(self, row: RowPlan) -> bool:
        """The row's case by its code (None: a new one), or why the code cannot be used."""
        code = row.code
        if not code:
            self.problem(row, "code", _("缺少问题编号。"))
        elif len(code) > MAX_CODE:
            self.problem(row, "code", _("问题编号超过 %(max)s 个字符。") % {"max": MAX_CODE})
        elif code in self.seen:
            message = _("问题编号在文件中重复（与第 %(row)s 行相同）。") % {"row": self.seen[code]}
            self.problem(row, "code", message)
        else:
            self.seen[code] = row.row
            row.case = case = self.cases.get(code)
            if case is not None:
                row.current = row.target = case.status
                row.is_item = case.parent is not None
                row.parent_code = case.parent.code if case.parent else ""
            return True
        return False

    def _cells(self, row: RowPlan, values: dict[str, str]) -> dict[str, Any]:
        """The row's own fields, parsed: only those of columns the file has (a new case needs
        title and deadline). A missing column leaves its field alone."""
        new = row.case is None
        given = self.present.__contains__
        read: dict[str, Any] = {}

        def problem(column: str, message: str) -> None:
            self.problem(row, column, message)

        if given("title") or new:
            read["title"] = values.get("title", "")
            if len(read["title"]) > MAX_TITLE:
                problem("title", _("问题标题超过 %(max)s 个字。") % {"max": MAX_TITLE})
        for key in ("description", "measures", "progress"):
            if given(key):
                read[key] = values.get(key, "")
        read.update(self._choices(values, problem))
        if given("key_problem"):
            read["is_key_problem"] = self.yes_no.get(normalise(values.get("key_problem", "")))
            if read["is_key_problem"] is None:
                problem("key_problem", _("“是否重点难点”请填“是”或“否”。"))
        if given("amount"):
            text = values.get("amount", "")
            read["amount"] = parse_amount(text) if text else None
            if text and read["amount"] is None:
                problem("amount", _("涉及金额“%(value)s”不是有效的非负金额。") % {"value": text})
        if given("deadline") or new:
            text = values.get("deadline", "")
            read["deadline"] = parse_date(text)
            if not text and not new:
                problem("deadline", _("缺少整改时限。"))
            elif text and read["deadline"] is None:
                problem(
                    "deadline",
                    _("整改时限“%(value)s”不是有效日期（如 2024-06-30）。") % {"value": text},
                )
        return read

    def _choices(self, values: dict[str, str], problem: Problem) -> dict[str, Any]:
        """问题来源 and 整改方式, by label (any language) or code."""
        read: dict[str, Any] = {}
        if values.get("source"):
            read["source"] = self.sources.get(normalise(values["source"]))
            if read["source"] is None:
                problem(
                    "source",
                    _("未知的问题来源“%(value)s”，可填：%(valid)s。")
                    % {"value": values["source"], "valid": choices_text(Case.Source)},
                )
        if "method" in self.present:
            text = values.get("method", "")
            read["method"] = self.methods.get(normalise(text)) if text else ""
            if read["method"] is None:
                problem(
                    "method",
                    _("未知的整改方式“%(value)s”，可填：%(valid)s。")
                    % {"value": text, "valid": choices_text(Case.Method)},
                )
        return read

    def _references(self, row: RowPlan, values: dict[str, str]) -> dict[str, Any]:
        """所属检查, 所属问题编号, 责任单位 and 责任人 as objects."""
        case = row.case
        read: dict[str, Any] = {}

        def problem(column: str, message: str) -> None:
            self.problem(row, column, message)

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
            read["inspection"] = self._inspection(ref, problem)
        read.update(self._parent(row, values.get("parent", ""), problem))
        unit = case.responsible_unit if case is not None else None
        if "unit" in self.present or case is None:
            name = values.get("unit", "")
            unit = self._unit(name, case, problem) if name else None
            read["responsible_unit"] = unit
            if not name:
                problem("unit", _("缺少责任单位。"))
        if "owner" in self.present:
            name = values.get("owner", "")
            read["owner"] = self._owner(name, unit, case, problem) if name and unit else None
        return read

    def _parent(self, row: RowPlan, ref: str, problem: Problem) -> dict[str, Any]:
        """An item's problem: an existing case, or one registered by an earlier row."""
        if row.case is not None:
            if ref and ref != row.parent_code:
                problem("parent", _("已有问题不能通过导入改变所属问题。"))
            return {}
        if not ref:
            return {}
        row.is_item, row.parent_code = True, ref
        parent = self.cases.get(ref)
        if parent is None and self.seen.get(ref, row.row) == row.row:
            problem(
                "parent",
                _("未找到所属问题“%(code)s”（须为已有问题或本文件前面各行登记的问题）。")
                % {"code": ref},
            )
        return {"parent": parent}

    def _status(self, row: RowPlan, values: dict[str, str]) -> None:
        """整改状态: the moves to make, along the ordinary flow. Where it has no way there,
        the move as asked, for `case_transition` to refuse in its own words."""
        text = values.get("status", "")
        if not text:
            return
        target = self.statuses.get(normalise(text))
        if target is None:
            self.problem(
                row,
                "status",
                _("未知的整改状态“%(value)s”，可填：%(valid)s。")
                % {"value": text, "valid": choices_text(Status)},
            )
            return
        row.target = target
        path = status_path(row.current, target)
        row.path = [target] if path is None else path

    def _plan_create(self, row: RowPlan, read: dict[str, Any]) -> None:
        row.create = {
            "code": row.code,
            "inspection": read["inspection"],
            "title": read["title"],
            "description": read.get("description", ""),
            "source": read.get("source") or Case.Source.CITY_FEEDBACK,
            "parent": read.get("parent"),
            "responsible_unit": read["responsible_unit"],
            "owner": read.get("owner"),
            "deadline": read["deadline"],
            "measures": read.get("measures", ""),
            "method": read.get("method", ""),
            "is_key_problem": bool(read.get("is_key_problem")),
            "amount": read.get("amount"),
        }
        if read.get("progress"):
            row.rectification["progress"] = read["progress"]
        if row.path:
            row.fields.append(_("整改状态：%(target)s") % {"target": Status(row.target).label})

    def _plan_update(self, row: RowPlan, case: Case, read: dict[str, Any]) -> None:
        """An existing case: only what differs becomes a call."""

        def differs(column: str, new_value: Any, old_value: Any) -> bool:
            if new_value != old_value:
                row.fields.append(str(BY_KEY[column].label))
                return True
            return False

        for key, column in DETAILS:
            old = getattr(case, key)
            old = comparable(old) if key in ("title", "description") else old
            if key in read and differs(column, read[key], old):
                row.details[key] = read[key]
        for key in ("measures", "progress"):
            if key in read and differs(key, read[key], comparable(getattr(case, key))):
                row.rectification[key] = read[key]
        if read.get("deadline") is not None and read["deadline"] != case.deadline:
            row.deadline = read["deadline"]
            row.fields.append(
                _("整改时限：%(old)s → %(new)s") % {"old": case.deadline, "new": row.deadline}
            )
        unit, owner = read.get("responsible_unit"), read.get("owner")
        if unit is not None and differs("unit", unit.pk, case.responsible_unit_id):
            row.assign["responsible_unit"] = unit
            if "owner" in read:
                row.assign["owner"] = owner
        elif "owner" in read and differs("owner", owner.pk if owner else None, case.owner_id):
            row.assign["owner"] = owner
        if row.path:
            row.fields.append(
                _("整改状态：%(source)s → %(target)s")
                % {"source": Status(row.current).label, "target": Status(row.target).label}
            )

    # --- Lookups -------------------------------------------------------------------------

    def _inspection(self, ref: str, problem: Problem) -> Inspection | None:
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

    def _unit(self, name: str, case: Case | None, problem: Problem) -> Unit | None:
        """The unit of that exact name ("上级单位/单位" when names repeat): the case's own,
        else the user's, else one outside the user's scope (for `case_create` or
        `case_assign` to refuse)."""
        if case is not None and name == case.responsible_unit.name:
            return case.responsible_unit
        candidates = self.units.get(name, [])
        if not candidates and ("/" in name or "／" in name):
            parent_name, _slash, own = name.replace("／", "/").rpartition("/")
            candidates = [
                unit
                for unit in self.units.get(own.strip(), [])
                if unit.parent is not None and unit.parent.name == parent_name.strip()
            ]
        if case is not None and case.responsible_unit in candidates:
            return case.responsible_unit
        mine = [unit for unit in candidates if unit.pk in self.own_units]
        if len(mine) == 1 or (candidates and not mine):
            return (mine or candidates)[0]
        if mine:
            problem(
                "unit", _("有多个名为“%(name)s”的单位，请写成“上级单位/单位”。") % {"name": name}
            )
        else:
            problem(
                "unit",
                _("未找到责任单位“%(name)s”（须为您管辖范围内单位的准确名称）。") % {"name": name},
            )
        return None

    def _owner(self, name: str, unit: Unit, case: Case | None, problem: Problem) -> User | None:
        """The person of that name or user name among the user's people: one of `unit` (or
        under it) first; else someone elsewhere, for the service to refuse in its words."""
        current = case.owner if case is not None else None
        if current is not None and _answers_to(current, name) and _works_in(current, unit):
            return current  # unchanged, even if not among the user's visible people
        named = [person for person in self.people if _answers_to(person, name)]
        in_unit = [person for person in named if _works_in(person, unit)]
        if len(in_unit) == 1 or (named and not in_unit):
            return (in_unit or named)[0]
        if in_unit:
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


def _answers_to(person: User, name: str) -> bool:
    return name in (person.get_full_name(), person.username)


def _works_in(person: User, unit: Unit) -> bool:
    return person.unit is not None and person.unit.path.startswith(unit.path)
