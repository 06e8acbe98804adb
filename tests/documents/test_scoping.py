"""Who gets what: a user of another unit, an inspector, a holder of a stolen API token and an
anonymous caller, on every document; bad filters are a 400 with nothing built."""

from __future__ import annotations

import pytest
from django.test import Client

from cases import services
from tests.documents.helpers import all_text, body_of, open_docx, open_workbook, sheet_rows
from tests.factories import api_key, days, drive_to

pytestmark = pytest.mark.django_db

URLS = (
    "/reports/progress.docx",
    "/reports/notice.docx",
    "/reports/lists.xlsx",
    "/reports/lists.docx",
)
DOCX_URLS = ("/reports/progress.docx", "/reports/notice.docx", "/reports/lists.docx")


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def cases(world):
    """An overdue case of the inspector's unit, one of its sub-unit, one of a sibling county's
    unit, and one on the restricted clue ledger in the inspector's own unit."""
    found = {
        "own": world.case(title="本单位逾期问题", deadline=days(-5)),
        "child": world.case(world.unit_a_child, title="股室逾期问题", deadline=days(-3)),
        "foreign": world.case(world.unit_b, title="乙县局逾期问题", deadline=days(-4)),
        "restricted": world.case(
            inspection=world.restricted, title="线索核查逾期", deadline=days(-6)
        ),
    }
    drive_to(world.case(title="本单位已完成问题"), "completed", world.supervisor)
    return found


def test_anonymous_callers_are_sent_to_the_login_page(client, cases):
    for url in URLS:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_an_api_token_opens_no_document(world, cases):
    """The documents are pages: a stolen token (the API's credential) is not a session."""
    key = api_key(world.supervisor)
    for url in URLS:
        response = Client().get(url, HTTP_AUTHORIZATION=f"Token {key}")
        assert response.status_code == 302, url


def test_an_inspector_reads_only_their_units_cases(world, cases):
    client = client_of(world.inspector_a)
    for url in DOCX_URLS:
        text = all_text(open_docx(client.get(url)))
        assert "本单位逾期问题" in text and "股室逾期问题" in text, url
        assert "乙县局逾期问题" not in text and "乙县局" not in text, url
        assert "线索核查逾期" not in text and "限定范围台账" not in text, url
    book = open_workbook(client.get("/reports/lists.xlsx"))
    titles = {row[4] for row in sheet_rows(book["问题清单"])}
    assert titles == {"本单位逾期问题", "股室逾期问题", "本单位已完成问题"}
    units = {row[1] for row in sheet_rows(book["责任清单"])}
    assert units == {"甲县局", "甲县局股室"}


def test_a_sibling_units_inspector_sees_none_of_them(world, cases):
    text = all_text(open_docx(client_of(world.inspector_b).get("/reports/progress.docx")))
    assert "乙县局逾期问题" in text
    for title in ("本单位逾期问题", "股室逾期问题", "线索核查逾期", "本单位已完成问题"):
        assert title not in text


def test_the_commission_reads_the_clue_ledger_in_the_report_not_in_the_notice(world, cases):
    client = client_of(world.supervisor)
    report = all_text(open_docx(client.get("/reports/progress.docx")))
    notice = all_text(open_docx(client.get("/reports/notice.docx")))
    assert "线索核查逾期" in report and "限定范围台账共1件" in report
    assert "线索核查逾期" not in notice and "限定范围" not in notice
    assert "乙县局逾期问题" in report and "乙县局逾期问题" in notice
    # A government department's supervisor never reads the clue ledger.
    dept = all_text(open_docx(client_of(world.dept_supervisor).get("/reports/progress.docx")))
    assert "本单位逾期问题" in dept and "线索核查逾期" not in dept


def test_a_unit_narrows_to_its_subtree(world, cases):
    client = client_of(world.supervisor)
    text = all_text(
        open_docx(client.get("/reports/progress.docx", {"unit": world.unit_a_child.pk}))
    )
    assert "股室逾期问题" in text
    assert "本单位逾期问题" not in text and "乙县局逾期问题" not in text
    assert "甲县局股室" in text.splitlines()[0]  # the title names the unit


@pytest.mark.parametrize(
    "params",
    [
        {"unit": "sibling"},  # a unit out of the inspector's sight: as if it did not exist
        {"inspection": "restricted"},
        {"region": "county_b"},
        {"as_of": "2999-01-01"},
        {"as_of": "yesterday"},
        {"level": "everything"},
    ],
)
def test_bad_or_foreign_filters_are_refused_with_nothing_built(world, cases, params):
    ids = {
        "sibling": world.unit_b.pk,
        "restricted": world.restricted.pk,
        "county_b": world.county_b.pk,
    }
    query = {name: ids.get(value, value) for name, value in params.items()}
    client = client_of(world.inspector_a)
    for url in URLS:
        response = client.get(url, query)
        assert response.status_code == 400, (url, query)
        assert response["Content-Type"].startswith("text/html")
        page = response.content.decode()
        assert "筛选条件有误" in page
        assert "乙县局逾期问题" not in page and "线索核查逾期" not in page


def test_the_lists_refuse_a_selection_past_the_limit(world, cases, settings):
    settings.DOCUMENT_MAX_ROWS = 2
    response = client_of(world.supervisor).get("/reports/lists.xlsx")
    assert response.status_code == 400
    assert "超过 2 个问题" in response.content.decode()
    narrowed = client_of(world.supervisor).get("/reports/lists.xlsx", {"unit": world.unit_b.pk})
    assert narrowed.status_code == 200


def test_text_that_looks_like_a_formula_stays_text_in_the_workbook(world):
    world.case(title='=HYPERLINK("http://example.com","点击")')
    ws = open_workbook(client_of(world.supervisor).get("/reports/lists.xlsx"))["问题清单"]
    cell = ws["E5"]
    assert cell.value.startswith("=HYPERLINK") and cell.data_type == "s"


def test_control_characters_in_user_text_do_not_break_the_document(world):
    world.case(title="含控制字符\x07的问题", deadline=days(-2))
    text = all_text(open_docx(client_of(world.supervisor).get("/reports/progress.docx")))
    assert "含控制字符的问题" in text


def test_a_user_without_a_unit_gets_an_empty_document(world, cases):
    text = all_text(open_docx(client_of(world.no_unit).get("/reports/progress.docx")))
    assert "暂无整改问题" in text
    assert "本单位逾期问题" not in text


def test_the_api_records_and_returns_the_publication_flag(world):
    from rest_framework.test import APIClient

    case = world.case(title="待定问题")
    client = APIClient()
    client.force_authenticate(world.supervisor)
    response = client.patch(
        f"/api/v1/cases/{case.pk}/", {"not_for_publication": True}, format="json"
    )
    assert response.status_code == 200 and response.json()["not_for_publication"] is True
    case.refresh_from_db()
    assert case.not_for_publication
    event = case.events.order_by("-seq").first()
    assert event.kind == "edit" and event.changes == {"not_for_publication": [False, True]}
    # An inspector may not change it (a supervisor's edit).
    client.force_authenticate(world.inspector_a)
    refused = client.patch(
        f"/api/v1/cases/{case.pk}/", {"not_for_publication": False}, format="json"
    )
    assert refused.status_code == 403
    case.refresh_from_db()
    assert case.not_for_publication


def test_a_problem_registered_not_for_publication_leaves_the_notice_with_its_items(world):
    problem = services.case_create(
        actor=world.supervisor,
        inspection=world.inspection,
        title="不宜公开的问题",
        responsible_unit=world.unit_a,
        deadline=days(-1),
        not_for_publication=True,
    )
    world.case(title="不宜公开问题的事项", parent=problem, deadline=days(-1))
    assert problem.events.get().changes == {"not_for_publication": [None, True]}
    client = client_of(world.supervisor)
    notice = all_text(open_docx(client.get("/reports/notice.docx")))
    report = all_text(open_docx(client.get("/reports/progress.docx")))
    assert "不宜公开的问题" in report and "不宜公开问题的事项" in report
    assert "不宜公开" not in notice


def test_the_downloads_are_private_attachments(world, cases):
    response = client_of(world.supervisor).get("/reports/progress.docx")
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Cache-Control"] == "private, no-store"
    assert body_of(response)[:2] == b"PK"


def test_a_past_day_of_a_large_selection_is_refused_not_counted(world, cases, settings):
    """The notice counts its own selection: for a past day, only a bounded one (as the
    roll-ups do), else the dashboard's "not built yet" and no file."""
    settings.TALLY_LIVE_AS_OF_MAX_CASES = 1
    yesterday = days(-1).isoformat()
    response = client_of(world.supervisor).get("/reports/notice.docx", {"as_of": yesterday})
    assert response.status_code == 409
    assert "尚未生成" in response.content.decode()
    settings.TALLY_LIVE_AS_OF_MAX_CASES = 5000
    doc = open_docx(client_of(world.supervisor).get("/reports/notice.docx", {"as_of": yesterday}))
    assert f"截至{days(-1).year}年{days(-1).month}月{days(-1).day}日" in all_text(doc)


def test_line_breaks_in_a_cell_stay_line_breaks(world):
    world.case(title="多行问题", measures="第一步\n第二步")
    doc = open_docx(client_of(world.supervisor).get("/reports/lists.docx"))
    tasks = doc.tables[1]
    (row,) = [row for row in tasks.rows[1:] if row.cells[3].text == "多行问题"]
    assert row.cells[4].text == "第一步\n第二步"
    assert "<w:br/>" in row.cells[4]._tc.xml


def test_the_registration_form_marks_a_problem_not_for_publication(world):
    from django.urls import reverse

    from cases.models import Case

    url = reverse("cases:problem-create", args=[world.inspection.pk])
    data = {
        "problem-title": "登记时标记不宜公开",
        "problem-responsible_unit": world.unit_a.pk,
        "problem-deadline": days(-1).isoformat(),
        "problem-source": "city_feedback",
        "problem-not_for_publication": "on",
        "items-TOTAL_FORMS": "0",
        "items-INITIAL_FORMS": "0",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "200",
    }
    client = client_of(world.supervisor)
    assert "不宜公开" in client.get(url).content.decode()
    assert client.post(url, data).status_code == 302
    assert Case.objects.get(title="登记时标记不宜公开").not_for_publication
    assert "登记时标记不宜公开" not in all_text(open_docx(client.get("/reports/notice.docx")))
    assert "登记时标记不宜公开" in all_text(open_docx(client.get("/reports/progress.docx")))
