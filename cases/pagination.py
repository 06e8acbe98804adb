"""Pagination for case lists, shared by the pages and the API.

A search over a province's million cases can match tens of thousands of them; counting every
match costs more than finding a page of them. With a `cap`, the paginator counts at most
`cap` + 1 rows: beyond the cap, `count` is the cap and `count_exact` is False (the pages say
"1000+", the API sends `count_exact: false`), and pages stop at the cap: refine the search.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.utils.functional import cached_property

from .search import Search

SEARCH_COUNT_CAP = 1000


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
        found = list(
            self.object_list.order_by().values_list("pk", flat=True)[: self.cap + 1]  # type: ignore[attr-defined]
        )
        self.count_exact = len(found) <= self.cap
        if self.count_exact:
            self.all_ids = found
        return min(len(found), self.cap)

    def page(self, number: Any) -> Page:
        if self.search is None:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        rows = self.search.page(bottom, top, self.all_ids)
        return self._get_page(rows, number, self)  # type: ignore[attr-defined]


def count_cap(params: Any) -> int | None:
    """The cap for a list request: searches only (filters alone count exactly and fast)."""
    return SEARCH_COUNT_CAP if str(params.get("search") or "").strip() else None
