"""An API client reading the demo sees the report's figures."""

import pytest
from rest_framework.test import APIClient

from cases.demo import DEMO_PASSWORD, load_demo

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader():
    load_demo()
    client = APIClient()
    token = client.post(
        "/api/v1/auth/token/", {"username": "api_reader", "password": DEMO_PASSWORD}, format="json"
    )
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    return client


def test_it_shows_the_seed_figures_to_an_api_client(reader):
    for level in ("problem", "item"):
        rows = reader.get(
            "/api/v1/stats/completion/", {"group_by": "inspection", "level": level}
        ).json()["rows"]
        rates = {row["name"]: row["rate"] for row in rows}
        assert rates["2023年优化营商环境政治监督专项检查"] == 1.0
        assert rates["2023年耕地保护政治监督专项检查"] == 0.75
        assert 0 < rates["2023年安全生产政治监督专项检查"] < 1
        assert not any("线索" in name for name in rates)  # restricted ledger hidden

    problems = reader.get("/api/v1/cases/", {"search": "王莽岭景区基础设施"}).json()["results"]
    assert len(problems) == 1 and problems[0]["items"] == {"total": 8, "done": 3}
    items = reader.get(
        "/api/v1/cases/", {"parent": problems[0]["id"], "status": "completed"}
    ).json()
    assert items["count"] == 3

    inspections = {row["code"]: row for row in reader.get("/api/v1/inspections/").json()["results"]}
    assert inspections["YS2023"]["completion_rate"] == 1.0
    assert inspections["GDBH2023"]["completion_rate"] == 0.75
