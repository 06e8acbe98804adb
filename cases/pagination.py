"""Pagination for case lists, shared by the pages and the API.

A search over a province's million cases can match tens of thousands of them; counting every
match costs more than finding a page of them. With a `cap`, the paginator counts at most
`cap` + 1 rows: beyond the cap, `count` is the cap and `count_exact` is False (the pages say
"1000+", the API sends `count_exact: false`), and pages stop at the cap: refine the search.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce
from django.utils.functional import cached_property

from .search import Search

SEARCH_COUNT_CAP = 1000
# A list of at most this many rows is sorted after it is filtered (`sorted_after_filtering`).
SORT_AFTER_FILTERING_MAX = 3000


class CappedPaginator(Paginator):
    """`search`: the list's search (cases.search), which reads its pages."""

    def __init__(
        self,
        object_list: Any,
        per_page: int,
        *,
        cap: int | None = None,
        search: Search | None = None,
        **kwargs: Any,
    ):
        super().__init__(object_list, per_page, **kwargs)
        self.cap = cap
        self.search = search
        self.count_exact = True
        self.all_ids: list[int] | None = None

    @cached_property
    def count(self) -> int:
        if self.cap is None:
            return super().count
        # Unordered: any cap + 1 matches will do, found the cheapest way. Their ids, not just
        # their number: when that is all of them, the search reads its page by id.
        if self.search is not None:
            found, complete = self.search.first_ids(self.cap + 1)
            self.count_exact = complete and len(found) <= self.cap
        else:
            found = list(
                self.object_list.order_by().values_list("pk", flat=True)[: self.cap + 1]  # type: ignore[attr-defined]
            )
            self.count_exact = len(found) <= self.cap
        if self.count_exact:
            self.all_ids = found
        return min(len(found), self.cap)

    def page(self, number: Any) -> Page:
        if self.search is None:
            if isinstance(self.object_list, QuerySet) and self.count <= SORT_AFTER_FILTERING_MAX:
                self.object_list = sorted_after_filtering(self.object_list)
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        rows = self.search.page(bottom, top, self.all_ids)
        return self._get_page(rows, number, self)  # type: ignore[attr-defined]


def sorted_after_filtering(rows: QuerySet) -> QuerySet:
    """`rows` in the same order, sorted once they are filtered rather than read in order.

    With a LIMIT, PostgreSQL likes to walk an index in the list's order (deadline, updated_at)
    and drop the rows the filters refuse, assuming matches are spread evenly: for a unit's
    thousand cases among a million that walked 20,000 to 30,000 index entries (25 to 75 ms)
    where reading the thousand through the filters' indexes and sorting them takes a few. Once
    the count is known to be small, each sort key is written as COALESCE(column, column), the
    same value and order, which no index serves, so that the planner filters first."""
    keys: list[Any] = []
    for name in rows.query.order_by:
        if not isinstance(name, str):
            return rows  # an expression already: left as the list made it
        descending = name.startswith("-")
        column = F(name.lstrip("-"))
        key = Coalesce(column, column)
        keys.append(key.desc() if descending else key.asc())
    return rows.order_by(*keys) if keys else rows


def count_cap(params: Any) -> int | None:
    """The cap for a list request: searches only (filters alone count exactly and fast)."""
    return SEARCH_COUNT_CAP if str(params.get("search") or "").strip() else None
