"""Importing a ledger: a preview of every row's problems before anything is written, all rows
or none, idempotent re-imports, changes through the services with history, CSV encodings."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from cases import services as case_services
from cases.errors import Conflict, DomainError, Forbidden
from cases.models import Case, CaseEvent
from cases.selectors import case_list
from ledgers import jobs, services
from ledgers.importing import IMPORT_NOTE, parse_date, status_path
from ledgers.models import ImportJob, Job
from ledgers.workbook import LedgerFileError
from tests.factories import days, drive_to, make_unit, make_user
from tests.ledgers.helpers import csv_bytes, edit, export_bytes, preview, xlsx

pytestmark = pytest.mark.django_db


def confirm(user, job):
    return services.import_job_confirm(actor=user, job_id=job.pk)


def new_row(world, code, **values):
    row = {
        "问题编号": code,
        "所属检查": world.inspection.name,
        "问题标题": f"标题{code}",
        "责任单位": "甲县局",
        "整改时限": "2024-06-30",
    }
    row.update(values)
    return row


# --- The preview -------------------------------------------------------------------------------


def _refusal(call):
    """The words of a service refusing the same operation (see test_import_rules.py)."""
    with pytest.raises(DomainError) as refused, transaction.atomic():
        call()
    return refused.value.message


def test_it_lists_each_rows_problems_with_row_numbers_before_writing_anything(world):
    done = drive_to(world.case(world.unit_a), "completed", world.supervisor)
    rows = [
        new_row(world, "N-1"),  # good: row 5
        new_row(world, "N-2", 整改时限="2024-02-30"),  # 6
        new_row(world, "N-3", 责任单位="不存在的局"),  # 7
        new_row(world, "N-1"),  # 8: duplicate of row 5
        new_row(world, "N-5", 问题标题=""),  # 9
        new_row(world, "N-6", 所属检查="没有这个检查"),  # 10
        new_row(world, "N-7", 整改状态="差不多了"),  # 11
        new_row(world, done.code, 问题标题=done.title, 整改状态="待整改"),  # 12
        new_row(world, "N-9", 责任单位="乙县局", 整改时限="明年"),  # 13
        new_row(world, "N-10", 责任单位="甲县局股室", 整改状态="纳入负面清单/不予整改"),  # 14
    ]
    before = (Case.objects.count(), CaseEvent.objects.count())
    job = preview(world.supervisor, xlsx(rows))

    assert job.status == Job.Status.PREVIEW
    found = [(p["row"], p["column"], p["message"]) for p in job.problems]
    assert found == [
        (6, "整改时限", "整改时限“2024-02-30”不是有效日期（如 2024-06-30）。"),
        (7, "责任单位", "未找到责任单位“不存在的局”（须为您管辖范围内单位的准确名称）。"),
        (8, "问题编号", "问题编号在文件中重复（与第 5 行相同）。"),
        (9, "问题标题", _refusal(lambda: world.case(title=""))),
        (10, "所属检查", "未找到检查“没有这个检查”（按名称或编号，须在您的管辖范围内）。"),
        (
            11,
            "整改状态",
            "未知的整改状态“差不多了”，可填：待整改、整改中、待验收、已销号、"
            "待上级协调、纳入负面清单/不予整改。",
        ),
        (
            12,
            "整改状态",
            _refusal(
                lambda: case_services.case_transition(
                    actor=world.supervisor, case_id=done.pk, to="open", note="改回"
                )
            ),
        ),
        (13, "整改时限", "整改时限“明年”不是有效日期（如 2024-06-30）。"),
    ]
    assert (job.created, job.updated) == (2, 0)
    assert (Case.objects.count(), CaseEvent.objects.count()) == before
    with pytest.raises(Conflict):
        confirm(world.supervisor, job)
    assert (Case.objects.count(), CaseEvent.objects.count()) == before


def test_it_imports_a_good_file_with_new_cases_through_the_services(world):
    """Imported by a supervisor of 甲县局, who makes its moves (cases.rules) but does not close
    its cases: the commission's supervisor closes the item by a second import."""
    unit_supervisor = world.dept_supervisor
    world.case(world.unit_a)  # the inspection is in the unit supervisor's sight
    rows = [
        new_row(
            world,
            "N-1",
            问题描述="描述",
            整改措施="措施",
            完成情况="进展",
            是否重点难点="是",
            涉及金额="1,234.5",
            整改方式="新设窗口",
            问题来源="省级反馈",
            责任人="inspector_a",
            整改状态="整改中",
        ),
        new_row(
            world,
            "N-2",
            所属检查=world.inspection.code,
            所属问题编号="N-1",
            整改时限="2024/7/1",
            整改状态="待验收",
        ),
    ]
    job = confirm(unit_supervisor, preview(unit_supervisor, xlsx(rows)))
    assert job.status == Job.Status.DONE and (job.created, job.updated) == (2, 0)
    data = edit(export_bytes(world.supervisor), "N-2", 整改状态="已销号")
    job = confirm(world.supervisor, preview(world.supervisor, data))
    assert job.status == Job.Status.DONE and (job.created, job.updated) == (0, 1)
    problem, item = Case.objects.get(code="N-1"), Case.objects.get(code="N-2")
    assert (problem.description, problem.measures, problem.progress) == ("描述", "措施", "进展")
    assert problem.is_key_problem and problem.amount == Decimal("1234.50")
    assert (problem.method, problem.source) == ("new_window", "province_feedback")
    assert problem.owner == world.inspector_a and problem.status == "in_progress"
    assert item.parent == problem and item.deadline == date(2024, 7, 1)
    assert item.status == "completed" and (problem.items_total, problem.items_done) == (1, 1)
    moves = list(item.events.filter(kind="transition").values_list("to_status", "note"))
    assert moves == [
        ("in_progress", IMPORT_NOTE),
        ("submitted", IMPORT_NOTE),
        ("completed", IMPORT_NOTE),
    ]
    actors = list(item.events.filter(kind="transition").values_list("actor", flat=True))
    assert actors == [unit_supervisor.pk, unit_supervisor.pk, world.supervisor.pk]


def test_it_updates_a_changed_row_through_the_services_with_history(world):
    case = world.case(world.unit_a, title="原标题", measures="原措施", deadline=days(10))
    other = world.case(world.unit_a)
    data = edit(
        export_bytes(world.supervisor),
        case.code,
        问题标题="新标题",
        整改措施="新措施",
        完成情况="有进展",
        整改时限=datetime(2030, 1, 31),
        责任单位="乙县局",
        # A move the commission's supervisor makes on another unit's case (cases.rules).
        整改状态="纳入负面清单/不予整改",
        是否重点难点="是",
    )
    job = preview(world.supervisor, data)
    assert not job.problems and (job.created, job.updated, job.unchanged) == (0, 1, 1)
    assert job.changes[0]["code"] == case.code
    assert "问题标题" in job.changes[0]["fields"] and "整改措施" in job.changes[0]["fields"]
    before = CaseEvent.objects.count()
    confirm(world.supervisor, job)

    case.refresh_from_db()
    assert (case.title, case.measures, case.progress) == ("新标题", "新措施", "有进展")
    assert case.deadline == date(2030, 1, 31) and case.original_deadline == days(10)
    assert case.responsible_unit == world.unit_b and case.region == world.county_b
    assert case.status == "exempted" and case.is_key_problem
    events = {e.kind: e for e in case.events.exclude(kind="created")}
    assert set(events) == {"edit", "rectification", "deadline", "assignment", "transition"}
    assert events["deadline"].note == IMPORT_NOTE and events["assignment"].note == IMPORT_NOTE
    assert events["edit"].changes["title"] == ["原标题", "新标题"]
    assert CaseEvent.objects.count() == before + 5
    assert not other.events.exclude(kind="created").exists()


def _varied_ledger(world):
    """Cases in every state and shape: the round trip must keep all of them."""
    problem = world.case(
        world.unit_a,
        title="王莽岭",
        description="第一行\r\n第二行 ",
        is_key_problem=True,
        amount=Decimal("2274000000"),
        method="other",
        measures="=不是公式",
        owner=world.inspector_a,
        checklist=["窗口是否运行"],
    )
    world.case(world.unit_a, parent=problem, title="项目一")
    drive_to(world.case(world.unit_a, parent=problem, title="项目二"), "exempted", world.supervisor)
    for status in ("in_progress", "submitted", "completed", "escalated", "exempted"):
        drive_to(world.case(world.unit_b, title=f"状态{status}"), status, world.supervisor)
    world.case(world.city_dept, title="@市直", source="self_found", deadline=days(-5))
    world.case(world.unit_a, inspection=world.restricted, title="线索")
    # Handed to a provincial body: outside the commission's units, still on its books.
    province_unit = make_unit("省自然资源厅", parent=world.city.parent)
    handed_over = case_services.case_create(
        actor=world.admin,
        inspection=world.inspection,
        title="省级协调",
        deadline=days(60),
        responsible_unit=province_unit,
        supervising_unit=world.commission,
        owner=make_user(province_unit, "inspector", full_name="王处长"),
    )
    assert handed_over.pk in set(case_list(world.supervisor).values_list("pk", flat=True))
    return problem


def test_it_round_trips_an_export_without_a_single_change(world):
    _varied_ledger(world)
    data = export_bytes(world.supervisor)
    job = preview(world.supervisor, data)
    assert job.problems == [] and job.changes == []
    assert (job.created, job.updated, job.unchanged) == (0, 0, Case.objects.count())
    before = CaseEvent.objects.count()
    job = confirm(world.supervisor, job)
    assert job.status == Job.Status.DONE
    assert CaseEvent.objects.count() == before  # zero new history rows


def test_it_round_trips_an_english_export_too(world, settings):
    from django.utils import translation

    _varied_ledger(world)
    with translation.override("en"):
        data = export_bytes(world.supervisor)
        job = preview(world.supervisor, data)
    assert job.problems == [] and job.changes == []


def test_it_changes_nothing_when_the_same_file_is_imported_again(world):
    data = xlsx(
        [
            new_row(world, "R-1", 整改措施="措施", 整改状态="纳入负面清单/不予整改"),
            new_row(world, "R-2", 责任单位="乙县局"),
        ]
    )
    confirm(world.supervisor, preview(world.supervisor, data))
    before = (Case.objects.count(), CaseEvent.objects.count())
    again = preview(world.supervisor, data)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    confirm(world.supervisor, again)
    assert (Case.objects.count(), CaseEvent.objects.count()) == before


def test_it_imports_all_rows_or_none(world, monkeypatch):
    first = world.case(world.unit_a, measures="旧")
    second = world.case(world.unit_a, measures="旧")
    data = edit(
        edit(export_bytes(world.supervisor), first.code, 整改措施="新"),
        second.code,
        整改措施="新",
        责任单位="乙县局",
    )
    job = preview(world.supervisor, data)
    assert not job.problems and job.updated == 2

    def refuse(**kwargs):
        raise Conflict("该单位正在调整，暂不能接收问题。")

    monkeypatch.setattr(case_services, "case_assign", refuse)
    before = CaseEvent.objects.count()
    job = confirm(world.supervisor, job)
    assert job.status == Job.Status.FAILED
    assert job.problems[0]["row"] == 6 and job.problems[0]["code"] == second.code
    assert "该单位正在调整" in job.problems[0]["message"]
    first.refresh_from_db()
    assert first.measures == "旧" and CaseEvent.objects.count() == before


def test_it_checks_the_file_again_when_the_import_runs(world):
    case = world.case(world.unit_a, measures="旧")
    job = preview(world.supervisor, edit(export_bytes(world.supervisor), case.code, 整改措施="新"))
    drive_to(case, "completed", world.supervisor)  # after the preview, before the confirmation
    job = confirm(world.supervisor, job)
    assert job.status == Job.Status.FAILED and job.problems[0]["row"] == 5
    assert "已销号" in job.problems[0]["message"] and "未导入任何内容" in job.error
    case.refresh_from_db()
    assert case.measures == "旧"


# --- Statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "target", "path"),
    [
        ("open", "completed", ["in_progress", "submitted", "completed"]),
        ("escalated", "submitted", ["in_progress", "submitted"]),
        ("completed", "submitted", ["in_progress", "submitted"]),
        ("submitted", "in_progress", ["in_progress"]),
        ("in_progress", "exempted", ["exempted"]),
        ("completed", "open", None),  # only through 待上级协调: not a step an import takes
        ("in_progress", "open", None),
        ("open", "open", []),
    ],
)
def test_it_finds_a_legal_status_path_through_the_ordinary_flow(source, target, path):
    assert status_path(source, target) == path


def test_it_reopens_a_problem_before_its_items_and_closes_it_after_them(world):
    problem = world.case(world.unit_a)
    items = [world.case(world.unit_a, parent=problem) for _ in range(2)]
    for case in (problem, *items):  # submitted by the unit: the commission closes them
        drive_to(case, "submitted", world.supervisor)
    data = export_bytes(world.supervisor)
    for case in (problem, *items):  # the problem's row comes first in the file
        data = edit(data, case.code, 整改状态="已销号")
    confirm(world.supervisor, preview(world.supervisor, data))
    problem.refresh_from_db()
    assert problem.status == "completed" and problem.items_done == 2

    data = export_bytes(world.supervisor)
    for case in (problem, items[0]):
        data = edit(data, case.code, 整改状态="整改中", 整改措施="重新整改")
    job = confirm(world.supervisor, preview(world.supervisor, data))
    assert job.status == Job.Status.DONE
    problem.refresh_from_db()
    assert problem.status == "in_progress" and problem.items_done == 1


def test_it_refuses_to_close_a_problem_with_open_items(world):
    problem = drive_to(world.case(world.unit_a), "submitted", world.supervisor)
    world.case(world.unit_a, parent=problem)
    job = preview(
        world.supervisor, edit(export_bytes(world.supervisor), problem.code, 整改状态="已销号")
    )
    assert [p["message"] for p in job.problems] == [
        "还有 1 个事项未完成，全部完成后才能办结该问题。"
    ]


def test_it_refuses_to_close_a_case_with_unconfirmed_check_points(world):
    case = drive_to(world.case(world.unit_a, checklist=["要点"]), "submitted", world.supervisor)
    job = preview(
        world.supervisor, edit(export_bytes(world.supervisor), case.code, 整改状态="已销号")
    )
    assert "验收要点" in job.problems[0]["message"]


def test_it_refuses_rectification_changes_on_a_case_that_stays_done(world):
    case = drive_to(world.case(world.unit_a), "completed", world.supervisor)
    job = preview(
        world.supervisor, edit(export_bytes(world.supervisor), case.code, 整改措施="补充")
    )
    assert "已办结的问题不能修改" in job.problems[0]["message"]


# --- Matching ------------------------------------------------------------------------------


def test_it_matches_units_by_exact_name_within_the_users_scope(world):
    make_unit("自然资源局", parent=world.county_a)
    make_unit("自然资源局", parent=world.county_b)
    rows = [
        new_row(world, "U-1", 责任单位="自然资源局"),
        new_row(world, "U-2", 责任单位="乙县/自然资源局"),
        new_row(world, "U-3", 责任单位="甲县局 "),
    ]
    job = preview(world.supervisor, xlsx(rows))
    assert [(p["row"], p["message"]) for p in job.problems] == [
        (5, "有多个名为“自然资源局”的单位，请写成“上级单位/单位”。")
    ]
    # A county commission's own 自然资源局 is the one it means; a name of no unit is unknown.
    # (A unit of another county is case_create's to refuse: see test_import_rules.py.)
    world.case(world.unit_a)  # the county sees the inspection through a case of its own
    job = preview(
        world.county_a_supervisor,
        xlsx(
            [new_row(world, "U-4", 责任单位="自然资源局"), new_row(world, "U-5", 责任单位="无此局")]
        ),
    )
    assert [(p["row"], p["message"]) for p in job.problems] == [
        (6, "未找到责任单位“无此局”（须为您管辖范围内单位的准确名称）。")
    ]


def test_it_leaves_fields_of_missing_columns_alone(world):
    case = world.case(world.unit_a, measures="措施", owner=world.inspector_a)
    job = preview(world.supervisor, xlsx([{"问题编号": case.code, "完成情况": "新进展"}]))
    assert not job.problems and job.changes == [
        {"row": 5, "code": case.code, "action": "update", "fields": ["完成情况"]}
    ]
    confirm(world.supervisor, job)
    case.refresh_from_db()
    assert (case.measures, case.progress, case.owner) == ("措施", "新进展", world.inspector_a)


def test_it_reads_a_two_row_header_merged_like_the_export(world):
    case = world.case(world.unit_a)
    data = edit(export_bytes(world.supervisor), case.code, 整改措施="新措施")
    job = preview(world.supervisor, data)
    assert "seq" not in job.columns and {"code", "measures", "status"} <= set(job.columns)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2024-06-30", date(2024, 6, 30)),
        ("2024/6/3", date(2024, 6, 3)),
        ("2024年6月30日", date(2024, 6, 30)),
        ("2024.06.30", date(2024, 6, 30)),
        ("20240630", date(2024, 6, 30)),
        ("2024/6/30 0:00", date(2024, 6, 30)),
        ("2024-13-01", None),
        ("1905-07-16", None),
        ("6/30/2024", None),
    ],
)
def test_it_reads_the_date_formats_offices_type(text, day):
    assert parse_date(text) == day


# --- Files ------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8-sig", "utf-8"])
def test_it_reads_csv_in_gb18030_and_utf8_with_or_without_bom(world, encoding):
    rows = [new_row(world, "C-1", 问题标题="𠀀耕地保护“非农化”问题", 整改措施="措施，含逗号\n两行")]
    if encoding == "gb18030":
        assert csv_bytes(rows, encoding).decode("gb18030")  # four-byte GB18030 characters too
    job = preview(world.supervisor, csv_bytes(rows, encoding), "台账.csv")
    assert not job.problems
    confirm(world.supervisor, job)
    case = Case.objects.get(code="C-1")
    assert case.title == "𠀀耕地保护“非农化”问题" and case.measures == "措施，含逗号\n两行"


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "台账.xls", "旧版 Excel"),
        (b"PK\x03\x04broken", "台账.xlsx", "无法读取该 Excel 文件"),
        ("序号,标题\n1,问题".encode(), "台账.csv", "未找到表头"),
        (b"\xff\xfe\x00\x00\x81", "台账.csv", "无法识别 CSV 文件的编码"),
    ],
)
def test_it_refuses_a_file_it_cannot_read_as_a_whole(world, data, name, message):
    with pytest.raises(LedgerFileError, match=message):
        preview(world.supervisor, data, name)
    job = ImportJob.objects.get()  # the worker found out, on the job; the file is gone
    assert job.status == ImportJob.Status.FAILED and not job.upload and not job.rows


def test_it_refuses_a_file_with_too_many_rows(world, settings):
    settings.LEDGER_IMPORT_MAX_ROWS = 2
    with pytest.raises(LedgerFileError, match="超过 2 行"):
        preview(world.supervisor, xlsx([new_row(world, f"M-{n}") for n in range(3)]))


def test_it_keeps_formula_like_text_as_text(world):
    rows = [new_row(world, "F-1", 问题标题="=1+1", 整改措施="@SUM(A1)")]
    confirm(world.supervisor, preview(world.supervisor, csv_bytes(rows), "台账.csv"))
    case = Case.objects.get(code="F-1")
    assert (case.title, case.measures) == ("=1+1", "@SUM(A1)")


# --- Permissions and jobs -------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["inspector_a", "api_reader", "no_unit"])
def test_it_lets_only_supervisors_import(world, persona):
    with pytest.raises(Forbidden):
        preview(getattr(world, persona), xlsx([new_row(world, "P-1")]))


def test_it_lets_only_the_owner_confirm(world):
    job = preview(world.supervisor, xlsx([new_row(world, "P-1")]))
    with pytest.raises(DomainError):
        services.import_job_confirm(actor=world.county_a_supervisor, job_id=job.pk)
    assert ImportJob.objects.get(pk=job.pk).status == Job.Status.PREVIEW
    confirm(world.supervisor, job)
    with pytest.raises(Conflict):  # a second confirmation imports nothing more
        confirm(world.supervisor, job)


def test_it_runs_a_large_import_in_the_worker(
    world, settings, eager, django_capture_on_commit_callbacks
):
    settings.LEDGER_IMPORT_INLINE_ROWS = 1
    job = preview(world.supervisor, xlsx([new_row(world, f"W-{n}") for n in range(3)]))
    with django_capture_on_commit_callbacks(execute=True):
        job = confirm(world.supervisor, job)
    job.refresh_from_db()
    assert job.status == Job.Status.DONE and job.created == 3 and job.processed == 3
    assert Case.objects.filter(code__startswith="W-").count() == 3


def test_it_fails_the_job_when_the_queue_is_down(
    world, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.LEDGER_IMPORT_INLINE_ROWS = 0
    from ledgers import tasks

    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.run_import_job, "apply_async", down)
    job = preview(world.supervisor, xlsx([new_row(world, "Q-1")]))
    with django_capture_on_commit_callbacks(execute=True):
        confirm(world.supervisor, job)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "稍后重试" in job.error


def test_it_runs_a_claimed_job_only_once(world):
    job = preview(world.supervisor, xlsx([new_row(world, "O-1")]))
    confirm(world.supervisor, job)
    before = CaseEvent.objects.count()
    services.import_job_run(job_id=job.pk)  # a redelivered task message
    assert CaseEvent.objects.count() == before


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL side connection")
@pytest.mark.django_db(transaction=True)
def test_it_publishes_progress_while_the_import_transaction_is_open(world, monkeypatch):
    job = ImportJob.objects.create(owner=world.supervisor, status=Job.Status.QUEUED, total=10)
    lease = jobs.claim(ImportJob.objects.all(), job.pk)
    assert lease is not None
    ImportJob.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now())
    monkeypatch.setattr(jobs.time, "monotonic", iter(range(0, 100, 5)).__next__)
    with jobs.ProgressReporter(lease) as report, transaction.atomic():
        report(4)
        observer = connections.create_connection("default")
        try:
            with observer.cursor() as cursor:
                cursor.execute(
                    "SELECT processed, lease_expires_at FROM ledgers_importjob WHERE id = %s",
                    [job.pk],
                )
                processed, lease_expires_at = cursor.fetchone()
                # The lease is renewed with the progress, for the same reason.
                assert processed == 4 and lease_expires_at > timezone.now() + timedelta(minutes=4)
        finally:
            observer.close()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL side connection")
@pytest.mark.django_db(transaction=True)
def test_the_preview_rehearsal_renews_the_lease_with_its_progress(world, monkeypatch):
    # Every row's rehearsal finds a second gone by: each one publishes its progress, which
    # renews the lease. Without it, a long rehearsal outlives its lease and is taken over.
    monkeypatch.setattr(jobs.time, "monotonic", iter(range(0, 1000, 5)).__next__)
    rows = [new_row(world, f"R-{n}") for n in range(3)]
    job = preview(world.supervisor, xlsx(rows))
    assert (job.status, job.total, job.created) == (Job.Status.PREVIEW, 3, 3)
    assert job.processed == 3  # published by the reporter, from its own connection
    assert job.lease_expires_at is None  # a preview waits for its owner, not for a worker
    assert not Case.objects.filter(code__startswith="R-").exists()  # rehearsed, rolled back


def test_a_progress_report_that_cannot_see_the_job_yet_is_not_a_lost_lease(world, monkeypatch):
    # Inside the test's transaction the job row is invisible to the reporter's own connection:
    # that is not a job taken over by another run.
    monkeypatch.setattr(jobs.time, "monotonic", iter(range(0, 1000, 5)).__next__)
    job = preview(world.supervisor, xlsx([new_row(world, "V-1"), new_row(world, "V-2")]))
    assert (job.status, job.created) == (Job.Status.PREVIEW, 2)


def test_it_purges_expired_jobs_and_their_files(world, settings):
    settings.LEDGER_KEEP_DAYS = 7
    old = preview(world.supervisor, xlsx([new_row(world, "E-1")]))
    ImportJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))
    fresh = preview(world.supervisor, xlsx([new_row(world, "E-2")]))  # purges on creation
    assert list(ImportJob.objects.values_list("pk", flat=True)) == [fresh.pk]


def test_it_stops_reading_after_a_long_run_of_empty_rows(world):
    from openpyxl import Workbook

    from ledgers.workbook import EMPTY_ROWS_END

    book = Workbook()
    sheet = book.active
    sheet.append(["问题编号", "问题标题"])
    sheet.append(["S-1", "第一"])
    sheet.cell(row=3 + EMPTY_ROWS_END, column=1, value="S-2")  # past the end of the ledger
    data = io.BytesIO()
    book.save(data)
    job = preview(world.supervisor, data.getvalue())
    assert [row["values"]["code"] for row in job.rows] == ["S-1"]
