"""The ledger pages and the API export: controls on the list and dashboard, downloads, the
background job with its progress partial, the import flow, and who may see what."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook
from rest_framework.test import APIClient

from cases.models import Case, CaseEvent
from ledgers.models import ExportJob, ImportJob, Job
from ledgers.workbook import XLSX_CONTENT_TYPE
from tests.factories import ExportJobFactory, ImportJobFactory, api_key, days
from tests.ledgers.helpers import codes, csv_bytes, export_bytes, upload, worker_reads, xlsx

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user)
    return client


def workbook(response):
    return load_workbook(io.BytesIO(b"".join(response.streaming_content)))


@pytest.fixture
def cases(world):
    return [
        world.case(world.unit_a, title="消防逾期", deadline=days(-3)),
        world.case(world.unit_b, title="耕地", deadline=days(40)),
    ]


# --- Export -------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["cases:list", "cases:dashboard"])
def test_it_offers_the_export_with_the_current_filters(client, world, page):
    login(client, world.supervisor)
    body = client.get(reverse(page), {"inspection": world.inspection.pk}).content.decode()
    assert f'action="{reverse("ledgers:export")}"' in body
    assert f'name="query" value="inspection={world.inspection.pk}"' in body
    assert "csrfmiddlewaretoken" in body and "ledgers/ledgers.js" in body
    assert reverse("ledgers:import") in body  # supervisors may import


def test_it_offers_no_import_to_inspectors(client, world):
    body = login(client, world.inspector_a).get(reverse("cases:list")).content.decode()
    assert "导出台账" in body and reverse("ledgers:import") not in body


def test_it_downloads_a_small_export_at_once(client, world, cases):
    login(client, world.supervisor)
    response = client.post(reverse("ledgers:export"), {"query": "light=red"})
    assert response.status_code == 200 and response["Content-Type"] == XLSX_CONTENT_TYPE
    assert response["Content-Disposition"].startswith("attachment;")
    assert codes(workbook(response)) == [cases[0].code]
    assert not ExportJob.objects.exists()


def test_it_exports_only_what_the_user_may_see(client, world, cases):
    response = login(client, world.inspector_b).post(reverse("ledgers:export"), {"query": ""})
    assert codes(workbook(response)) == [cases[1].code]


def test_it_sends_bad_filters_back_with_a_message(client, world):
    login(client, world.supervisor)
    response = client.post(
        reverse("ledgers:export"), {"query": "status=bogus", "next": "/cases/?status=bogus"}
    )
    assert response.status_code == 302 and response["Location"] == "/cases/?status=bogus"
    body = client.get(response["Location"]).content.decode()
    assert "筛选条件有误" in body
    elsewhere = {"query": "status=bogus", "next": "https://evil.example/"}
    response = client.post(reverse("ledgers:export"), elsewhere)
    assert response["Location"] == reverse("cases:list")


def test_it_refuses_get_and_anonymous_exports(client, world):
    assert client.post(reverse("ledgers:export"))["Location"].startswith(reverse("login"))
    assert login(client, world.supervisor).get(reverse("ledgers:export")).status_code == 405


def test_it_runs_a_large_export_in_the_background_with_a_progress_bar(
    client, world, cases, settings, eager, django_capture_on_commit_callbacks
):
    settings.LEDGER_EXPORT_INLINE_ROWS = 1
    login(client, world.supervisor)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("ledgers:export"), {"query": "ordering=-deadline"})
    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("ledgers:export-job", args=[job.pk])
    # Queued: the page polls its status partial every second.
    body = client.get(response["Location"]).content.decode()
    status_url = reverse("ledgers:export-status", args=[job.pk])
    assert f'hx-get="{status_url}"' in body and 'hx-trigger="every 1s"' in body
    assert "<progress" in body
    for callback in callbacks:  # the task message leaves after the commit
        callback()
    job.refresh_from_db()
    assert job.status == Job.Status.DONE and job.processed == job.total == 2
    partial = client.get(status_url).content.decode()
    assert "hx-trigger" not in partial  # polling stops
    download = reverse("ledgers:export-download", args=[job.pk])
    assert download in partial
    response = client.get(download)
    assert response.status_code == 200 and response["Content-Type"] == XLSX_CONTENT_TYPE
    assert codes(workbook(response)) == [cases[1].code, cases[0].code]
    assert response["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize("persona", ["county_a_supervisor", "inspector_a", "admin"])
def test_it_shows_an_export_job_to_its_owner_only(client, world, cases, persona):
    job = ExportJobFactory(owner=world.supervisor, status=Job.Status.QUEUED, total=2)
    login(client, getattr(world, persona))
    for name in ("ledgers:export-job", "ledgers:export-status", "ledgers:export-download"):
        assert client.get(reverse(name, args=[job.pk])).status_code == 404, name


def test_it_answers_404_for_a_download_not_ready(client, world):
    job = ExportJobFactory(owner=world.supervisor, status=Job.Status.RUNNING, total=2)
    login(client, world.supervisor)
    assert client.get(reverse("ledgers:export-download", args=[job.pk])).status_code == 404


# --- Import -------------------------------------------------------------------------------


def test_it_previews_and_then_imports_an_upload(client, world):
    login(client, world.supervisor)
    assert "上传并预览" in client.get(reverse("ledgers:import")).content.decode()
    rows = [
        {
            "问题编号": "V-1",
            "所属检查": world.inspection.name,
            "问题标题": "<b>新问题</b>",
            "责任单位": "甲县局",
            "整改时限": "2024-06-30",
        }
    ]
    response = client.post(reverse("ledgers:import"), {"file": upload(xlsx(rows))})
    worker_reads()
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("ledgers:import-job", args=[job.pk])
    body = client.get(response["Location"]).content.decode()
    assert "确认导入" in body and "V-1" in body and not Case.objects.filter(code="V-1").exists()
    response = client.post(reverse("ledgers:import-confirm", args=[job.pk]), follow=True)
    body = response.content.decode()
    assert "已导入：新增 1 个" in body and "导入完成" in body
    assert Case.objects.get(code="V-1").title == "<b>新问题</b>"


def test_it_shows_the_problems_with_row_numbers_escaped(client, world):
    login(client, world.supervisor)
    rows = [
        {
            "问题编号": "V-1",
            "所属检查": "<script>alert(1)</script>",
            "问题标题": "x",
            "责任单位": "甲县局",
            "整改时限": "2024-06-30",
        }
    ]
    client.post(reverse("ledgers:import"), {"file": upload(csv_bytes(rows, "gb18030"), "a.csv")})
    worker_reads()
    body = client.get(reverse("ledgers:import-job", args=[ImportJob.objects.get().pk])).content
    text = body.decode()
    assert "第 2 行" in text and "&lt;script&gt;" in text and "<script>alert" not in text
    assert "确认导入" not in text


def test_it_shows_an_unreadable_file_on_the_form(client, world):
    login(client, world.supervisor)
    response = client.post(
        reverse("ledgers:import"), {"file": upload(b"\xd0\xcf\x11\xe0xx", "a.xls")}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "请上传 .xlsx 或 .csv 文件" in body
    assert not ImportJob.objects.exists()
    # A damaged .xlsx is only found out by reading it, which the worker does: the job says so.
    response = client.post(reverse("ledgers:import"), {"file": upload(b"PK\x03\x04xx", "a.xlsx")})
    worker_reads()
    body = client.get(response["Location"]).content.decode()
    assert "无法读取该 Excel 文件" in body
    assert ImportJob.objects.get().status == ImportJob.Status.FAILED


def test_it_refuses_an_upload_over_the_size_limit(client, world, settings):
    settings.LEDGER_IMPORT_MAX_MB = 1
    login(client, world.supervisor)
    big = upload(b"x" * (1024 * 1024 + 1), "a.csv")
    assert "超过 1 MB" in client.post(reverse("ledgers:import"), {"file": big}).content.decode()


def test_it_shows_a_running_import_with_a_polling_progress_bar(client, world):
    job = ImportJobFactory(
        owner=world.supervisor,
        status=Job.Status.RUNNING,
        total=10,
        processed=4,
        original_name="a.xlsx",
    )
    body = login(client, world.supervisor).get(reverse("ledgers:import-job", args=[job.pk]))
    text = body.content.decode()
    status_url = reverse("ledgers:import-status", args=[job.pk])
    assert f'hx-get="{status_url}"' in text and 'hx-trigger="every 1s"' in text
    assert 'value="4"' in text and "40%" in text
    assert "<html" not in client.get(status_url).content.decode()  # the partial alone


@pytest.mark.parametrize("persona", ["inspector_a", "api_reader", "no_unit"])
def test_it_refuses_the_import_pages_to_non_supervisors(client, world, persona):
    login(client, getattr(world, persona))
    assert client.get(reverse("ledgers:import")).status_code == 403
    assert client.get(reverse("ledgers:import-template")).status_code == 403
    rows = [{"问题编号": "V-1", "问题标题": "x"}]
    assert client.post(reverse("ledgers:import"), {"file": upload(xlsx(rows))}).status_code == 403
    assert not ImportJob.objects.exists()


def test_it_shows_an_import_job_to_its_owner_only(client, world):
    job = ImportJobFactory(
        owner=world.supervisor, status=Job.Status.PREVIEW, original_name="a.xlsx"
    )
    for persona in ("county_a_supervisor", "inspector_a", "admin"):
        login(client, getattr(world, persona))
        for name in ("ledgers:import-job", "ledgers:import-status"):
            assert client.get(reverse(name, args=[job.pk])).status_code == 404, (persona, name)
        response = client.post(reverse("ledgers:import-confirm", args=[job.pk]))
        assert response.status_code == 404, persona
    assert ImportJob.objects.get(pk=job.pk).status == Job.Status.PREVIEW


def test_it_requires_csrf_on_the_ledger_forms(world):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(world.supervisor)
    assert client.post(reverse("ledgers:export"), {"query": ""}).status_code == 403
    assert client.post(reverse("ledgers:import"), {}).status_code == 403


def test_it_serves_a_template_with_the_expected_columns(client, world):
    response = login(client, world.supervisor).get(reverse("ledgers:import-template"))
    assert response["Content-Type"] == XLSX_CONTENT_TYPE
    data = b"".join(response.streaming_content)
    ledger, notes = load_workbook(io.BytesIO(data)).worksheets
    assert ledger["A1"].value == "整改台账导入模板" and ledger["B4"].value == "问题编号"
    assert ledger.max_row == 4  # headers only: nothing to import by mistake
    lists = {str(v.sqref)[0]: v.formula1 for v in ledger.data_validations.dataValidation}
    assert "待整改" in lists["Q"] and "是" in lists["H"] and "新设窗口" in lists["O"]
    assert any(row[0].value == "问题编号" for row in notes.iter_rows())
    # The template is itself a ledger the import reads: empty, without problems.
    client.post(reverse("ledgers:import"), {"file": upload(data, "模板.xlsx")})
    worker_reads()
    job = ImportJob.objects.get()
    assert job.rows == [] and job.problems == [] and "code" in job.columns


def test_it_confirms_an_import_with_nothing_to_change(client, world):
    world.case(world.unit_a)
    login(client, world.supervisor)
    client.post(reverse("ledgers:import"), {"file": upload(export_bytes(world.supervisor))})
    worker_reads()
    job = ImportJob.objects.get()
    body = client.get(reverse("ledgers:import-job", args=[job.pk])).content.decode()
    assert "文件内容与系统一致，无需导入" in body and "确认导入" not in body
    assert CaseEvent.objects.filter(kind="edit").count() == 0


# --- API --------------------------------------------------------------------------------


@pytest.fixture
def api(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(world.api_reader)}")
    return client


def test_it_exports_over_the_api_with_the_list_filters(api, world, cases):
    restricted = world.case(world.unit_a, inspection=world.restricted)
    response = api.get("/api/v1/cases/export/", {"light": "red"})
    assert response.status_code == 200 and response["Content-Type"] == XLSX_CONTENT_TYPE
    assert codes(workbook(response)) == [cases[0].code]
    listed = [c["code"] for c in api.get("/api/v1/cases/", {"ordering": "code"}).json()["results"]]
    exported = codes(workbook(api.get("/api/v1/cases/export/", {"ordering": "code"})))
    assert exported == listed and restricted.code not in exported


def test_it_answers_bad_api_filters_in_the_error_shape(api, world):
    response = api.get("/api/v1/cases/export/", {"status": "bogus"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and "status" in body["fields"]


def test_it_asks_api_clients_to_narrow_a_too_large_export(api, world, cases, settings):
    settings.LEDGER_API_EXPORT_MAX_ROWS = 1
    response = api.get("/api/v1/cases/export/")
    assert response.status_code == 400 and response.json()["code"] == "too_many_rows"
    assert api.get("/api/v1/cases/export/", {"light": "red"}).status_code == 200


def test_it_requires_a_token_for_the_api_export(world):
    assert APIClient().get("/api/v1/cases/export/").status_code == 401


def test_it_documents_the_api_export(world):
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/cases/export/"]["get"]
    assert XLSX_CONTENT_TYPE in operation["responses"]["200"]["content"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"status", "inspection", "light", "search", "ordering", "region"} <= names


def test_it_lists_jobs_read_only_in_the_admin(client, world):
    ImportJobFactory(owner=world.supervisor, status=Job.Status.FAILED, original_name="a")
    export = ExportJobFactory(owner=world.supervisor, status=Job.Status.DONE)
    login(client, world.admin)
    assert client.get("/admin/ledgers/importjob/").status_code == 200
    assert client.get(f"/admin/ledgers/exportjob/{export.pk}/change/").status_code == 200
    assert client.get("/admin/ledgers/exportjob/add/").status_code == 403
