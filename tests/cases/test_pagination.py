"""Case lists' pages (cases.pagination): a small list is sorted after filtering, with the
same rows in the same order as the list's own ORDER BY."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases import pagination, selectors
from cases.filters import CaseFilter
from cases.pagination import CappedPaginator

pytestmark = pytest.mark.django_db


def _pages(user, ordering, per_page=3):
    cases = CaseFilter({"ordering": ordering}, queryset=selectors.case_list(user)).qs
    paginator = CappedPaginator(cases, per_page)
    with CaptureQueriesContext(connection) as queries:
        pages = [
            [case.pk for case in paginator.page(number).object_list]
            for number in paginator.page_range
        ]
    return pages, [query["sql"] for query in queries.captured_queries]


@pytest.mark.parametrize("ordering", ["deadline", "-deadline", "-updated_at", "code", "status"])
def test_it_reads_a_small_list_in_the_lists_own_order(world, ordering):
    today = timezone.localdate()
    # Ties on the deadline and status: broken by id, as CaseFilter orders.
    for offset in (5, 1, 5, 3, 1, 9, 5):
        world.case(deadline=today + timedelta(days=offset))
    world.case(unit=world.unit_b)  # not the inspector's
    expected = list(
        CaseFilter(
            {"ordering": ordering}, queryset=selectors.case_list(world.inspector_a)
        ).qs.values_list("pk", flat=True)
    )
    pages, sql = _pages(world.inspector_a, ordering)
    assert [pk for page in pages for pk in page] == expected
    assert len(expected) == 7
    assert any("COALESCE" in statement for statement in sql)


def test_it_leaves_a_long_list_to_the_index_order(world, monkeypatch):
    for _ in range(4):
        world.case()
    monkeypatch.setattr(pagination, "SORT_AFTER_FILTERING_MAX", 3)
    pages, sql = _pages(world.inspector_a, "deadline")
    assert sum(len(page) for page in pages) == 4
    assert not any("COALESCE" in statement for statement in sql)
