"""Fixtures for the ledger tests: files under a per-test folder, Celery run in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tracker.celery import app as celery_app


@pytest.fixture(autouse=True)
def _ledger_root(settings, tmp_path):
    settings.LEDGER_FILES_ROOT = tmp_path / "ledgers"


@pytest.fixture
def eager() -> Iterator[None]:
    """Tasks run in the calling process, as soon as they are sent."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager = conf.task_eager_propagates = True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved
