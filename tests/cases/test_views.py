"""Pages of the foundation: home, login, health and the permission-checked evidence download."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cases import services
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def evidence(world):
    case = world.case(world.unit_a, title="消防通道<script>alert(1)</script>")
    item = services.evidence_add(
        actor=world.inspector_a,
        case_id=case.pk,
        upload=SimpleUploadedFile('报告"; filename=evil.html.pdf', PDF),
    )
    return item


def _url(evidence):
    return reverse("cases:evidence-download", args=[evidence.case_id, evidence.pk])


@pytest.mark.parametrize(
    "persona", ["inspector_a", "supervisor", "county_a_supervisor", "api_reader", "admin"]
)
def test_it_serves_evidence_to_users_who_see_the_case(client, world, evidence, persona):
    client.force_login(getattr(world, persona))
    response = client.get(_url(evidence))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment;")
    # The uploader's hostile name cannot break out of the header.
    assert 'evil.html.pdf"' not in response["Content-Disposition"].split("filename=", 1)[0]


@pytest.mark.parametrize("persona", ["inspector_b", "inspector_a_child", "no_unit"])
def test_it_answers_404_to_users_who_do_not_see_the_case(client, world, evidence, persona):
    client.force_login(getattr(world, persona))
    assert client.get(_url(evidence)).status_code == 404


def test_it_answers_404_for_evidence_of_another_case(client, world, evidence):
    other = world.case(world.unit_a)
    client.force_login(world.supervisor)
    url = reverse("cases:evidence-download", args=[other.pk, evidence.pk])
    assert client.get(url).status_code == 404


def test_it_sends_anonymous_users_to_login(client, evidence):
    response = client.get(_url(evidence))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_stores_evidence_under_a_generated_name(evidence):
    assert "evil" not in evidence.file.name
    assert evidence.original_name.endswith("evil.html.pdf")


def test_it_logs_in_with_username_and_password(client, world):
    response = client.post(reverse("login"), {"username": "inspector_a", "password": PASSWORD})
    assert response.status_code == 302
    page = client.get("/")
    assert "甲县局" in page.content.decode()


def test_it_refuses_a_wrong_password_with_a_message(client, world):
    response = client.post(reverse("login"), {"username": "inspector_a", "password": "wrong"})
    assert response.status_code == 200
    assert "error" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_shows_each_user_only_their_inspections_on_home(client, world):
    world.case(world.unit_a, inspection=world.inspection)
    world.case(world.unit_b, inspection=world.restricted, title="线索")
    client.force_login(world.inspector_a)
    body = client.get("/").content.decode()
    assert world.inspection.name in body
    assert world.restricted.name not in body
    client.force_login(world.supervisor)
    body = client.get("/").content.decode()
    assert world.restricted.name in body


def test_it_shows_an_empty_state(client, world):
    client.force_login(world.no_unit)
    assert "还没有整改问题" in client.get("/").content.decode()


def test_it_escapes_user_text(client, world):
    world.case(world.unit_a, inspection=world.inspection)
    services.inspection_update(inspection=world.inspection, name="<img src=x onerror=alert(1)>")
    client.force_login(world.supervisor)
    body = client.get("/").content.decode()
    assert "<img src=x" not in body
    assert "&lt;img src=x" in body


def test_it_reports_health(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_speaks_english_when_asked(client, world):
    client.force_login(world.supervisor)
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response["Content-Language"] == "en"
