"""Chinese text search over code, title and description, served by the search index."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from cases import search, selectors
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


def _through_the_index(queryset, *, explain=False):
    """The rows (or the plan) of `queryset` with every plan but the search index's refused."""
    sql, params = queryset.order_by().values_list("title", flat=True).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")  # not the deadline index either
        cursor.execute(f"EXPLAIN {sql}" if explain else sql, params)
        rows = [row[0] for row in cursor.fetchall()]
    return "\n".join(rows) if explain else set(rows)


@pytest.mark.parametrize(
    "term", ["林", "林业", "审批事项", "林业局审批事项超时", "j", "jc-2026", "100%", "a'b\\c"]
)
def test_terms_of_every_length_are_served_by_the_search_index(world, term):
    world.case(title="林业局审批事项超时")
    cases = CaseFilter({"search": term}, queryset=selectors.visible_cases(world.admin)).qs
    assert "case_search_grams" in _through_the_index(cases, explain=True)


# Texts with what a term may hold: Chinese, ASCII of both cases, digits, spaces, quotes, a
# backslash, LIKE's wildcards, tsquery's operators and the index builder's own separators
# (U+001D..U+001F); codes whose runs continue into the title, digits in a title.
TEXTS = [
    ("HC1-2024-001", "林业局审批事项超时", "涉及群众办事，耕地保护不到位"),
    ("HC1-2024-002", "资金拨付不及时", "惠民资金 a'b\\c & !d | e:f (g) <->"),
    ("JC-2026-ab", "完成率100%的问题", "a_b 问题; 土地\x1e\x1f扶贫"),
    ("XC-9", "林", "x"),
    ("HC1-2024-063-2726-01", "2726号整改", "063-27 \x1d\x1e描述"),
    ("AB", "c", "hc1-2024-063-27"),
]


def _terms():
    """Every piece of one to ten characters of the texts, and some found nowhere."""
    terms = {"土地扶贫", "林业局长", "zz", "问题x", "\\", "'", "&", "|", "!", ":*"}
    terms |= {"\x1d", "\x1e", "\x1f"}
    # Longer than ten, from a code into the rest: the index looks for their first ten only.
    terms |= {"AB c hc1-2024-063", "2726-01 2726号整改", "HC1-2024-063-2726-01 2726号"}
    for code, title, description in TEXTS:
        text = f"{code} {title} {description}"
        for length in range(1, 11):
            terms.update(text[i : i + length] for i in range(0, len(text) - length + 1))
    return sorted(terms)


def test_the_search_index_finds_every_match_the_plain_query_finds(world):
    for code, title, description in TEXTS:
        world.case(code=code, title=title, description=description)
    visible = selectors.visible_cases(world.admin)
    terms = _terms()
    assert len(terms) > 150
    for term in terms:
        expected = {
            title
            for code, title, description in TEXTS
            if term.upper() in f"{code} {title} {description}".upper()
        }
        assert _through_the_index(search.matching(visible, term)) == expected, term
        assert _through_the_index(search.matching(visible, term.lower())) == {
            title
            for code, title, description in TEXTS
            if term.lower().upper() in f"{code} {title} {description}".upper()
        }, term.lower()


@pytest.mark.parametrize("count_walk", [5000, 1], ids=["window", "index"])
def test_the_count_finds_what_the_plain_query_finds(world, monkeypatch, count_walk):
    """The count's own SQL (its window: on the text as written for a term without cased
    letters, upper-cased otherwise; or the index) against the texts and terms above."""
    monkeypatch.setattr("cases.search.COUNT_WALK_ROWS", count_walk)
    made = {world.case(code=c, title=t, description=d).pk: (c, t, d) for c, t, d in TEXTS}
    base = selectors.visible_cases(world.admin)
    for term in [*_terms(), "jc-2026-AB", "hc1", "A'B\\C"]:
        found, complete = search.Search(base=base, term=term).first_ids(100)
        expected = {pk for pk, parts in made.items() if term.upper() in " ".join(parts).upper()}
        assert (set(found), complete) == (expected, True), term


@pytest.mark.parametrize(
    ("count_walk", "term", "expected", "queries"),
    [
        (2000, "林业", (12, True), 1),  # the window is the whole list: counted there
        (2000, "问题", (20, False), 1),  # the limit found in the window
        (25, "问题", (20, False), 1),  # a longer list, but the window holds the limit
        # A longer list than the window: through the index (in a savepoint, for its SET).
        (5, "林业", (12, True), 5),
        (5, "问题", (20, False), 5),
        (5, "无此词", (0, True), 5),
    ],
)
def test_the_count_of_a_search_reads_a_window_then_the_index(
    world, monkeypatch, django_assert_num_queries, count_walk, term, expected, queries
):
    monkeypatch.setattr("cases.search.COUNT_WALK_ROWS", count_walk)
    for i in range(40):
        world.case(title=f"{'林业' if i % 3 == 0 and i < 36 else '水利'}问题{i:02d}")
    base = selectors.visible_cases(world.supervisor)
    with django_assert_num_queries(queries):
        found, complete = search.Search(base=base, term=term).first_ids(20)
    assert (len(found), complete) == expected
    assert set(found) <= set(search.matching(base, term).values_list("id", flat=True))


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


# --- Pages of a search: every way of reading them gives the plain ordered query's rows -------


def _spread(world, *, matches_late: bool) -> None:
    """40 cases a day apart: 12 match "林业", either spread through the list or all at its
    end (a term that belongs to one late inspection)."""
    today = timezone.localdate()
    for i in range(40):
        hit = i >= 28 if matches_late else i % 3 == 0 and i < 36
        world.case(
            title=f"{'林业' if hit else '水利'}问题{i:02d}", deadline=today + timedelta(days=i)
        )


def _api_pages(world, params, pages):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(world.supervisor)
    seen = []
    for page in range(1, pages + 1):
        body = api.get("/api/v1/cases/", {**params, "page": page, "page_size": 5}).json()
        seen.append([row["title"] for row in body["results"]])
    return seen


def _expected(world, params, pages):
    ordering = params.get("ordering", "deadline")
    rows = (
        selectors.visible_cases(world.supervisor)
        .filter(title__contains=params["search"])
        .order_by(ordering, "id")
        .values_list("title", flat=True)
    )
    titles = list(rows)
    return [titles[i * 5 : i * 5 + 5] for i in range(pages)]


@pytest.mark.parametrize("matches_late", [False, True], ids=["spread", "gathered-late"])
@pytest.mark.parametrize(
    ("cap", "walk", "count_walk"),
    [
        (1000, 4000, 2000),  # every match counted: the page is read by id
        (1000, 4000, 5),  # every match counted through the index
        (7, 4000, 2000),  # more than the cap; the walk covers the whole list
        (7, 20, 5),  # a short walk: spread matches fill it, gathered ones are sorted instead
    ],
)
@pytest.mark.parametrize("ordering", ["deadline", "-deadline", "-updated_at", "created_at"])
def test_search_pages_match_the_plain_ordered_query(
    world, monkeypatch, matches_late, cap, walk, count_walk, ordering
):
    monkeypatch.setattr("cases.pagination.SEARCH_COUNT_CAP", cap)
    monkeypatch.setattr("cases.search.WALK_ROWS", walk)
    monkeypatch.setattr("cases.search.COUNT_WALK_ROWS", count_walk)
    _spread(world, matches_late=matches_late)
    params = {"search": "林业", "ordering": ordering}
    expected = _expected(world, params, 3)
    if cap == 7:  # past the cap, pages stop at it: 5 rows, then 2
        expected = [expected[0], expected[1][:2]]
    assert _api_pages(world, params, len(expected)) == expected


def test_a_gathered_term_falls_back_to_sorting_its_matches(world, monkeypatch):
    from cases.search import Search

    monkeypatch.setattr("cases.search.WALK_ROWS", 6)
    _spread(world, matches_late=True)
    base = selectors.visible_cases(world.supervisor).order_by("deadline", "id")
    search = Search(base=base, term="林业")
    order = search._order()
    assert search._walk(order, 5) is None  # six rows read, no match among them
    first = search.page(0, 5, None)
    assert [case.title for case in first] == [f"林业问题{i}" for i in range(28, 33)]
    first_deadline = first[0].deadline
    later = Search(base=base.filter(deadline__gte=first_deadline), term="林业")
    # From the first match on, every row matches: the walk finds two in its six rows.
    assert later._walk(order, 2) is not None
    assert [c.title for c in later.page(0, 2, None)] == ["林业问题28", "林业问题29"]


def test_the_page_of_a_search_keeps_the_scope(world, monkeypatch):
    monkeypatch.setattr("cases.pagination.SEARCH_COUNT_CAP", 1)
    monkeypatch.setattr("cases.search.WALK_ROWS", 2)
    for i in range(3):
        world.case(unit=world.unit_b, title=f"乙县林业{i}")
        world.case(title=f"甲县林业{i}")
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(world.inspector_a)
    body = api.get("/api/v1/cases/", {"search": "林业"}).json()
    titles = [row["title"] for row in body["results"]]
    assert len(titles) == 1  # capped at 1: one page of one row, in scope
    assert titles[0] in {f"甲县林业{i}" for i in range(3)}
    api.force_authenticate(world.inspector_b)
    body = api.get("/api/v1/cases/", {"search": "林业"}).json()
    assert body["results"][0]["title"] in {f"乙县林业{i}" for i in range(3)}


def test_the_web_list_pages_a_search_the_same_way(world, client, monkeypatch):
    monkeypatch.setattr("cases.pagination.SEARCH_COUNT_CAP", 3)
    monkeypatch.setattr("cases.search.WALK_ROWS", 6)
    _spread(world, matches_late=True)
    client.force_login(world.supervisor)
    page = client.get("/cases/", {"search": "林业"}).content.decode()
    shown = [f"林业问题{i}" for i in range(28, 40) if f"林业问题{i}" in page]
    assert shown[:3] == ["林业问题28", "林业问题29", "林业问题30"]
    assert "超过 3 个问题" in page


@pytest.mark.parametrize(("cap", "walk"), [(1000, 4000), (7, 4000), (7, 3)])
@pytest.mark.parametrize("ordering", ["deadline", "-deadline"])
def test_pages_of_equal_deadlines_neither_repeat_nor_skip(world, monkeypatch, cap, walk, ordering):
    monkeypatch.setattr("cases.pagination.SEARCH_COUNT_CAP", cap)
    monkeypatch.setattr("cases.search.WALK_ROWS", walk)
    same_day = timezone.localdate() + timedelta(days=9)
    made = [world.case(title=f"林业问题{i:02d}", deadline=same_day) for i in range(12)]
    params = {"search": "林业", "ordering": ordering}
    pages = _api_pages(world, params, 3 if cap == 1000 else 2)
    titles = [title for page in pages for title in page]
    # Ties go by id: the order the cases were made in, across pages.
    expected = [case.title for case in made][: len(titles)]
    assert titles == expected
    assert len(titles) == (12 if cap == 1000 else 7)


def test_the_plain_list_breaks_ties_by_id_too(world):
    from rest_framework.test import APIClient

    same_day = timezone.localdate() + timedelta(days=9)
    made = [world.case(title=f"问题{i:02d}", deadline=same_day) for i in range(7)]
    api = APIClient()
    api.force_authenticate(world.supervisor)
    seen = []
    for page in (1, 2):
        body = api.get("/api/v1/cases/", {"ordering": "-deadline", "page_size": 4, "page": page})
        seen += [row["title"] for row in body.json()["results"]]
    assert seen == [case.title for case in made]
