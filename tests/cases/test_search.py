"""Chinese text search over code, title and description, served by the trigram index."""

import pytest
from django.db import connection

from cases import selectors
from cases.filters import CaseFilter

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _search(user, text):
    cases = CaseFilter({"search": text}, queryset=selectors.visible_cases(user)).qs
    return set(cases.values_list("title", flat=True))


def test_it_finds_chinese_words_of_any_length_in_title_description_and_code(world):
    world.case(title="林业局审批事项超时", description="涉及群众办事")
    world.case(title="资金拨付不及时", description="林业补贴", code="JC-2026-ab")
    world.case(title="无关问题")
    assert _search(world.supervisor, "林业") == {"林业局审批事项超时", "资金拨付不及时"}
    assert _search(world.supervisor, "审批事项") == {"林业局审批事项超时"}
    assert _search(world.supervisor, "林") == {"林业局审批事项超时", "资金拨付不及时"}
    assert _search(world.supervisor, "jc-2026-AB") == {"资金拨付不及时"}  # any case
    assert _search(world.supervisor, "群众办事") == {"林业局审批事项超时"}


def test_like_wildcards_are_searched_literally(world):
    world.case(title="完成率100%的问题")
    world.case(title="完成率100的问题")
    world.case(title="a_b 问题")
    assert _search(world.supervisor, "100%") == {"完成率100%的问题"}
    assert _search(world.supervisor, "a_b") == {"a_b 问题"}
    assert _search(world.supervisor, "%") == {"完成率100%的问题"}


def test_search_stays_in_scope(world):
    world.case(unit=world.unit_b, title="乙县林业问题")
    world.case(title="甲县林业问题")
    assert _search(world.inspector_a, "林业问题") == {"甲县林业问题"}
    assert _search(world.no_unit, "林业问题") == set()


def test_the_search_expression_is_the_indexed_one(world):
    world.case(title="林业局审批事项超时")
    cases = CaseFilter({"search": "审批事项"}, queryset=selectors.visible_cases(world.admin)).qs
    sql, params = cases.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")  # not the deadline index either
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "case_search_trgm" in plan


def test_a_search_counts_matches_up_to_a_cap(world, client, monkeypatch):
    from rest_framework.test import APIClient

    monkeypatch.setattr("cases.pagination.SEARCH_COUNT_CAP", 3)
    for i in range(4):
        world.case(title=f"林业问题{i}")
    api = APIClient()
    api.force_authenticate(world.supervisor)
    capped = api.get("/api/v1/cases/", {"search": "林业"}).json()
    assert (capped["count"], capped["count_exact"], len(capped["results"])) == (3, False, 3)
    exact = api.get("/api/v1/cases/", {"search": "林业问题1"}).json()
    assert (exact["count"], exact["count_exact"]) == (1, True)
    unfiltered = api.get("/api/v1/cases/").json()  # no search: counted exactly, uncapped
    assert (unfiltered["count"], unfiltered["count_exact"]) == (4, True)

    client.force_login(world.supervisor)
    page = client.get("/cases/", {"search": "林业"}).content.decode()
    assert "超过 3 个问题" in page
    assert "共 1 个问题" in client.get("/cases/", {"search": "林业问题2"}).content.decode()
