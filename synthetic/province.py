"""What a province looks like: its units (a province, 11 cities, about 110 county-level areas,
each with its government, commission and departments), its people (supervisors in the
commissions, inspectors in some units) and its inspections, year by year.

Drawn from `random.Random(seed)` and written with `bulk_create` (about a thousand rows). The
province root is named "合成省（种子S）", every code starts with "HC<S>-" and every user name
with "hc<S>-", so runs with different seeds live side by side.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate

from django.contrib.auth.hashers import make_password
from django.core.management.base import CommandError

from cases.models import Case, Inspection, Unit, User
from cases.workflow import Role

from .clock import DAY, Clock
from .vocabulary import (
    CITY_NAMES,
    COUNTY_SUFFIXES,
    DEPARTMENTS,
    GIVEN,
    NAME_STEMS,
    SURNAMES,
    TOPICS,
)

SPECIAL = Inspection.Kind.SPECIAL.value
TOUR = Inspection.Kind.TOUR.value
PLAN = Inspection.Kind.PLAN.value
KEY_PROBLEMS = Inspection.Kind.KEY_PROBLEMS.value
CLUE_LEDGER = Inspection.Kind.CLUE_LEDGER.value


@dataclass
class Area:
    """A province, city or county-level area: its government unit, commission, departments."""

    unit: Unit
    commission: Unit
    departments: list[Unit] = field(default_factory=list)
    counties: list[Area] = field(default_factory=list)
    supervisors: list[int] = field(default_factory=list)  # user ids

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

    def pick_unit(self, rng: random.Random) -> Unit:
        return self.units[bisect_right(self.cum, rng.random() * self.cum[-1])]


class Province:
    """Builds the province of a seed: `build()` writes its units, users and inspections and
    returns the inspections with the number of cases each gets (`Feed`)."""

    def __init__(self, *, seed: int, clock: Clock, total: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.clock = clock
        self.total = total
        self.prefix = f"HC{seed}-"
        self.user_prefix = f"hc{seed}-"
        self.root_name = f"合成省（种子{seed}）"
        self.counts = {"units": 0, "users": 0, "inspections": 0}
        self.inspectors: dict[int, int] = {}  # unit id -> its inspector's user id
        self.cities: list[Area] = []

    def build(self) -> list[Feed]:
        self.refuse_if_present()
        province = self.build_units()
        self.build_users(province)
        return self.build_inspections(province)

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

    # --- units -------------------------------------------------------------------------------
    def _insert_level(self, units: list[Unit]) -> None:
        """One level of the tree: the ids come back from `bulk_create`, then paths and regions
        are computed from the parents' (written by `build_units` with one `bulk_update`)."""
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

    def _county_names(self, city: Unit) -> list[str]:
        rng = self.rng
        names: list[str] = []
        count = rng.randint(9, 11)
        while len(names) < count:
            name = (
                city.name[0]
                + rng.choice(NAME_STEMS)
                + rng.choice(NAME_STEMS)
                + rng.choice(COUNTY_SUFFIXES)
            )
            if name not in names and name[1] != name[2]:
                names.append(name)
        return names

    def _city(self, city_unit: Unit) -> Area:
        city = Area(
            unit=city_unit,
            commission=self._commission(city_unit),
            departments=self._departments(city_unit, self.rng.randint(7, 9)),
        )
        city.counties = [
            Area(unit=Unit(name=name, parent=city_unit, level=Unit.Level.COUNTY), commission=Unit())
            for name in self._county_names(city_unit)
        ]
        return city

    def build_units(self) -> Area:
        """Level by level, each level's ids back from `bulk_create` before the next."""
        root = Unit(name=self.root_name, level=Unit.Level.PROVINCE)
        self._insert_level([root])
        province = Area(unit=root, commission=self._commission(root))
        city_units = [Unit(name=name, parent=root, level=Unit.Level.CITY) for name in CITY_NAMES]
        self._insert_level([province.commission, *city_units])
        self.cities = [self._city(city_unit) for city_unit in city_units]
        level3 = [
            unit
            for city in self.cities
            for unit in (city.commission, *city.departments, *(c.unit for c in city.counties))
        ]
        self._insert_level(level3)
        level4: list[Unit] = []
        for county in (county for city in self.cities for county in city.counties):
            county.commission = self._commission(county.unit)
            county.departments = self._departments(county.unit, self.rng.randint(5, 7))
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

    # --- people ------------------------------------------------------------------------------
    def build_users(self, province: Area) -> None:
        """Two supervisors in the provincial and in each city commission, an inspector in six
        units of each city. One unusable password for all: no hashing per user."""
        password = make_password(None)
        users: list[User] = []

        def user(name: str, unit: Unit, role: str) -> User:
            full_name = self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)
            account = User(
                username=self.user_prefix + name,
                unit=unit,
                role=role,
                full_name=full_name,
                password=password,
            )
            users.append(account)
            return account

        supervisors: list[tuple[Area, User]] = []
        for k in (1, 2):
            supervisors.append((province, user(f"p-sup{k}", province.commission, Role.SUPERVISOR)))
        inspectors: list[tuple[Unit, User]] = []
        for index, city in enumerate(self.cities, 1):
            for k in (1, 2):
                account = user(f"c{index:02d}-sup{k}", city.commission, Role.SUPERVISOR)
                supervisors.append((city, account))
            for k, unit in enumerate(self.rng.sample(city.responsible_units(), 6), 1):
                inspectors.append((unit, user(f"c{index:02d}-insp{k}", unit, Role.INSPECTOR)))
        User.objects.bulk_create(users)
        for area, account in supervisors:
            area.supervisors.append(account.pk)
        self.inspectors = {unit.pk: account.pk for unit, account in inspectors}
        self.counts["users"] = len(users)

    # --- inspections -------------------------------------------------------------------------
    def build_inspections(self, province: Area) -> list[Feed]:
        """Per year: two provincial inspections and three per city (kinds drawn from
        Inspection.Kind), plus a restricted clue ledger per city. Cases are shared out in
        proportion to weights."""
        today = self.clock.today
        last_year = today.year if today >= date(today.year, 3, 1) else today.year - 1
        drawn: list[tuple[Feed, float]] = []
        for tour, year in enumerate(range(last_year - 2, last_year + 1), 1):
            drawn += self._year(province, year, tour)
        for index, city in enumerate(self.cities, 1):
            clues = self._feed(
                f"{last_year}-{index:02d}X",
                f"{city.unit.name}纪委监委问题线索台账",
                CLUE_LEDGER,
                last_year,
                city,
                restricted=True,
            )
            drawn.append((clues, 0.4))
        feeds = [feed for feed, _weight in drawn]
        Inspection.objects.bulk_create([feed.inspection for feed in feeds])
        self.counts["inspections"] = len(feeds)
        self._share_out(drawn)
        return feeds

    def _year(self, province: Area, year: int, tour: int) -> list[tuple[Feed, float]]:
        rng = self.rng
        topic = rng.choice(TOPICS)
        drawn = [
            (
                self._feed(
                    f"{year}-P1", f"{year}年省委第{tour}轮巡视反馈问题", TOUR, year, province
                ),
                2.5,
            ),
            (
                self._feed(f"{year}-P2", f"{year}年全省{topic}专项检查", SPECIAL, year, province),
                2.0,
            ),
        ]
        for index, city in enumerate(self.cities, 1):
            for k, kind in enumerate(rng.sample([SPECIAL, TOUR, PLAN, KEY_PROBLEMS], 3), 1):
                name = self._inspection_name(kind, year, city.unit.name)
                feed = self._feed(f"{year}-{index:02d}{k}", name, kind, year, city)
                drawn.append((feed, rng.uniform(0.6, 1.4)))
        return drawn

    def _inspection_name(self, kind: str, year: int, city: str) -> str:
        rng = self.rng
        if kind == SPECIAL:
            return f"{year}年{city}{rng.choice(TOPICS)}专项检查"
        if kind == TOUR:
            return f"{city}委{year}年第{rng.randint(1, 4)}轮巡察反馈问题"
        if kind == PLAN:
            return f"{year}年{city}巡视反馈问题整改方案"
        return f"{year}年{city}重点难点问题清单"

    def _feed(
        self, code: str, name: str, kind: str, year: int, area: Area, restricted: bool = False
    ) -> Feed:
        """An inspection of `area`'s commission, started in the first months of `year` and at
        least a month before today."""
        rng = self.rng
        start = (date(year, 1, 10) + timedelta(days=rng.randint(0, 100))).toordinal()
        offset = (start - self.clock.today_ord) * DAY + 9 * 3600 + rng.randint(0, 7200)
        offset = min(offset, -30 * DAY)
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
        return Feed(inspection=inspection, area=area, offset=offset)

    def _share_out(self, drawn: list[tuple[Feed, float]]) -> None:
        """Cases in proportion to the weights; county governments are responsible now and
        then, departments mostly."""
        feeds = [feed for feed, _weight in drawn]
        weights = [weight for _feed, weight in drawn]
        total_weight = sum(weights)
        for feed, weight in drawn:
            feed.count = int(self.total * weight / total_weight)
        left = self.total - sum(feed.count for feed in feeds)
        for feed in self.rng.choices(feeds, weights=weights, k=left):
            feed.count += 1
        for feed in feeds:
            feed.units = feed.area.responsible_units()
            feed.cum = list(
                accumulate(1.0 if u.level == Unit.Level.DEPARTMENT else 0.3 for u in feed.units)
            )
