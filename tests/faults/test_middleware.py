"""The outage middleware on its own (the live-server test is in test_database_outage.py):
which errors become a 503, in which shape."""

from __future__ import annotations

import json

import pytest
from django.core.signals import got_request_exception
from django.db import IntegrityError, InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseServerError
from django.test import RequestFactory

from tracker.faults import DatabaseUnavailableMiddleware

pytestmark = pytest.mark.django_db


def middleware(response: HttpResponse | None = None) -> DatabaseUnavailableMiddleware:
    return DatabaseUnavailableMiddleware(lambda request: response or HttpResponse("ok"))


@pytest.mark.parametrize("error", [OperationalError("server closed the connection"),
                                   InterfaceError("connection already closed")])  # fmt: skip
def test_connection_errors_become_503(error):
    page = RequestFactory().get("/cases/1/")
    response = middleware().process_exception(page, error)
    assert response is not None and response.status_code == 503
    assert response["Retry-After"] == "5" and response["Content-Type"].startswith("text/html")
    assert "服务暂时不可用" in response.content.decode()

    api = RequestFactory().get("/api/v1/cases/", HTTP_ACCEPT_LANGUAGE="en")
    response = middleware().process_exception(api, error)
    assert response is not None and response.status_code == 503
    assert response["Retry-After"] == "5"
    assert json.loads(response.content) == {
        "status": 503,
        "code": "unavailable",
        "message": "Service temporarily unavailable. Please try again later.",
        "fields": {},
    }


def test_other_database_errors_stay_server_errors():
    request = RequestFactory().post("/cases/1/transition/")
    assert middleware().process_exception(request, IntegrityError("duplicate key")) is None
    assert middleware().process_exception(request, ValueError("bug")) is None


def test_an_inner_middleware_failing_on_the_database_answers_503():
    request = RequestFactory().get("/cases/")

    def inner(request):  # what Django does with an exception raised in a middleware
        try:
            raise OperationalError("terminating connection due to administrator command")
        except OperationalError:
            got_request_exception.send(sender=None, request=request)
            return HttpResponseServerError("server error")

    response = DatabaseUnavailableMiddleware(inner)(request)
    assert response.status_code == 503 and response["Retry-After"] == "5"

    # A 500 for any other reason is left alone.
    other = RequestFactory().get("/cases/")
    assert middleware(HttpResponseServerError("bug"))(other).status_code == 500


def test_healthz_answers_for_itself(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
