"""The look-back's figures in the drafted report (documents.figures.lookback_values): re-checks
and false rectifications for everyone the report speaks to, accountability records only in
the report and only for those who may read them."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client

from lookback import services
from tests.documents.helpers import all_text, open_docx
from tests.lookback.conftest import close, start

pytestmark = pytest.mark.django_db


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def lookback(world):
    for _ in range(4):
        close(world, world.unit_a)
    started = start(world.supervisor, world.supervisor, size=4)
    tasks = list(started.tasks.order_by("id"))
    services.recheck_decide(
        actor=world.supervisor, task_id=tasks[0].pk, outcome="false", finding="台账造假"
    )
    for task in tasks[1:3]:
        services.recheck_decide(actor=world.supervisor, task_id=task.pk, outcome="confirmed")
    services.accountability_create(
        actor=world.supervisor, case_id=tasks[0].case_id, recheck_id=tasks[0].pk,
        person_name="张某", unit_id=world.unit_a.pk, measure="talk",
        decided_on=date(2026, 1, 5), document_number="晋纪〔2026〕1号",
    )  # fmt: skip
    return started


def test_the_report_counts_rechecks_failures_and_accountability(world, lookback):
    text = all_text(open_docx(client_of(world.supervisor).get("/reports/progress.docx")))
    assert "开展“回头看”复核已销号问题3个" in text
    assert "发现虚假整改、纸面整改1个（占33.3%）" in text
    assert "问责1人次" in text
    assert "张某" not in text  # counts, never the people


def test_the_notice_and_an_inspector_get_no_accountability_count(world, lookback):
    notice = all_text(open_docx(client_of(world.supervisor).get("/reports/notice.docx")))
    assert "复核已销号问题3个" in notice and "人次" not in notice
    own = all_text(open_docx(client_of(world.inspector_a).get("/reports/progress.docx")))
    assert "复核已销号问题3个" in own and "人次" not in own
    other = all_text(open_docx(client_of(world.inspector_b).get("/reports/progress.docx")))
    assert "回头看" not in other
