"""Pagination for case lists, shared by the pages and the API.

A search over a province's million cases can match tens of thousands of them; counting every
match costs more than finding a page of them. With a `cap`, the paginator counts at most
`cap` + 1 rows: beyond the cap, `count` is the cap and `count_exact` is False (the pages say
"1000+", the API sends `count_exact: false`), and pages stop at the cap: refine the search.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.utils.functional import cached_property

SEARCH_COUNT_CAP = 1000


class CappedPaginator(Paginator):
    def __init__(self, object_list: Any, per_page: int, *, cap: int | None = None, **kwargs: Any):
        super().__init__(object_list, per_page, **kwargs)
        self.cap = cap
        self.count_exact = True

    @cached_property
    def count(self) -> int:
        if self.cap is None:
            return super().count
        # Unordered: any cap + 1 matches will do, found the cheapest way.
        counted = self.object_list.order_by()[: self.cap + 1].count()  # type: ignore[attr-defined]
        self.count_exact = counted <= self.cap
        return min(counted, self.cap)


def count_cap(params: Any) -> int | None:
    """The cap for a list request: searches only (filters alone count exactly and fast)."""
    return SEARCH_COUNT_CAP if str(params.get("search") or "").strip() else None
