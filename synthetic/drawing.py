"""The cases of a province: each inspection's problems (about 10% with items), drawn in blocks.

A block (`BLOCK` problems of an inspection, with their items) is drawn from a random stream of
its own, derived from (seed, inspection, block): blocks can be drawn in any order and in any
process, and the content does not depend on how many processes draw it. Drawing touches no
database: a case is a `CaseRec` whose moments are offsets and dates ordinals.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cases.models import Case, Unit

from .clock import DAY, Clock
from .life import COMPLETED, DONE, EXEMPTED, Story, draw_story, pick_status
from .province import CLUE_LEDGER, KEY_PROBLEMS, Feed
from .vocabulary import CHECKS, ITEM_PHRASES, PROBLEMS

# Problems per block. Changing this changes the content of every seed.
BLOCK = 500

METHODS = list(Case.Method.values)
SELF_FOUND = Case.Source.SELF_FOUND.value
PROVINCE_FEEDBACK = Case.Source.PROVINCE_FEEDBACK.value
CITY_FEEDBACK = Case.Source.CITY_FEEDBACK.value


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
    the feeds), the `index`-th block of it: their sizes (1 + items), creation moments and the
    case ids reserved for them, as runs (first, last) to give out in drawing order."""

    feed: int
    index: int
    first: int
    sizes: list[int]
    created: list[int]
    ids: list[tuple[int, int]]

    @property
    def cases(self) -> int:
        return sum(self.sizes)


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
    head: str = ""  # seal of its last history row, once the history is sealed
    length: int = 0  # history rows
    story: Story = field(init=False)
    updated: int = field(init=False)


def problem_sizes(rng: random.Random, count: int) -> list[int]:
    """Sizes of an inspection's problems: 1 standalone, 1 + its items (~10% of them)."""
    sizes: list[int] = []
    left = count
    while left > 0:
        size = 1 + min(rng.randint(2, 12), left - 1) if left >= 3 and rng.random() < 0.1 else 1
        sizes.append(size)
        left -= size
    return sizes


class Drawer:
    """Draws the cases of the inspections (`feeds`) block by block. In the command's process
    or in worker processes (forked: they inherit it)."""

    def __init__(
        self, *, seed: int, clock: Clock, feeds: list[Feed], inspectors: dict[int, int]
    ) -> None:
        self.seed = seed
        self.clock = clock
        self.feeds = feeds
        self.inspectors = inspectors  # unit id -> user id
        self.rng: random.Random = Stream(0)  # the block's stream, replaced block by block
        # The latest moment anything happens: just before the start of `today`.
        self.end = -60

    def blocks(self, ids: Any) -> Iterator[Block]:
        """Every inspection's problems in blocks, in order, each with its case ids (`ids.take(n)`
        gives the runs of the next n reserved ids). An inspection's plan (how many problems,
        their sizes and when they were registered) is drawn from its own stream first;
        `last_case_number` is set from it."""
        for index, feed in enumerate(self.feeds):
            rng = stream(self.seed, index)
            sizes = problem_sizes(rng, feed.count)
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
                    ids=ids.take(sum(part)),
                )

    def block(self, block: Block) -> list[CaseRec]:
        """The cases of a block, an inspection's problems numbered in the order they were
        registered, each problem followed by its items; with their ids."""
        feed = self.feeds[block.feed]
        self.rng = stream(self.seed, block.feed, block.index)
        chunk: list[CaseRec] = []
        numbers = range(block.first + 1, block.first + 1 + len(block.sizes))
        for number, size, at in zip(numbers, block.sizes, block.created, strict=True):
            self.problem(chunk, feed, number, size, at)
        ids = (case_id for first, last in block.ids for case_id in range(first, last + 1))
        for rec, case_id in zip(chunk, ids, strict=True):
            rec.id = case_id
        return chunk

    def chunks(self, ids: Any, batch: int) -> Iterator[list[CaseRec]]:
        """The cases in batches of at least `batch` (whole blocks), drawn here."""
        chunk: list[CaseRec] = []
        for block in self.blocks(ids):
            chunk += self.block(block)
            if len(chunk) >= batch:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def checklist(self) -> list[str]:
        rng = self.rng
        if rng.random() >= 0.08:
            return []
        return rng.sample(CHECKS, rng.randint(1, 3))

    def story(self, rec: CaseRec, status: str, limit: int, min_done: int) -> Story:
        clock = self.clock
        return draw_story(
            self.rng,
            today_ord=clock.today_ord,
            iso=clock.iso,
            created=rec.created,
            deadline=rec.original_deadline,
            status=status,
            checklist=rec.checklist,
            limit=limit,
            min_done=min_done,
        )

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
        inspector = self.inspectors.get(unit.pk)
        owner = inspector if inspector is not None and rnd() < 0.7 else None
        amount = None
        if rnd() < 0.15:
            cents = 100_00 + int(rnd() * (5_000_000_00 - 100_00 + 1))  # randint
            amount = f"{cents // 100}.{cents % 100:02d}"
        return CaseRec(
            code=code,
            title=title,
            description=f"{inspection.name}：{title}。",
            inspection_id=inspection.pk,
            source=source,
            responsible_unit_id=unit.pk,
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
        """A problem and its items (`size - 1`), appended to `chunk`."""
        rng = self.rng
        day_of = self.clock.day_of
        inspection = feed.inspection
        unit = feed.pick_unit(rng)
        n_items = size - 1
        status = pick_status(rng, day_of(-1) - day_of(created), with_items=n_items > 0)
        case = self.new_case(
            feed,
            code=f"{inspection.code}-{number:03d}",
            title=f"{unit.name}{rng.choice(PROBLEMS)}",
            unit=unit,
            created=created,
            deadline=day_of(created) + rng.choice((30, 60, 90, 90, 180, 180, 365)),
        )
        case.is_key_problem = inspection.kind == KEY_PROBLEMS or rng.random() < 0.03
        case.supervisor_id = rng.choice(feed.area.supervisors)
        # A problem with items is done at least two days after it was registered, leaving its
        # items time to be registered and, if it was closed, done before.
        case.story = self.story(case, status, self.end, 2 * DAY if n_items else 0)
        case.updated = case.story.last
        chunk.append(case)
        if n_items:
            self.items(chunk, feed, case, unit, n_items)

    def items(
        self, chunk: list[CaseRec], feed: Feed, case: CaseRec, unit: Unit, count: int
    ) -> None:
        """The items of a problem (`unit`: the problem's unit, responsible for about half of
        them): registered while the problem is not done; a closed problem had all its items
        done before it was closed (an exempted one need not have)."""
        rng = self.rng
        day_of = self.clock.day_of
        story = case.story
        created = case.created
        closes = story.first_done if story.status == COMPLETED else None
        bound = story.first_done
        if bound is None:
            bound = min(self.end, created + 90 * DAY)
        item_limit = closes - 60 if closes is not None else self.end
        moments = [story.last]
        for index in range(1, count + 1):
            item_created = rng.randint(created + 1, created + 1 + (bound - created) // 3)
            item_unit = unit if rng.random() < 0.5 else feed.pick_unit(rng)
            item = self.new_case(
                feed,
                code=f"{case.code}-{index:02d}",
                unit=item_unit,
                created=item_created,
                title=f"{case.title}：“{rng.choice(ITEM_PHRASES)}”事项整改",
                deadline=day_of(item_created) + rng.choice((30, 60, 90, 180)),
            )
            item.parent = case
            item.supervisor_id = case.supervisor_id
            if rng.random() < 0.5:
                item.method = rng.choice(METHODS)
            if closes is not None:
                status = EXEMPTED if rng.random() < 0.05 else COMPLETED
            else:
                status = pick_status(rng, day_of(-1) - day_of(item_created), False)
            item.story = self.story(item, status, item_limit, 1 if closes is not None else 0)
            item.updated = item.story.last
            case.items_total += 1
            case.items_done += status in DONE
            # The problem's counter moved when an item was added and when one got done.
            moments.append(item_created)
            moments.extend(item.story.done_changes)
            chunk.append(item)
        case.updated = max(moments)
