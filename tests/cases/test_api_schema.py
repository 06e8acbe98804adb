"""The OpenAPI schema: valid, complete, and true to what the API answers (schemathesis)."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
import schemathesis
from django.apps import apps
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.test import APIClient
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cases.evidence import ALLOWED_TYPES
from cases.models import ApiToken
from tests.factories import World, add_evidence, api_key, drive_to

VERBS = ("get", "post", "put", "patch", "delete")

# Every request passes the database-outage middleware (tracker.faults), which connects first.
pytestmark = pytest.mark.django_db


def _schema(client: APIClient) -> dict[str, Any]:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return json.loads(response.content)


# --- (a) valid and complete ------------------------------------------------------------------


def test_it_serves_a_valid_openapi_3_schema_to_anyone():
    schema = _schema(APIClient())
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # the OpenAPI 3.x JSON Schema, as drf-spectacular ships it


def test_it_serves_the_schema_as_json_on_the_openapi_accept_header():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert json.loads(response.content)["paths"]


def test_it_generates_the_schema_without_warnings_or_errors():
    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        SchemaGenerator().get_schema(request=None, public=True)
    assert not GENERATOR_STATS._warn_cache, dict(GENERATOR_STATS._warn_cache)
    assert not GENERATOR_STATS._error_cache, dict(GENERATOR_STATS._error_cache)


def _api_routes() -> dict[str, set[str]]:
    """Every route under /api/v1/ as an OpenAPI path, with the methods its view answers."""
    (api,) = [
        p
        for p in get_resolver().url_patterns
        if isinstance(p, URLResolver) and str(p.pattern) == "api/v1/"
    ]
    routes: dict[str, set[str]] = {}
    for pattern in api.url_patterns:
        assert isinstance(pattern, URLPattern)
        path = str(pattern.pattern).removeprefix("^").removesuffix("$")
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: f"{{{m.group(1)}}}", path)
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: f"{{{m.group(1)}}}", path)
        path = "/api/v1/" + path.replace("{pk}", "{id}")
        if "{format}" in path or path == "/api/v1/":
            continue  # format suffixes and the router's browsable root
        callback = pattern.callback
        view_class = callback.cls if hasattr(callback, "cls") else callback.view_class
        allowed = set(view_class.http_method_names)
        if getattr(callback, "actions", None):
            methods = {m for m in callback.actions if m in allowed and m in VERBS}
        else:
            methods = {m for m in VERBS if hasattr(view_class, m) and m in allowed}
        routes.setdefault(path, set()).update(methods)
    return routes


def test_it_documents_every_route_and_method_of_the_api():
    documented = {
        path: {m for m in item if m in VERBS}
        for path, item in _schema(APIClient())["paths"].items()
        if path.startswith("/api/v1/")
    }
    routes = _api_routes()
    assert len(routes) >= 10
    assert documented == routes


def test_it_documents_the_one_error_shape_for_every_error_answer():
    schema = _schema(APIClient())
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in VERBS:
                continue
            errors = {code for code in operation["responses"] if code.startswith(("4", "5"))}
            assert {"400", "401", "404", "429"} <= errors, (method, path)
            if method != "get":
                assert {"403", "415"} <= errors, (method, path)
            for code in errors:
                content = operation["responses"][code]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/Error"}, (path, code)


def test_it_requires_a_token_everywhere_but_on_the_token_request():
    schema = _schema(APIClient())
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if (method, path) == ("post", "/api/v1/auth/token/"):
                assert not operation.get("security"), "the token request needs no token"
            elif method in VERBS:
                assert {"tokenAuth": []} in operation["security"], (method, path)


@pytest.mark.parametrize("path", ["/api/v1/cases/{id}/history/", "/api/v1/cases/{id}/evidence/"])
def test_it_documents_only_the_parameters_a_case_action_reads(path):
    # Reported: the case list's filters (status, light, search…) are documented on the
    # history and evidence actions, which ignore them.
    schema = _schema(APIClient())
    for method, operation in schema["paths"][path].items():
        names = {p["name"] for p in operation.get("parameters", [])}
        assert names == {"id"}, (method, path, sorted(names))


def test_it_documents_the_types_an_evidence_download_can_have():
    # Reported: the download answers with the file's own type (application/pdf, image/png…),
    # the schema promises only application/octet-stream.
    schema = _schema(APIClient())
    operation = schema["paths"]["/api/v1/cases/{case_id}/evidence/{evidence_id}/download/"]
    documented = set(operation["get"]["responses"]["200"]["content"])
    assert "*/*" in documented or set(ALLOWED_TYPES) <= documented, documented


# --- (b) schemathesis: generated requests, answers checked against the schema ---------------

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Bounded and repeatable so the test runs in under a minute (about 1,500 requests: every
# operation gets at least MAX_EXAMPLES, those with real ids several times that); for a deeper
# search run e.g. API_FUZZ_EXAMPLES=200 API_FUZZ_RANDOM=1 (random seeds, not the fixed one).
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "30"))
NEGATIVE_EXAMPLES = max(MAX_EXAMPLES // 2, 1)
# Input the schema forbids: any 4xx will do, but in the error shape and never a 5xx.
NEGATIVE_CHECKS = [not_a_server_error, content_type_conformance]
RANDOM = bool(os.environ.get("API_FUZZ_RANDOM"))


def _reset_lockouts() -> None:
    """Forget failed logins (django-axes counts them in the database, per name and address)."""
    if apps.is_installed("axes"):
        from axes.utils import reset

        reset()


def _content_type(response: Any) -> str:
    return ";".join(response.headers.get("content-type", [])).split(";")[0]


def _describe(case: Any, response: Any) -> str:
    text = "-" if type(case.body).__name__ == "NotSet" else repr(case.body)
    if len(text) > 300:
        text = text[:300] + "…"
    answer = response.content[:400] if hasattr(response, "content") else b""
    return (
        f"{case.method} {case.formatted_path} query={case.query!r} body={text} "
        f"-> {response.status_code} {_content_type(response)} "
        f"{answer.decode(errors='replace')}"
    )


@pytest.mark.django_db(transaction=True)
def test_it_answers_generated_requests_as_its_schema_says(world: World):
    """Every operation, as the supervisor with a real token: generated input (and the ids of
    real objects), checked for 5xx and for status code, content type, headers and body; then
    input the schema forbids, checked for 5xx and for the JSON error shape."""
    cache.clear()
    case = world.case(world.unit_a, checklist=["要点"], description="有佐证的问题")
    item = world.case(world.unit_a, parent=case, title="事项")
    done = drive_to(world.case(world.unit_b), "completed", world.supervisor)
    evidence = add_evidence(world.supervisor, case, "a.pdf")
    key = api_key(world.supervisor, name="schemathesis")
    auth = {"Authorization": f"Token {key}"}

    app = get_wsgi_application()
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app)
    real_ids = {
        "/api/v1/cases/{id}/": [{"id": case.pk}, {"id": item.pk}, {"id": done.pk}],
        "/api/v1/cases/{id}/history/": [{"id": case.pk}],
        "/api/v1/cases/{id}/evidence/": [{"id": case.pk}],
        "/api/v1/cases/{id}/transitions/": [{"id": case.pk}, {"id": done.pk}],
        "/api/v1/cases/{case_id}/evidence/{evidence_id}/download/": [
            {"case_id": case.pk, "evidence_id": evidence.pk}
        ],
        "/api/v1/units/{id}/": [{"id": world.unit_a.pk}],
        "/api/v1/inspections/{id}/": [{"id": world.inspection.pk}],
    }

    # One entry per operation, kind of failure and kind of answer (status, content type).
    failures: dict[tuple[str, str, str], str] = {}
    calls: dict[str, int] = {}
    throttled: list[str] = []

    def explore(operation: Any, path_parameters: dict[str, Any] | None, mode: Any) -> None:
        positive = mode == GenerationMode.POSITIVE
        strategy = operation.as_strategy(
            generation_mode=mode, headers=auth, path_parameters=path_parameters
        )

        @settings(
            max_examples=MAX_EXAMPLES if positive else NEGATIVE_EXAMPLES,
            deadline=None,
            derandomize=not RANDOM,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def run(generated: Any) -> None:
            cache.clear()  # a throttle counter must not turn a finding into a 429,
            _reset_lockouts()  # nor a login lockout (generated names repeat)
            response = generated.call(app=app, headers=auth)
            # DELETE auth/token revokes the token the run authenticates with: put it back.
            ApiToken.objects.filter(name="schemathesis").update(revoked_at=None)
            calls[operation.label] = calls.get(operation.label, 0) + 1
            if response.status_code == 429:
                throttled.append(operation.label)
            try:
                generated.validate_response(
                    response, checks=CHECKS if positive else NEGATIVE_CHECKS, headers=auth
                )
            except FailureGroup as group:
                for failure in group.exceptions:
                    key = (
                        operation.label,
                        f"{type(failure).__name__}: {failure.title}",
                        f"{response.status_code} {_content_type(response)}",
                    )
                    failures.setdefault(
                        key,
                        f"({mode.value}) {_describe(generated, response)}\n"
                        f"    {failure.message[:600]}",
                    )

        try:
            run()
        except Unsatisfiable:
            # Negative mode with the path and the auth header fixed: nothing left to break.
            assert not positive, operation.label

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            explore(operation, None, mode)
            for ids in real_ids.get(operation.path, []):
                explore(operation, ids, mode)

    documented = {f"{m.upper()} {p}" for p, i in schema.raw_schema["paths"].items() for m in i}
    assert set(calls) == documented, "every operation was exercised"
    # ...every route and method the URL configuration answers (not only what the schema says),
    routes = {f"{m.upper()} {p}" for p, methods in _api_routes().items() for m in methods}
    assert set(calls) == routes and len(calls) >= 19, sorted(set(calls) ^ routes)
    # ...and each with at least the examples asked for.
    assert min(calls.values()) >= MAX_EXAMPLES, sorted(calls.items(), key=lambda c: c[1])
    assert not throttled, f"429 answers: {throttled}"
    report = "\n\n".join(
        f"[{label}] {kind} ({answer})\n    {detail}"
        for (label, kind, answer), detail in sorted(failures.items())
    )
    assert not failures, f"{len(failures)} distinct schema/server failures:\n\n{report}"
