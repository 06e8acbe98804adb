"""Synthetic scale data: a province of units, its inspections, N cases and their history.

    python manage.py generate_cases --cases 1000000 --seed 1 [--today 2025-06-30] [--jobs N]

A loader, not an interactive write: no service is called per row. Units, users and inspections
(about a thousand rows) go in with `bulk_create`; cases, their history and checklists are
generated in blocks of an inspection's problems (`BLOCK`) and written

- on PostgreSQL with COPY, on the command's own connection and transaction. All case ids are
  reserved from the table's sequence first; then `--jobs` worker processes (forked; by
  default one per CPU from 20000 cases, none below) generate the blocks, hash-chain their
  history and format them as COPY text, while the command sends the finished ones, in order,
  a batch (`--batch-size` cases or more) at a time. The workers never touch the database;
  a worker's failure stops the run with an error and nothing is written. For a large load
  (`--constraints auto`: at least 50000 cases and at least as many as the table holds;
  `rebuild` forces it) the foreign keys and secondary indexes of the three tables COPY
  writes to are dropped for the load and the roll-up triggers (`tally.load_triggers()`) disabled;
  all are created or enabled again at the end, in the same transaction: an index built
  once costs a fraction of one maintained row by row, and adding a foreign key checks all
  rows in one query instead of a trigger per row. That locks the case tables (and those
  they refer to) until the commit: it is for scale and staging databases. `--constraints
  keep` leaves them in place (no exclusive locks; a million cases take about twice as
  long). The completion roll-ups are then recounted and the tables analysed;
- elsewhere (SQLite), or with `--portable`, with `bulk_create` in batches, generated in the
  command's process.

Units, users and inspections are drawn from `random.Random(seed)`; each block of cases from a
stream of its own derived from (seed, inspection, block), so blocks can be generated in any
process and in any order. Everything is dated relative to `--today` (default: today), so one
seed and one day give the same content (codes, titles, statuses, deadlines, unit names,
histories) in any database, by either path, with any `--jobs` and `--batch-size`; only the ids
differ. Every moment lies before the start of `--today`. The whole load is one transaction: it
writes everything or nothing.

The province root is named "合成省（种子S）", every code starts with "HC<S>-" and every user
name with "hc<S>-", so runs with different seeds live side by side. A run whose seed is already
present is refused before anything is written.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import threading
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Generator as Gen
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from itertools import accumulate
from typing import Any, NamedTuple

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from cases import tally
from cases.history_chain import FastChain
from cases.models import Case, CaseEvent, CheckPoint, Inspection, Unit, User
from cases.workflow import DONE_STATES, MOVES, Role, Status

OPEN = Status.OPEN.value
IN_PROGRESS = Status.IN_PROGRESS.value
SUBMITTED = Status.SUBMITTED.value
COMPLETED = Status.COMPLETED.value
ESCALATED = Status.ESCALATED.value
EXEMPTED = Status.EXEMPTED.value
DONE = frozenset(s.value for s in DONE_STATES)
# The moves only a supervisor may make (close, return, exempt, reopen); the others are the
# responsible unit's.
SUPERVISOR_MOVES = frozenset(
    (a.value, b.value) for (a, b), move in MOVES.items() if Role.INSPECTOR not in move.roles
)

DAY = 86400
CITY_COUNT = 11

CITY_NAMES = [
    "东川市",
    "西陵市",
    "南屏市",
    "北原市",
    "中阳市",
    "清河市",
    "云岭市",
    "临江市",
    "长丰市",
    "安平市",
    "远山市",
]
NAME_STEMS = list("平安清河永宁丰泽长乐新和兴广福康明华泰顺昌盛嘉禾德云阳高")
COUNTY_SUFFIXES = ["县", "县", "县", "区", "市"]
DEPARTMENTS = [
    "发展和改革委员会",
    "教育局",
    "科学技术局",
    "工业和信息化局",
    "公安局",
    "民政局",
    "司法局",
    "财政局",
    "人力资源和社会保障局",
    "自然资源局",
    "生态环境局",
    "住房和城乡建设局",
    "交通运输局",
    "水务局",
    "农业农村局",
    "商务局",
    "文化和旅游局",
    "卫生健康委员会",
    "退役军人事务局",
    "应急管理局",
    "审计局",
    "市场监督管理局",
    "行政审批服务管理局",
    "医疗保障局",
    "林业局",
    "能源局",
    "统计局",
    "城市管理局",
]
TOPICS = [
    "优化营商环境",
    "惠民惠农财政补贴资金",
    "工程建设项目招投标",
    "耕地保护",
    "安全生产",
    "政务服务",
    "乡村振兴",
    "生态环境保护",
    "国有资产管理",
    "医保基金使用",
]
PROBLEMS = [
    "政府采购程序不规范",
    "专项资金拨付滞后",
    "项目审批超过法定时限",
    "违规发放津贴补贴",
    "公务用车管理不严格",
    "台账资料不完整",
    "惠民资金发放不及时",
    "招投标环节监管缺位",
    "行政许可事项未进驻政务服务大厅",
    "违规占用耕地问题未整改到位",
    "安全隐患排查整治不彻底",
    "办事指南未按要求公示",
    "财务报销手续不完备",
    "工程款拖欠问题未解决",
    "群众反映问题办理不及时",
    "形式主义官僚主义问题突出",
    "执法检查流于形式",
    "国有资产出租出借管理混乱",
    "债务化解工作推进缓慢",
    "干部作风问题整治不到位",
]
ITEM_PHRASES = [
    "取水许可",
    "建设工程消防验收",
    "公路超限运输许可",
    "食品生产许可",
    "医疗机构执业登记",
    "排污许可",
    "燃气经营许可",
    "特种设备使用登记",
    "户外广告设置审批",
    "城市道路占用挖掘许可",
    "水土保持方案审批",
    "人防工程建设审批",
    "采矿权登记",
    "林草种子生产经营许可",
]
MEASURES = [
    "制定整改方案，明确责任人和完成时限。",
    "开展专项排查，建立问题台账，逐项销号。",
    "修订完善相关制度，堵塞管理漏洞。",
    "组织集中约谈，压实主体责任。",
    "对相关责任人进行批评教育，举一反三开展自查。",
]
PROGRESS = [
    "已完成问题排查，正在推进整改。",
    "已制定整改方案，完成部分整改任务。",
    "整改工作有序推进，已完成约一半。",
    "主体整改任务已完成，正在完善佐证材料。",
    "已召开专题会议研究部署整改工作。",
    "已完成制度修订，正在组织落实。",
]
NOTES = {
    "submit": ["整改完成，申请验收销号。", "已按要求整改到位，佐证材料已上传，申请销号。"],
    "return": ["佐证材料不充分，退回继续整改。", "整改不到位，退回重新整改。"],
    "escalate": ["涉及跨部门事项，提请上级协调。", "需上级政策支持，提请协调解决。"],
    "exempt": ["经研究纳入负面清单，不予整改。", "经核实不属于整改范围，不予整改。"],
    "reopen": ["复查发现问题反弹，重新整改。"],
    "close": ["经验收，整改到位，予以销号。", ""],
    "start": [""],
    "resume": [""],
}
DEADLINE_REASONS = [
    "涉及审批程序，需延长整改时限。",
    "受客观因素影响，经批准延期。",
    "整改任务量大，申请延期。",
]
CHECKS = [
    "窗口是否真正运行",
    "网上信息是否公布",
    "一次性告知书、办事指南是否公示",
    "整改资金是否足额到位",
    "相关制度是否印发执行",
    "现场核查是否整改到位",
]
SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗")
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "涛",
    "明",
    "超",
    "秀英",
    "建华",
    "志强",
    "海燕",
    "丽娟",
]

SPECIAL = Inspection.Kind.SPECIAL.value
TOUR = Inspection.Kind.TOUR.value
PLAN = Inspection.Kind.PLAN.value
KEY_PROBLEMS = Inspection.Kind.KEY_PROBLEMS.value
CLUE_LEDGER = Inspection.Kind.CLUE_LEDGER.value
METHODS = list(Case.Method.values)
SELF_FOUND = Case.Source.SELF_FOUND.value
PROVINCE_FEEDBACK = Case.Source.PROVINCE_FEEDBACK.value
CITY_FEEDBACK = Case.Source.CITY_FEEDBACK.value

SUPERVISOR, INSPECTOR = "supervisor", "inspector"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# History `changes` are written as JSON text; the common ones are built once.
STATUS_CHANGES = {(a.value, b.value): _json({"status": [a.value, b.value]}) for a, b in MOVES}
MOVE_NAMES = {(a.value, b.value): move.name for (a, b), move in MOVES.items()}
NO_CHANGES = "{}"
# A move's row, looked up once: (its possible notes, changes JSON, who makes it, whether it
# goes into or out of a done state).
MOVE_ROWS = {
    move: (
        NOTES[MOVE_NAMES[move]],
        STATUS_CHANGES[move],
        SUPERVISOR if move in SUPERVISOR_MOVES else INSPECTOR,
        (move[0] in DONE) != (move[1] in DONE),
    )
    for move in STATUS_CHANGES
}
# A story's rows other than moves (moves are numbered from 0).
RECTIFICATION, DEADLINE = -1, -2


def _slot(extra: tuple[int, int]) -> int:
    return extra[0]


class Path(NamedTuple):
    """The statuses a case goes through after `open`, with the index of its first done
    status (its length if none) and of its first `in_progress` one."""

    statuses: tuple[str, ...]
    first_done: int
    first_in_progress: int | None


def _path(*statuses: str) -> Path:
    first_done = next((i for i, s in enumerate(statuses) if s in DONE), len(statuses))
    first_ip = next((i for i, s in enumerate(statuses) if s == IN_PROGRESS), None)
    return Path(statuses, first_done, first_ip)


PATHS = {
    path.statuses: path
    for path in (
        _path(),
        _path(ESCALATED, OPEN),
        _path(IN_PROGRESS),
        _path(IN_PROGRESS, SUBMITTED, IN_PROGRESS),
        _path(IN_PROGRESS, ESCALATED, IN_PROGRESS),
        _path(IN_PROGRESS, SUBMITTED),
        _path(IN_PROGRESS, SUBMITTED, IN_PROGRESS, SUBMITTED),
        _path(ESCALATED),
        _path(IN_PROGRESS, ESCALATED),
        _path(IN_PROGRESS, SUBMITTED, IN_PROGRESS, SUBMITTED, COMPLETED),
        _path(IN_PROGRESS, SUBMITTED, COMPLETED, IN_PROGRESS, SUBMITTED, COMPLETED),
        _path(IN_PROGRESS, SUBMITTED, COMPLETED),
        _path(EXEMPTED),
        _path(IN_PROGRESS, EXEMPTED),
        _path(ESCALATED, EXEMPTED),
        _path(IN_PROGRESS, SUBMITTED, EXEMPTED),
    )
}


@dataclass
class Area:
    """A province, city or county-level area: its government unit, commission, departments."""

    unit: Unit
    commission: Unit
    departments: list[Unit] = field(default_factory=list)
    counties: list[Area] = field(default_factory=list)
    supervisors: list[User] = field(default_factory=list)

    def responsible_units(self) -> list[Unit]:
        units = list(self.departments)
        for county in self.counties:
            units.append(county.unit)
            units.extend(county.departments)
        return units


@dataclass
class Feed:
    """One inspection and what its cases are drawn from."""

    inspection: Inspection
    area: Area
    offset: int  # created_at, in seconds from the start of `today`
    count: int = 0  # cases to generate, items included
    units: list[Unit] = field(default_factory=list)  # the units its cases are assigned to
    cum: list[float] = field(default_factory=list)  # their cumulative weights


# Problems per block. A block (with its problems' items) is drawn from a random stream of its
# own, derived from (seed, inspection, block): blocks can be generated in any order and in any
# process, and the content does not depend on how many processes do it. Changing this changes
# the content of every seed.
BLOCK = 500


class Stream(random.Random):
    """`random.Random` with a cheaper `choice` and `randint` (one draw of `random()` each,
    rather than rejection sampling on bits): they are called for every case and event."""

    def choice(self, seq: Any) -> Any:
        return seq[int(self.random() * len(seq))]

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))


def stream(seed: int, *where: int) -> Stream:
    """The random stream of one part of the content. A text seed is hashed (SHA-512) into the
    generator's state: stable across runs, processes and platforms."""
    return Stream(":".join(str(n) for n in (seed, *where)))


@dataclass(slots=True)
class Block:
    """Problems `first + 1` .. `first + len(sizes)` of one inspection (`feed`, its index in
    `Generator.feeds`), the `index`-th block of it: their sizes (1 + items) and creation
    moments, and, when their ids are reserved in advance (COPY), the case ids as runs
    (first, last) to give out in generation order."""

    feed: int
    index: int
    first: int
    sizes: list[int]
    created: list[int]
    ids: list[tuple[int, int]] = field(default_factory=list)


# A history row: (kind, from_status, to_status, deadline ordinal | None, was_overdue,
# changes JSON, note, "supervisor" | "inspector", offset).
Row = tuple[str, str, str, "int | None", bool, str, str, str, int]


@dataclass
class Story:
    """A case's history after its `created` row, and what the case row keeps of it."""

    status: str
    rows: list[Row]
    deadline: int  # ordinal of the deadline in force at the end
    closed: int | None  # offset of the move that closed it, if it is done
    overdue_at_close: bool
    first_done: int | None
    last: int
    done_changes: list[int]  # offsets of the moves into or out of a done state
    measures: str
    progress: str
    checked: int | None  # offset of the checklist confirmation (the first close)


@dataclass(slots=True, eq=False)
class CaseRec:
    """A case to be written. Moments are offsets (seconds from the start of `today`), dates
    are ordinals; the writers turn them into rows."""

    code: str
    title: str
    description: str
    inspection_id: int
    source: str
    responsible_unit_id: int
    owner_id: int | None
    supervising_unit_id: int
    region_id: int | None
    original_deadline: int
    amount: str | None
    created: int
    checklist: list[str]
    id: int = 0  # known once written
    parent: CaseRec | None = None
    method: str = ""
    is_key_problem: bool = False
    items_total: int = 0
    items_done: int = 0
    supervisor_id: int = 0  # who registered it and makes the supervisors' moves
    head: str = ""  # hash of its last history row, once the history is built
    length: int = 0  # history rows
    story: Story = field(init=False)
    updated: int = field(init=False)


class Clock:
    """Offsets (seconds from the start of `today`, local time) to dates and moments."""

    def __init__(self, today: date) -> None:
        self.today = today
        self.today_ord = today.toordinal()
        self.base = timezone.make_aware(datetime.combine(today, dtime.min))
        self.base_utc = self.base.astimezone(UTC).replace(tzinfo=None)
        self._dates: dict[int, date] = {}
        self._isos: dict[int, str] = {}
        self._utc_day0 = self.base_utc.date().toordinal()
        self._utc_shift = (
            self.base_utc - datetime.combine(self.base_utc.date(), dtime.min)
        ).seconds
        self._utc_days: dict[int, tuple[str, str]] = {}
        seconds = [
            f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)
        ]
        self._clock_texts = [f"{hms}+00" for hms in seconds]
        self._chain_texts = [f"{hms}.000000Z" for hms in seconds]

    def at(self, offset: int) -> datetime:
        """The moment, in UTC (offsets count real seconds, as `utc_text` does)."""
        return (self.base_utc + timedelta(seconds=offset)).replace(tzinfo=UTC)

    def _day_prefixes(self, day: int) -> tuple[str, str]:
        iso = date.fromordinal(self._utc_day0 + day).isoformat()
        prefixes = self._utc_days[day] = (f"{iso} ", f"{iso}T")
        return prefixes

    def utc_text(self, offset: int) -> str:
        """The moment as PostgreSQL timestamptz text, in UTC ("2025-06-01 02:03:04+00")."""
        day, second = divmod(offset + self._utc_shift, DAY)
        prefixes = self._utc_days.get(day) or self._day_prefixes(day)
        return prefixes[0] + self._clock_texts[second]

    def moment_texts(self, offset: int) -> tuple[str, str]:
        """The moment as `utc_text` gives it and as the history's hash chain takes it
        (`history_chain.moment_text`: "2025-06-01T02:03:04.000000Z")."""
        day, second = divmod(offset + self._utc_shift, DAY)
        prefixes = self._utc_days.get(day) or self._day_prefixes(day)
        return prefixes[0] + self._clock_texts[second], prefixes[1] + self._chain_texts[second]

    def day_of(self, offset: int) -> int:
        """The local date (ordinal) of a moment. `base` is a local midnight and no DST shift
        is assumed within the generated span (true of China Standard Time)."""
        return self.today_ord + offset // DAY

    def date(self, ordinal: int) -> date:
        value = self._dates.get(ordinal)
        if value is None:
            value = self._dates[ordinal] = date.fromordinal(ordinal)
        return value

    def iso(self, ordinal: int) -> str:
        value = self._isos.get(ordinal)
        if value is None:
            value = self._isos[ordinal] = date.fromordinal(ordinal).isoformat()
        return value


HistoryRow = tuple[str, str, str, "int | None", bool, str, str, "int | None", "int | None", int]


def history(rec: CaseRec) -> Iterator[HistoryRow]:
    """Every history row of a case, `created` first: (kind, from, to, deadline, was_overdue,
    changes, note, actor_id, actor_unit_id, offset). Supervisors' moves are made by the
    supervisor who registered the case, for the supervising commission; the others by the
    owner (if any) for the responsible unit."""
    sup, supervising = rec.supervisor_id, rec.supervising_unit_id
    owner, unit = rec.owner_id, rec.responsible_unit_id
    created_changes = _json({"checklist": [None, rec.checklist]}) if rec.checklist else NO_CHANGES
    yield (
        "created",
        "",
        OPEN,
        rec.original_deadline,
        False,
        created_changes,
        "",
        sup,
        supervising,
        rec.created,
    )
    for kind, from_status, to_status, deadline, late, changes, note, role, moment in rec.story.rows:
        if role == SUPERVISOR:
            yield (
                kind,
                from_status,
                to_status,
                deadline,
                late,
                changes,
                note,
                sup,
                supervising,
                moment,
            )
        else:
            yield (kind, from_status, to_status, deadline, late, changes, note, owner, unit, moment)


class Generator:
    """Units, users and inspections are drawn from `random.Random(seed)`, in the command's
    process; each inspection's cases then block by block (`BLOCK`), each from its own stream,
    in the command's process or in worker processes (forked: they inherit the generator)."""

    def __init__(self, *, seed: int, today: date, cases: int, batch: int) -> None:
        self.rng = random.Random(seed)  # the stream in use (replaced block by block)
        self.seed = seed
        self.clock = Clock(today)
        self.today_ord = self.clock.today_ord
        self.total = cases
        self.batch = batch
        # The latest moment anything happens: just before the start of `today`.
        self.end = -60
        self.prefix = f"HC{seed}-"
        self.user_prefix = f"hc{seed}-"
        self.root_name = f"合成省（种子{seed}）"
        self.counts = {
            "units": 0,
            "users": 0,
            "inspections": 0,
            "cases": 0,
            "events": 0,
            "checkpoints": 0,
        }
        self.inspectors: dict[int, User] = {}  # by id() of the unit object
        self.cities: list[Area] = []
        self.feeds: list[Feed] = []
        self._rect_changes: dict[tuple[str, str, str], str] = {}

    def person(self) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)

    # --- checks ------------------------------------------------------------------------
    def refuse_if_present(self) -> None:
        if Unit.objects.filter(parent__isnull=True, name=self.root_name).exists():
            raise CommandError(
                f"“{self.root_name}” already exists: seed {self.seed} has been generated in "
                "this database. Nothing was written. Use another --seed (runs with different "
                "seeds coexist)."
            )
        taken = (
            Inspection.objects.filter(code__startswith=self.prefix).exists()
            or Case.objects.filter(code__startswith=self.prefix).exists()
            or User.objects.filter(username__startswith=self.user_prefix).exists()
        )
        if taken:
            raise CommandError(
                f"Codes or user names of seed {self.seed} ({self.prefix}…, "
                f"{self.user_prefix}…) are already in use. Nothing was written. Use another "
                "--seed."
            )

    # --- units -------------------------------------------------------------------------
    def _insert_level(self, units: list[Unit]) -> None:
        Unit.objects.bulk_create(units)
        for unit in units:
            parent = unit.parent
            unit.path = f"{parent.path if parent else '/'}{unit.pk}/"
            if unit.level == Unit.Level.COUNTY:
                unit.region = unit
            elif parent is not None:
                unit.region_id = parent.region_id
        self.counts["units"] += len(units)

    def _departments(self, area: Unit, count: int) -> list[Unit]:
        return [
            Unit(name=f"{area.name}{name}", parent=area, level=Unit.Level.DEPARTMENT)
            for name in self.rng.sample(DEPARTMENTS, count)
        ]

    @staticmethod
    def _commission(area: Unit) -> Unit:
        return Unit(
            name=f"{area.name}纪委监委",
            parent=area,
            level=Unit.Level.DEPARTMENT,
            is_supervising_body=True,
            is_responsible_unit=False,
        )

    def build_units(self) -> Area:
        """Level by level: each level's ids come back from `bulk_create`, then paths and
        regions are computed from the parents' and written with one `bulk_update`."""
        rng = self.rng
        root = Unit(name=self.root_name, level=Unit.Level.PROVINCE)
        self._insert_level([root])
        province = Area(unit=root, commission=self._commission(root))
        city_units = [
            Unit(name=name, parent=root, level=Unit.Level.CITY) for name in CITY_NAMES[:CITY_COUNT]
        ]
        self._insert_level([province.commission, *city_units])

        level3: list[Unit] = []
        for city_unit in city_units:
            city = Area(
                unit=city_unit,
                commission=self._commission(city_unit),
                departments=self._departments(city_unit, rng.randint(7, 9)),
            )
            names: list[str] = []
            count = rng.randint(9, 11)
            while len(names) < count:
                name = (
                    city_unit.name[0]
                    + rng.choice(NAME_STEMS)
                    + rng.choice(NAME_STEMS)
                    + rng.choice(COUNTY_SUFFIXES)
                )
                if name not in names and name[1] != name[2]:
                    names.append(name)
            city.counties = [
                Area(
                    unit=Unit(name=name, parent=city_unit, level=Unit.Level.COUNTY),
                    commission=Unit(),
                )
                for name in names
            ]
            level3 += [city.commission, *city.departments, *(c.unit for c in city.counties)]
            self.cities.append(city)
        self._insert_level(level3)

        level4: list[Unit] = []
        for city in self.cities:
            for county in city.counties:
                county.commission = self._commission(county.unit)
                county.departments = self._departments(county.unit, rng.randint(5, 7))
                level4 += [county.commission, *county.departments]
        self._insert_level(level4)

        Unit.objects.bulk_update(
            [root, province.commission, *city_units, *level3, *level4],
            ["path", "region"],
            batch_size=500,
        )
        # The province's inspections go to the cities' and counties' units.
        province.departments = [d for city in self.cities for d in city.departments]
        province.counties = [county for city in self.cities for county in city.counties]
        return province

    # --- users -------------------------------------------------------------------------
    def build_users(self, province: Area) -> None:
        """Two supervisors in the provincial and in each city commission, an inspector in six
        units of each city. One unusable password for all: no hashing per user."""
        password = make_password(None)
        users: list[User] = []

        def user(name: str, unit: Unit, role: str) -> User:
            account = User(
                username=self.user_prefix + name,
                unit=unit,
                role=role,
                full_name=self.person(),
                password=password,
            )
            users.append(account)
            return account

        for k in (1, 2):
            province.supervisors.append(user(f"p-sup{k}", province.commission, Role.SUPERVISOR))
        for index, city in enumerate(self.cities, 1):
            for k in (1, 2):
                city.supervisors.append(
                    user(f"c{index:02d}-sup{k}", city.commission, Role.SUPERVISOR)
                )
            for k, unit in enumerate(self.rng.sample(city.responsible_units(), 6), 1):
                self.inspectors[id(unit)] = user(f"c{index:02d}-insp{k}", unit, Role.INSPECTOR)
        User.objects.bulk_create(users)
        self.counts["users"] = len(users)

    # --- inspections -------------------------------------------------------------------
    def build_inspections(self, province: Area) -> list[Feed]:
        """Per year: two provincial inspections and three per city (kinds drawn from
        Inspection.Kind), plus a restricted clue ledger per city. Cases are shared out in
        proportion to weights."""
        rng = self.rng
        today = self.clock.today
        last_year = today.year if today >= date(today.year, 3, 1) else today.year - 1
        feeds: list[Feed] = []
        weights: list[float] = []
        latest = -30 * DAY  # an inspection starts at least a month before today

        def feed(
            code: str,
            name: str,
            kind: str,
            year: int,
            area: Area,
            weight: float,
            restricted: bool = False,
        ) -> None:
            start = (date(year, 1, 10) + timedelta(days=rng.randint(0, 100))).toordinal()
            offset = min((start - self.today_ord) * DAY + 9 * 3600 + rng.randint(0, 7200), latest)
            inspection = Inspection(
                code=self.prefix + code,
                name=name,
                kind=kind,
                year=year,
                issuing_unit=area.commission,
                supervising_unit=area.commission,
                restricted=restricted,
                created_at=self.clock.at(offset),
            )
            feeds.append(Feed(inspection=inspection, area=area, offset=offset))
            weights.append(weight)

        for tour, year in enumerate(range(last_year - 2, last_year + 1), 1):
            feed(f"{year}-P1", f"{year}年省委第{tour}轮巡视反馈问题", TOUR, year, province, 2.5)
            feed(
                f"{year}-P2",
                f"{year}年全省{rng.choice(TOPICS)}专项检查",
                SPECIAL,
                year,
                province,
                2.0,
            )
            for index, city in enumerate(self.cities, 1):
                city_name = city.unit.name
                for k, kind in enumerate(rng.sample([SPECIAL, TOUR, PLAN, KEY_PROBLEMS], 3), 1):
                    if kind == SPECIAL:
                        name = f"{year}年{city_name}{rng.choice(TOPICS)}专项检查"
                    elif kind == TOUR:
                        name = f"{city_name}委{year}年第{rng.randint(1, 4)}轮巡察反馈问题"
                    elif kind == PLAN:
                        name = f"{year}年{city_name}巡视反馈问题整改方案"
                    else:
                        name = f"{year}年{city_name}重点难点问题清单"
                    feed(f"{year}-{index:02d}{k}", name, kind, year, city, rng.uniform(0.6, 1.4))
        for index, city in enumerate(self.cities, 1):
            feed(
                f"{last_year}-{index:02d}X",
                f"{city.unit.name}纪委监委问题线索台账",
                CLUE_LEDGER,
                last_year,
                city,
                0.4,
                restricted=True,
            )

        Inspection.objects.bulk_create([f.inspection for f in feeds])
        self.counts["inspections"] = len(feeds)

        total_weight = sum(weights)
        for f, weight in zip(feeds, weights, strict=True):
            f.count = int(self.total * weight / total_weight)
        for f in rng.choices(feeds, weights=weights, k=self.total - sum(f.count for f in feeds)):
            f.count += 1
        for f in feeds:
            f.units = f.area.responsible_units()
            # County governments are responsible now and then, departments mostly.
            f.cum = list(
                accumulate(1.0 if u.level == Unit.Level.DEPARTMENT else 0.3 for u in f.units)
            )
        self.feeds = feeds
        return feeds

    # --- cases -------------------------------------------------------------------------
    def pick_status(self, age_days: int, with_items: bool) -> str:
        """Older cases are mostly done; young ones mostly open or under way."""
        rng = self.rng
        p_done = min(0.92, 0.05 + age_days / 420)
        if age_days < 14:
            p_done = 0.0 if with_items else p_done / 2
        if rng.random() < p_done:
            return EXEMPTED if rng.random() < 0.07 else COMPLETED
        r = rng.random()
        if r < 0.2 or (age_days < 7 and r < 0.6):
            return OPEN
        if r < 0.68:
            return IN_PROGRESS
        if r < 0.86:
            return SUBMITTED
        return ESCALATED

    def path_to(self, status: str, simple: bool) -> Path:
        """The statuses a case went through after `open` to reach `status`. A `simple` path
        is never reopened: its first done move is its last."""
        r = self.rng.random()
        if status == OPEN:
            return PATHS[ESCALATED, OPEN] if r < 0.1 else PATHS[()]
        if status == IN_PROGRESS:
            if r < 0.15:
                return PATHS[IN_PROGRESS, SUBMITTED, IN_PROGRESS]
            if r < 0.2:
                return PATHS[IN_PROGRESS, ESCALATED, IN_PROGRESS]
            return PATHS[(IN_PROGRESS,)]
        if status == SUBMITTED:
            if r < 0.12:
                return PATHS[IN_PROGRESS, SUBMITTED, IN_PROGRESS, SUBMITTED]
            return PATHS[IN_PROGRESS, SUBMITTED]
        if status == ESCALATED:
            return PATHS[(ESCALATED,)] if r < 0.5 else PATHS[IN_PROGRESS, ESCALATED]
        if status == COMPLETED:
            if r < 0.15:
                return PATHS[IN_PROGRESS, SUBMITTED, IN_PROGRESS, SUBMITTED, COMPLETED]
            if r < 0.18 and not simple:
                return PATHS[IN_PROGRESS, SUBMITTED, COMPLETED, IN_PROGRESS, SUBMITTED, COMPLETED]
            return PATHS[IN_PROGRESS, SUBMITTED, COMPLETED]
        if r < 0.35:
            return PATHS[(EXEMPTED,)]
        if r < 0.65:
            return PATHS[IN_PROGRESS, EXEMPTED]
        if r < 0.8:
            return PATHS[ESCALATED, EXEMPTED]
        return PATHS[IN_PROGRESS, SUBMITTED, EXEMPTED]

    def rect_changes(self, measures: str, old: str, new: str) -> str:
        key = (measures, old, new)
        text = self._rect_changes.get(key)
        if text is None:
            changes = {"measures": ["", measures]} if measures else {}
            changes["progress"] = [old, new]
            text = self._rect_changes[key] = _json(changes)
        return text

    def story(
        self,
        *,
        created: int,
        deadline: int,
        status: str,
        checklist: list[str],
        limit: int,
        min_done: int = 0,
    ) -> Story:
        """The history of a case created at `created` with `deadline`, ending in `status`:
        every row strictly after `created` and at most at `limit`; a case ending done is
        done no sooner than `min_done` seconds after its creation. (Runs for every case:
        written for speed, `rng.choice` and `rng.randint` inlined as `Stream` draws them.)"""
        rng = self.rng
        rnd = rng.random
        today_ord = self.today_ord
        iso = self.clock.iso
        path, first_done, first_ip = self.path_to(status, simple=min_done > 0)
        # Rows between the moves (slot j: before move j), only while the case is not done:
        # rectification once under way, deadline changes at any time. `order` lists the
        # moves by their index in `path`, the other rows as RECTIFICATION or DEADLINE.
        extra: list[tuple[int, int]] = []  # (slot, kind), in the order drawn
        if first_ip is not None and first_ip < first_done:
            r = rnd()
            low, slots = first_ip + 1, first_done - first_ip
            for _ in range(0 if r < 0.2 else 1 if r < 0.5 else 2 if r < 0.8 else 3):
                extra.append((low + int(rnd() * slots), RECTIFICATION))
        r = rnd()
        n_deadline = 2 if r < 0.03 else 1 if r < 0.15 else 0
        # Most cases still open long after their deadline have had it extended (to about
        # now); the rest are the overdue ones.
        catch_up = status not in DONE and deadline < today_ord - 30 and rnd() < 0.7
        if catch_up:
            n_deadline = max(n_deadline, 1)
        for _ in range(n_deadline):
            extra.append((int(rnd() * (first_done + 1)), DEADLINE))
        if extra:
            extra.sort(key=_slot)  # stable: in a slot, in the order drawn
            order: list[int] = []
            k, n_extra = 0, len(extra)
            for j in range(len(path) + 1):
                while k < n_extra and extra[k][0] == j:
                    order.append(extra[k][1])
                    k += 1
                if j < len(path):
                    order.append(j)
        else:
            order = list(range(len(path)))

        # When: a done case finishes around its deadline (most in time, some late); the
        # others' history runs up to some time before `limit`.
        n = len(order)
        if status in DONE:
            span = max(1, deadline - (today_ord + created // DAY)) * DAY
            finish = created + int(span * (0.35 + (1.25 - 0.35) * rnd()))  # uniform(0.35, 1.25)
            finish = min(max(finish, created + n + 1, created + min_done), limit)
            width = finish - created  # moments in created + 1 .. finish
            times = sorted([created + 1 + int(rnd() * width) for _ in range(n - 1)])
            times.append(finish)
        else:
            top = min(limit, created + DAY + int(rnd() * 399 * DAY))
            top = max(top, min(limit, created + n + 1))
            width = top - created
            times = sorted([created + 1 + int(rnd() * width) for _ in range(n)])

        rows: list[Row] = []
        append = rows.append
        current = OPEN
        current_deadline = deadline
        measures = progress = ""
        closed: int | None = None
        late_close = False
        first_done_at: int | None = None
        checked: int | None = None
        done_changes: list[int] = []
        for index, at in zip(order, times, strict=True):
            if index >= 0:
                target = path[index]
                late = current_deadline < today_ord + at // DAY
                if checklist and target == COMPLETED and checked is None:
                    # Closing confirms the checklist first, at the same moment.
                    checked = at
                    changes = _json({"confirmed": [None, checklist]})
                    append(("checklist", "", "", None, False, changes, "", SUPERVISOR, at))
                notes, changes, role, crosses = MOVE_ROWS[current, target]
                note = notes[0] if len(notes) == 1 else notes[int(rnd() * len(notes))]
                append(("transition", current, target, None, late, changes, note, role, at))
                if crosses:
                    done_changes.append(at)
                if target in DONE:
                    closed, late_close = at, late
                    if first_done_at is None:
                        first_done_at = at
                else:
                    closed, late_close = None, False
                current = target
            elif index == RECTIFICATION:
                first = not measures
                if first:
                    measures = MEASURES[int(rnd() * len(MEASURES))]
                new = PROGRESS[int(rnd() * len(PROGRESS))]
                if new == progress:
                    new = PROGRESS[(PROGRESS.index(new) + 1) % len(PROGRESS)]
                changes = self.rect_changes(measures if first else "", progress, new)
                append(("rectification", "", "", None, False, changes, "", INSPECTOR, at))
                progress = new
            else:
                new_deadline = current_deadline + 30 + int(rnd() * 91)
                n_deadline -= 1
                if catch_up and n_deadline == 0:
                    new_deadline = max(new_deadline, today_ord - 45 + int(rnd() * 196))
                changes = f'{{"deadline": ["{iso(current_deadline)}", "{iso(new_deadline)}"]}}'
                reason = DEADLINE_REASONS[int(rnd() * len(DEADLINE_REASONS))]
                append(("deadline", "", "", new_deadline, False, changes, reason, SUPERVISOR, at))
                current_deadline = new_deadline
        return Story(
            status=status,
            rows=rows,
            deadline=current_deadline,
            closed=closed,
            overdue_at_close=late_close,
            first_done=first_done_at,
            last=times[-1] if times else created,
            done_changes=done_changes,
            measures=measures,
            progress=progress,
            checked=checked,
        )

    @staticmethod
    def groups(rng: random.Random, count: int) -> list[int]:
        """Sizes of an inspection's problems: 1 standalone, 1 + its items (~10% of them)."""
        sizes: list[int] = []
        left = count
        while left > 0:
            size = 1 + min(rng.randint(2, 12), left - 1) if left >= 3 and rng.random() < 0.1 else 1
            sizes.append(size)
            left -= size
        return sizes

    def blocks(self, ids: CaseIds | None = None) -> Iterator[Block]:
        """Every inspection's problems in blocks, in order. An inspection's plan (how many
        problems, their sizes and when they were registered) is drawn from its own stream
        first; `last_case_number` is set from it. With `ids`, each block gets its case ids."""
        for index, feed in enumerate(self.feeds):
            rng = stream(self.seed, index)
            sizes = self.groups(rng, feed.count)
            lo = feed.offset + DAY
            hi = max(lo + 1, min(feed.offset + 240 * DAY, -DAY))
            rnd = rng.random
            created = sorted(lo + int(rnd() * (hi - lo + 1)) for _ in sizes)
            feed.inspection.last_case_number = len(sizes)
            for number, first in enumerate(range(0, len(sizes), BLOCK)):
                part = sizes[first : first + BLOCK]
                yield Block(
                    feed=index,
                    index=number,
                    first=first,
                    sizes=part,
                    created=created[first : first + BLOCK],
                    ids=ids.take(sum(part)) if ids is not None else [],
                )

    def block(self, block: Block) -> list[CaseRec]:
        """The cases of a block, an inspection's problems numbered in the order they were
        registered, each problem followed by its items. Touches no database."""
        feed = self.feeds[block.feed]
        self.rng = stream(self.seed, block.feed, block.index)
        chunk: list[CaseRec] = []
        for number, size, at in zip(
            range(block.first + 1, block.first + 1 + len(block.sizes)),
            block.sizes,
            block.created,
            strict=True,
        ):
            self.problem(chunk, feed, number, size, at)
        return chunk

    def chunks(self) -> Iterator[list[CaseRec]]:
        """The cases in batches of at least `batch` (whole blocks), generated here."""
        chunk: list[CaseRec] = []
        for block in self.blocks():
            chunk += self.block(block)
            if len(chunk) >= self.batch:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def pick_unit(self, units: list[Unit], cum: list[float]) -> Unit:
        return units[bisect_right(cum, self.rng.random() * cum[-1])]

    def checklist(self) -> list[str]:
        rng = self.rng
        if rng.random() >= 0.08:
            return []
        return rng.sample(CHECKS, rng.randint(1, 3))

    def new_case(
        self, feed: Feed, *, code: str, title: str, unit: Unit, created: int, deadline: int
    ) -> CaseRec:
        rnd = self.rng.random
        inspection = feed.inspection
        if inspection.kind == CLUE_LEDGER or rnd() < 0.08:
            source = SELF_FOUND
        elif feed.area.unit.level == Unit.Level.PROVINCE:
            source = PROVINCE_FEEDBACK
        else:
            source = CITY_FEEDBACK
        inspector = self.inspectors.get(id(unit))
        owner = inspector.id if inspector is not None and rnd() < 0.7 else None
        amount = None
        if rnd() < 0.15:
            cents = 100_00 + int(rnd() * (5_000_000_00 - 100_00 + 1))  # randint
            amount = f"{cents // 100}.{cents % 100:02d}"
        return CaseRec(
            code=code,
            title=title,
            description=f"{inspection.name}：{title}。",
            inspection_id=inspection.id,
            source=source,
            responsible_unit_id=unit.id,
            owner_id=owner,
            supervising_unit_id=inspection.supervising_unit_id,
            region_id=unit.region_id,
            original_deadline=deadline,
            amount=amount,
            created=created,
            checklist=self.checklist(),
        )

    def problem(
        self, chunk: list[CaseRec], feed: Feed, number: int, size: int, created: int
    ) -> None:
        rng = self.rng
        day_of = self.clock.day_of
        inspection = feed.inspection
        units, cum = feed.units, feed.cum
        code = f"{inspection.code}-{number:03d}"
        unit = self.pick_unit(units, cum)
        yesterday = day_of(-1)
        n_items = size - 1
        status = self.pick_status(yesterday - day_of(created), with_items=n_items > 0)
        deadline = day_of(created) + rng.choice((30, 60, 90, 90, 180, 180, 365))
        title = f"{unit.name}{rng.choice(PROBLEMS)}"
        case = self.new_case(
            feed, code=code, title=title, unit=unit, created=created, deadline=deadline
        )
        case.is_key_problem = inspection.kind == KEY_PROBLEMS or rng.random() < 0.03
        case.supervisor_id = rng.choice(feed.area.supervisors).pk
        # A problem with items is done at least two days after it was registered, leaving its
        # items time to be registered and, if it was closed, done before.
        story = self.story(
            created=created,
            deadline=deadline,
            status=status,
            checklist=case.checklist,
            limit=self.end,
            min_done=2 * DAY if n_items else 0,
        )
        case.story = story
        case.updated = story.last
        chunk.append(case)
        if not n_items:
            return
        # Items are registered while the problem is not done; a closed problem had all its
        # items done before it was closed (an exempted one need not have).
        closes = story.first_done if status == COMPLETED else None
        bound = (
            story.first_done if story.first_done is not None else min(self.end, created + 90 * DAY)
        )
        item_limit = closes - 60 if closes is not None else self.end
        moments = [story.last]
        for index in range(1, n_items + 1):
            item_created = rng.randint(created + 1, created + 1 + (bound - created) // 3)
            item_unit = unit if rng.random() < 0.5 else self.pick_unit(units, cum)
            item_deadline = day_of(item_created) + rng.choice((30, 60, 90, 180))
            item = self.new_case(
                feed,
                code=f"{code}-{index:02d}",
                unit=item_unit,
                created=item_created,
                title=f"{title}：“{rng.choice(ITEM_PHRASES)}”事项整改",
                deadline=item_deadline,
            )
            item.parent = case
            item.supervisor_id = case.supervisor_id
            if rng.random() < 0.5:
                item.method = rng.choice(METHODS)
            if closes is not None:
                item_status = EXEMPTED if rng.random() < 0.05 else COMPLETED
            else:
                item_status = self.pick_status(yesterday - day_of(item_created), False)
            item.story = self.story(
                created=item_created,
                deadline=item_deadline,
                status=item_status,
                checklist=item.checklist,
                limit=item_limit,
                min_done=1 if closes is not None else 0,
            )
            item.updated = item.story.last
            case.items_total += 1
            case.items_done += item_status in DONE
            # The problem's counter moved when an item was added and when one got done.
            moments.append(item_created)
            moments.extend(item.story.done_changes)
            chunk.append(item)
        case.updated = max(moments)


# --- writers ---------------------------------------------------------------------------------

CASE_COLUMNS = [
    "id",
    "code",
    "title",
    "description",
    "inspection_id",
    "source",
    "parent_id",
    "responsible_unit_id",
    "owner_id",
    "supervising_unit_id",
    "region_id",
    "deadline",
    "original_deadline",
    "measures",
    "progress",
    "method",
    "is_key_problem",
    "amount",
    "status",
    "items_total",
    "items_done",
    "created_at",
    "updated_at",
    "closed_at",
    "overdue_at_close",
    "history_head",
    "history_length",
]
EVENT_COLUMNS = [
    "case_id",
    "kind",
    "from_status",
    "to_status",
    "deadline",
    "was_overdue",
    "changes",
    "note",
    "actor_id",
    "actor_unit_id",
    "created_at",
    "seq",
    "prev_hash",
    "hash",
]
POINT_COLUMNS = ["case_id", "text", "position", "confirmed", "confirmed_by_id", "confirmed_at"]
_COPY_SPECIAL = ("\\", "\t", "\n", "\r")


def _copy_safe(*texts: str) -> None:
    """Text goes into COPY lines unescaped: the fixed vocabulary must need no escaping."""
    for text in texts:
        if any(c in text for c in _COPY_SPECIAL):
            raise ValueError(f"not COPY-safe: {text!r}")


_copy_safe(
    *CITY_NAMES,
    *NAME_STEMS,
    *COUNTY_SUFFIXES,
    *DEPARTMENTS,
    *TOPICS,
    *PROBLEMS,
    *ITEM_PHRASES,
    *MEASURES,
    *PROGRESS,
    *DEADLINE_REASONS,
    *CHECKS,
    *(note for notes in NOTES.values() for note in notes),
)


NULL = "\\N"


def case_lines(clock: Clock, chunk: list[CaseRec]) -> Iterator[str]:
    """COPY text lines of the cases (ids assigned), in CASE_COLUMNS order."""
    ts, iso = clock.utc_text, clock.iso
    for rec in chunk:
        story = rec.story
        yield (
            "\t".join(
                (
                    str(rec.id),
                    rec.code,
                    rec.title,
                    rec.description,
                    str(rec.inspection_id),
                    rec.source,
                    str(rec.parent.id) if rec.parent is not None else NULL,
                    str(rec.responsible_unit_id),
                    str(rec.owner_id) if rec.owner_id is not None else NULL,
                    str(rec.supervising_unit_id),
                    str(rec.region_id) if rec.region_id is not None else NULL,
                    iso(story.deadline),
                    iso(rec.original_deadline),
                    story.measures,
                    story.progress,
                    rec.method,
                    "t" if rec.is_key_problem else "f",
                    rec.amount if rec.amount is not None else NULL,
                    story.status,
                    str(rec.items_total),
                    str(rec.items_done),
                    ts(rec.created),
                    ts(rec.updated),
                    ts(story.closed) if story.closed is not None else NULL,
                    "t" if story.overdue_at_close else "f",
                    rec.head,
                    str(rec.length),
                )
            )
            + "\n"
        )


# The history's hash chain (cases.history_chain), from memoised fragments of the fixed
# vocabulary: bounded memory; one per process.
CHAIN = FastChain()


def chained_history(clock: Clock, rec: CaseRec) -> Iterator[tuple[HistoryRow, str, int, str, str]]:
    """The case's history rows (ids assigned) with their place in its hash chain: (row, its
    moment as `Clock.utc_text`, seq, prev_hash, hash). Records the chain's head on `rec` once
    all are read."""
    moments, iso, digest = clock.moment_texts, clock.iso, CHAIN.digest
    case_id, prev, seq = rec.id, "", 0
    for row in history(rec):
        kind, from_s, to_s, deadline, late, changes, note, actor, unit, at = row
        seq += 1
        moment, chain_moment = moments(at)
        digest_ = digest(
            case_id,
            seq,
            prev,
            kind,
            from_s,
            to_s,
            iso(deadline) if deadline is not None else None,
            late,
            note,
            actor,
            unit,
            chain_moment,
            changes,
        )
        yield row, moment, seq, prev, digest_
        prev = digest_
    rec.head, rec.length = prev, seq


def history_lines(clock: Clock, chunk: list[CaseRec]) -> list[str]:
    """COPY text lines of the history, in EVENT_COLUMNS order, and the cases' heads. Built
    before the cases' lines: they carry the head of each case's chain.

    The rows and hashes of `chained_history`, in one loop: this runs for every event (the
    test of the generated chains checks both writers' hashes)."""
    iso, digest = clock.iso, CHAIN.digest
    # `Clock.moment_texts`, inlined.
    shift, days, copy_texts, chain_texts = (
        clock._utc_shift,
        clock._utc_days,
        clock._clock_texts,
        clock._chain_texts,
    )
    lines: list[str] = []
    append = lines.append
    for rec in chunk:
        case_id = rec.id
        sup, supervising = rec.supervisor_id, rec.supervising_unit_id
        owner, unit = rec.owner_id, rec.responsible_unit_id
        # Who makes a row (see `history`): as the hash takes them, and as COPY text.
        by_supervisor = (sup, supervising, f"{sup}\t{supervising}")
        by_unit = (owner, unit, f"{owner if owner is not None else NULL}\t{unit}")
        created = (
            "created",
            "",
            OPEN,
            rec.original_deadline,
            False,
            _json({"checklist": [None, rec.checklist]}) if rec.checklist else NO_CHANGES,
            "",
            SUPERVISOR,
            rec.created,
        )
        prefix = f"{case_id}\t"
        prev, seq = "", 0
        for kind, from_s, to_s, deadline, late, changes, note, role, at in (
            created,
            *rec.story.rows,
        ):
            seq += 1
            actor, actor_unit, actors = by_supervisor if role == SUPERVISOR else by_unit
            day_number, second = divmod(at + shift, DAY)
            prefixes = days.get(day_number) or clock._day_prefixes(day_number)
            moment = prefixes[0] + copy_texts[second]
            chain_moment = prefixes[1] + chain_texts[second]
            day = iso(deadline) if deadline is not None else None
            head = digest(
                case_id,
                seq,
                prev,
                kind,
                from_s,
                to_s,
                day,
                late,
                note,
                actor,
                actor_unit,
                chain_moment,
                changes,
            )
            append(
                f"{prefix}{kind}\t{from_s}\t{to_s}\t{day if day is not None else NULL}\t"
                f"{'t' if late else 'f'}\t{changes}\t{note}\t{actors}\t{moment}\t{seq}\t"
                f"{prev}\t{head}\n"
            )
            prev = head
        rec.head, rec.length = prev, seq
    return lines


def checklist_lines(clock: Clock, chunk: list[CaseRec]) -> Iterator[str]:
    """COPY text lines of the checklists, in POINT_COLUMNS order."""
    ts = clock.utc_text
    for rec in chunk:
        if rec.checklist:
            checked = rec.story.checked
            for position, text in enumerate(rec.checklist):
                yield (
                    f"{rec.id}\t{text}\t{position}\t"
                    + (
                        f"t\t{rec.supervisor_id}\t{ts(checked)}\n"
                        if checked is not None
                        else f"f\t{NULL}\t{NULL}\n"
                    )
                )


class BulkWriter:
    """Portable: `bulk_create` problems (their ids come back), then items, then history."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        if not connection.features.can_return_rows_from_bulk_insert:
            raise CommandError("This database does not return ids from bulk inserts.")

    def __enter__(self) -> BulkWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def case(self, rec: CaseRec) -> Case:
        clock, story = self.clock, rec.story
        return Case(
            code=rec.code,
            title=rec.title,
            description=rec.description,
            inspection_id=rec.inspection_id,
            source=rec.source,
            parent_id=rec.parent.id if rec.parent is not None else None,
            responsible_unit_id=rec.responsible_unit_id,
            owner_id=rec.owner_id,
            supervising_unit_id=rec.supervising_unit_id,
            region_id=rec.region_id,
            deadline=clock.date(story.deadline),
            original_deadline=clock.date(rec.original_deadline),
            measures=story.measures,
            progress=story.progress,
            method=rec.method,
            is_key_problem=rec.is_key_problem,
            amount=Decimal(rec.amount) if rec.amount is not None else None,
            status=story.status,
            items_total=rec.items_total,
            items_done=rec.items_done,
            created_at=clock.at(rec.created),
            updated_at=clock.at(rec.updated),
            closed_at=clock.at(story.closed) if story.closed is not None else None,
            overdue_at_close=story.overdue_at_close,
        )

    def write(self, chunk: list[CaseRec]) -> None:
        clock = self.clock
        written: list[tuple[CaseRec, Case]] = []
        for level in (
            [rec for rec in chunk if rec.parent is None],
            [rec for rec in chunk if rec.parent is not None],
        ):
            objects = Case.objects.bulk_create([self.case(rec) for rec in level])
            for rec, obj in zip(level, objects, strict=True):
                rec.id = obj.pk
                written.append((rec, obj))
        events: list[CaseEvent] = []
        points: list[CheckPoint] = []
        for rec in chunk:
            for row, _moment, seq, prev, digest in chained_history(clock, rec):
                kind, from_s, to_s, deadline, late, changes, note, actor, unit, at = row
                events.append(
                    CaseEvent(
                        case_id=rec.id,
                        kind=kind,
                        from_status=from_s,
                        to_status=to_s,
                        deadline=clock.date(deadline) if deadline is not None else None,
                        was_overdue=late,
                        changes=json.loads(changes),
                        note=note,
                        actor_id=actor,
                        actor_unit_id=unit,
                        created_at=clock.at(at),
                        seq=seq,
                        prev_hash=prev,
                        hash=digest,
                    )
                )
            checked = rec.story.checked
            for position, text in enumerate(rec.checklist):
                points.append(
                    CheckPoint(
                        case_id=rec.id,
                        text=text,
                        position=position,
                        confirmed=checked is not None,
                        confirmed_by_id=rec.supervisor_id if checked is not None else None,
                        confirmed_at=clock.at(checked) if checked is not None else None,
                    )
                )
        # The chain's head is known once the case ids are: written back in one more query.
        for rec, obj in written:
            obj.history_head, obj.history_length = rec.head, rec.length
        Case.objects.bulk_update(
            [obj for _rec, obj in written], ["history_head", "history_length"], batch_size=1000
        )
        CaseEvent.objects.bulk_create(events, batch_size=5000)
        CheckPoint.objects.bulk_create(points, batch_size=5000)


class CaseIds:
    """Case ids reserved from the table's sequence, as runs (first, last), given out in
    order."""

    def __init__(self, runs: Iterable[tuple[int, int]]) -> None:
        self.runs = deque(runs)

    def take(self, count: int) -> list[tuple[int, int]]:
        taken: list[tuple[int, int]] = []
        while count:
            first, last = self.runs[0]
            size = min(count, last - first + 1)
            taken.append((first, first + size - 1))
            if first + size > last:
                self.runs.popleft()
            else:
                self.runs[0] = (first + size, last)
            count -= size
        return taken


@dataclass(slots=True)
class BlockText:
    """A block as COPY text (UTF-8), ready to be sent, and what it holds."""

    cases: bytes
    events: bytes
    points: bytes
    case_count: int
    event_count: int
    point_count: int


def copy_block(gen: Generator, block: Block) -> BlockText:
    """Generate a block and format it for COPY: its cases get the reserved ids, their history
    its hash chain. Touches no database."""
    clock = gen.clock
    chunk = gen.block(block)
    ids = (case_id for first, last in block.ids for case_id in range(first, last + 1))
    for rec, case_id in zip(chunk, ids, strict=True):
        rec.id = case_id
    events = history_lines(clock, chunk)  # sets the cases' heads
    points = list(checklist_lines(clock, chunk))
    return BlockText(
        cases="".join(case_lines(clock, chunk)).encode(),
        events="".join(events).encode(),
        points="".join(points).encode(),
        case_count=len(chunk),
        event_count=len(events),
        point_count=len(points),
    )


# --- worker processes ------------------------------------------------------------------------
# Forked from the command's process once the units, users and inspections are written: they
# inherit the generator (`_WORKER_GENERATOR`) and are sent blocks (a few numbers each); they
# send back COPY text. They never use a database: the command's connection, inherited with
# the fork, must not be used (nor closed: that would end the command's session), so its socket
# is replaced by /dev/null in them, and opening another connection raises.

_WORKER_GENERATOR: Generator | None = None


def _no_database(*args: object, **kwargs: object) -> None:
    raise RuntimeError("generate_cases: a worker process must not use the database.")


def _start_worker(sockets: tuple[int, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the command's process handles Ctrl-C
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in sockets:
        os.dup2(devnull, fd)
    os.close(devnull)
    BaseDatabaseWrapper.ensure_connection = _no_database  # type: ignore[method-assign]
    # A worker whose command was killed (not interrupted) must not wait for blocks forever.
    parent = os.getppid()

    def orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=orphaned, name="generate_cases-orphan", daemon=True).start()


def _work(block: Block) -> BlockText:
    if _WORKER_GENERATOR is None:  # set before the fork
        raise RuntimeError("generate_cases: a worker process without its generator.")
    return copy_block(_WORKER_GENERATOR, block)


def _database_sockets() -> tuple[int, ...]:
    sockets = []
    for conn in connections.all(initialized_only=True):
        raw = conn.connection
        if raw is not None and hasattr(raw, "fileno"):
            sockets.append(raw.fileno())
    return tuple(sockets)


def formatted_in_workers(gen: Generator, blocks: Iterator[Block], jobs: int) -> Gen[BlockText]:
    """The blocks formatted by `jobs` worker processes, in order. In flight: enough for the
    workers to go on while the command sends the batches before (about two batches, at least
    two blocks per worker), and no more: memory stays bounded. A worker's failure stops
    everything with a CommandError."""
    global _WORKER_GENERATOR
    _WORKER_GENERATOR = gen
    executor = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_worker,
        initargs=(_database_sockets(),),
    )
    window: deque[tuple[Block, Future[BlockText]]] = deque()
    in_flight = 0  # cases

    def fill() -> None:
        nonlocal in_flight
        while in_flight < 2 * gen.batch or len(window) < 2 * jobs:
            block = next(blocks, None)
            if block is None:
                return
            window.append((block, executor.submit(_work, block)))
            in_flight += sum(block.sizes)

    try:
        fill()
        while window:
            block, future = window.popleft()
            in_flight -= sum(block.sizes)
            try:
                text = future.result()
            except BrokenProcessPool as error:
                raise CommandError(
                    "A worker process generating the cases died unexpectedly (killed, out of "
                    "memory?). Nothing was written."
                ) from error
            except Exception as error:
                code = gen.feeds[block.feed].inspection.code
                raise CommandError(
                    f"Generating the cases of {code} failed in a worker process: "
                    f"{type(error).__name__}: {error}. Nothing was written."
                ) from error
            fill()
            yield text
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        _WORKER_GENERATOR = None


class CopyWriter:
    """PostgreSQL: the case ids are reserved from the table's sequence up front; the blocks are
    generated and formatted as COPY text in worker processes (or here, with one job) and sent,
    in order, by COPY on the command's connection and transaction. History and checklist ids
    come from their defaults, in order."""

    def __init__(
        self, gen: Generator, *, rebuild: bool, jobs: int, log: Callable[[str], Any]
    ) -> None:
        self.gen = gen
        self.rebuild = rebuild
        self.jobs = jobs
        self.log = log
        self.foreign_keys: list[tuple[str, str, str]] = []
        self.indexes: list[str] = []
        self.disabled_triggers: list[tuple[str, str]] = []

    def __enter__(self) -> CopyWriter:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Case._meta.db_table])
            self.sequence = cursor.fetchone()[0]
            if self.rebuild:
                self._drop_constraints(cursor)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            return  # the transaction is rolled back: constraints and triggers with it
        if self.rebuild:
            started = time.monotonic()
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
                for definition in self.indexes:
                    cursor.execute(definition)
                for table, name, definition in self.foreign_keys:
                    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
                for table, trigger in self.disabled_triggers:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
                # What the history trigger would have done: the new history is dated in the
                # past, so any snapshot may have changed.
                cursor.execute("DELETE FROM cases_completionsnapshot")
                # Back to Django's default: foreign keys checked at commit.
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
                cursor.execute("RESET maintenance_work_mem")
            self.log(
                f"  indexes rebuilt, foreign keys added back and checked "
                f"({time.monotonic() - started:.1f} s)"
            )

    def _drop_constraints(self, cursor: Any) -> None:
        """Drop the foreign keys and the secondary indexes (neither primary nor unique) of
        the tables COPY writes to; they are created again at the end of the transaction:
        an index built once is much cheaper than one maintained row by row, and adding a
        foreign key checks every row in one query instead of a trigger per row. Deferred
        checks still pending are run first: a table with pending trigger events cannot be
        altered."""
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        tables = [model._meta.db_table for model in (Case, CaseEvent, CheckPoint)]
        cursor.execute(
            "SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) "
            "ORDER BY 1, 2",
            [tables],
        )
        self.foreign_keys = [tuple(row) for row in cursor.fetchall()]
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary "
            "AND NOT i.indisunique ORDER BY 1",
            [tables],
        )
        indexes = cursor.fetchall()
        self.indexes = [definition for _name, definition in indexes]
        for table, name, _definition in self.foreign_keys:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")
        # The roll-ups are recounted once at the end (tally.refresh) and every snapshot is
        # dropped then: their triggers would only copy each batch into a transition table.
        # Only those enabled now, and only those are enabled again: one an operator turned
        # off stays off.
        load_triggers = tally.load_triggers()
        cursor.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgenabled <> 'D' AND t.tgname = ANY(%s)",
            [[trigger for _table, trigger in load_triggers]],
        )
        enabled = set(cursor.fetchall())
        self.disabled_triggers = [pair for pair in load_triggers if pair in enabled]
        for table, trigger in self.disabled_triggers:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")

    def _reserve(self, count: int) -> CaseIds:
        """`count` case ids from the sequence, in one statement. They are consecutive unless
        another session draws from the sequence meanwhile: hence runs."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT min(id), max(id) FROM ("
                "  SELECT id, id - row_number() OVER (ORDER BY id) AS run FROM ("
                "    SELECT nextval(%s::regclass) AS id FROM generate_series(1, %s)"
                "  ) AS reserved"
                ") AS numbered GROUP BY run ORDER BY 1",
                [self.sequence, count],
            )
            return CaseIds(cursor.fetchall())

    def load(self, progress: Callable[[], Any]) -> None:
        """Generate and COPY every block; `progress()` after each batch of `batch` cases or
        more. With one job the blocks are generated here, one after the other."""
        gen = self.gen
        blocks = gen.blocks(self._reserve(gen.total))
        texts: Gen[BlockText] = (
            formatted_in_workers(gen, blocks, self.jobs)
            if self.jobs > 1
            else (copy_block(gen, block) for block in blocks)
        )
        batch: list[BlockText] = []
        size = 0
        try:
            for text in texts:
                batch.append(text)
                size += text.case_count
                if size >= gen.batch:
                    self._send(batch)
                    progress()
                    batch, size = [], 0
            if batch:
                self._send(batch)
                progress()
        finally:
            texts.close()  # stops the workers, also on failure

    def _send(self, batch: list[BlockText]) -> None:
        counts = self.gen.counts
        with connection.connection.cursor() as cursor:
            self._copy(cursor, Case, CASE_COLUMNS, [text.cases for text in batch])
            self._copy(cursor, CaseEvent, EVENT_COLUMNS, [text.events for text in batch])
            points = [text.points for text in batch if text.points]
            if points:
                self._copy(cursor, CheckPoint, POINT_COLUMNS, points)
        for text in batch:
            counts["cases"] += text.case_count
            counts["events"] += text.event_count
            counts["checkpoints"] += text.point_count

    @staticmethod
    def _copy(cursor: Any, model: Any, columns: list[str], parts: list[bytes]) -> None:
        sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
        with cursor.copy(sql) as copy:
            for part in parts:
                copy.write(part)


# Below this many cases, keeping indexes and foreign keys in place costs less than rebuilding.
REBUILD_FROM = 50_000
# Below this many cases, generating in the command's process costs less than starting workers.
WORKERS_FROM = 20_000
MAX_JOBS = 8


def default_jobs() -> int:
    """One worker per CPU this process may run on, at most MAX_JOBS."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_JOBS))


class Command(BaseCommand):
    help = (
        "Generate synthetic scale data: a province (“合成省（种子S）”) of 11 cities and about "
        "110 county-level areas with their commissions and departments, a few users, "
        "inspections per city and year, and N cases (about 10% of problems with items) in "
        "every workflow state with their history. Deterministic for --seed and --today. "
        "Refuses, writing nothing, if the seed's province (or its codes or user names) "
        "already exists: use another --seed. On PostgreSQL the case tables are written with "
        "COPY, the cases generated by worker processes (see --jobs); for a large load "
        "their foreign keys and secondary indexes are dropped and rebuilt within the "
        "transaction, which locks them until the commit (see --constraints): use it on "
        "scale or staging databases."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--cases",
            type=int,
            default=10_000,
            help="Number of cases, items included (default 10000).",
        )
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")
        parser.add_argument(
            "--today",
            type=date.fromisoformat,
            default=None,
            help="The day YYYY-MM-DD every date derives from (default today).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=5000,
            help="Cases per batch written (default 5000; COPY sends whole blocks, so a batch "
            "may hold more).",
        )
        parser.add_argument(
            "--portable",
            action="store_true",
            help="Write with bulk_create only, as on databases other than PostgreSQL (slower).",
        )
        parser.add_argument(
            "--constraints",
            choices=["auto", "rebuild", "keep"],
            default="auto",
            help="PostgreSQL: drop the foreign keys and secondary indexes of the case tables "
            "for the load and rebuild them at the end (rebuild: fast for large loads, locks "
            "the tables), or keep them in place (keep); auto (default) rebuilds when loading "
            f"at least {REBUILD_FROM} cases and at least as many as the table holds.",
        )
        parser.add_argument(
            "--jobs",
            type=int,
            default=None,
            help="PostgreSQL (COPY; not with --portable): worker processes generating the cases "
            "while the command writes them; 1 generates them in the command's process. "
            "Default: one per CPU "
            f"(at most {MAX_JOBS}) from {WORKERS_FROM} cases, 1 below. The content does not "
            "depend on it.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["cases"] < 0:
            raise CommandError("--cases must not be negative.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be positive.")
        if options["jobs"] is not None and options["jobs"] < 1:
            raise CommandError("--jobs must be positive.")
        started = time.monotonic()
        gen = Generator(
            seed=options["seed"],
            today=options["today"] or timezone.localdate(),
            cases=options["cases"],
            batch=options["batch_size"],
        )
        log = self.stdout.write
        counts = gen.counts

        def progress() -> None:
            log(
                f"  {counts['cases']:>9} / {gen.total} cases, {counts['events']:>10} "
                f"events ({time.monotonic() - started:.1f} s)"
            )

        with transaction.atomic():
            gen.refuse_if_present()
            province = gen.build_units()
            gen.build_users(province)
            feeds = gen.build_inspections(province)
            if connection.vendor == "postgresql" and not options["portable"]:
                rebuild = options["constraints"] == "rebuild" or (
                    options["constraints"] == "auto"
                    and gen.total >= max(REBUILD_FROM, Case.objects.count())
                )
                jobs = options["jobs"] or (default_jobs() if gen.total >= WORKERS_FROM else 1)
                with CopyWriter(gen, rebuild=rebuild, jobs=jobs, log=log) as copy_writer:
                    copy_writer.load(progress)
            else:
                with BulkWriter(gen.clock) as writer:
                    for chunk in gen.chunks():
                        writer.write(chunk)
                        counts["cases"] += len(chunk)
                        for rec in chunk:
                            counts["events"] += 1 + len(rec.story.rows)
                            counts["checkpoints"] += len(rec.checklist)
                        progress()
            Inspection.objects.bulk_update(
                [feed.inspection for feed in feeds], ["last_case_number"], batch_size=1000
            )
            if connection.vendor == "postgresql":
                # The completion roll-ups, counted once over everything rather than kept up
                # batch by batch; in the load's transaction, so no one ever reads roll-ups
                # without the new cases.
                phase = time.monotonic()
                tally.refresh()
                log(f"  roll-ups recounted ({time.monotonic() - phase:.1f} s)")
        if connection.vendor == "postgresql":
            # Fresh planner statistics for tables that just grew.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE cases_case, cases_caseevent, cases_checkpoint")
        seconds = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Generated “{gen.root_name}”: {counts['units']} units, {counts['users']} users, "
                f"{counts['inspections']} inspections, {counts['cases']} cases, "
                f"{counts['events']} events, {counts['checkpoints']} checklist points "
                f"in {seconds:.1f} s."
            )
        )
