"""Hostile text in every field people can type into stays text everywhere it comes out.

A corpus of script-injection payloads is written, through the services, into each user-editable
text field (unit, inspection and person names, case code, title, description, measures,
progress, checklist points, the notes of moves, deadline changes, reassignments and
follow-ups, evidence file names and notes). Then every place that shows them is read back: the
case list (and its search box), the case page, the dashboard (tables and chart data), the
report, the notifications page, the admin, the API (JSON and its browsable HTML), the reminder
email, the group-bot message and the in-app notification. In HTML nothing of a payload may
become markup; in the exported ledger nothing may become a formula. (The charts' tooltips,
built in the browser, are checked in tests/browser/test_xss_browser.py.)
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from openpyxl import load_workbook
from openpyxl.cell.cell import ERROR_CODES

from cases import checklist, organisation, services
from cases.evidence import clean_name
from cases.models import Case, Inspection, Unit, User
from cases.workflow import Role
from ledgers import services as ledger_services
from ledgers.sheetrows import FORMULA_TRIGGERS
from reminders import services as reminder_services
from reminders.models import Notification, UnitWebhook
from tests.factories import PDF, World, days, make_user
from tests.reminders.conftest import Bot, bot  # noqa: F401  (the local group bot, as a fixture)

pytestmark = pytest.mark.django_db


# Each breaks out of a different context: element content, a quoted or unquoted attribute, a
# <textarea>, a JSON <script> block, a URL attribute, a template engine, a comment.
PAYLOADS = {
    "script": "<script>alert('x1')</script>",
    "img-onerror": '"><img src=x onerror=alert("x2")>',
    "svg-onload": "'><svg/onload=alert(3)>",
    "attribute": '" autofocus onfocus="alert(4)',
    "textarea": "</textarea><script>alert(5)</script>",
    "json-script": "</script><script>alert(6)</script><!--",
    "javascript-url": "javascript:alert(7)",
    "iframe": "<iframe src=javascript:alert(8)></iframe>",
    "style": "<style>*{display:none}</style><b>x9</b>",
    "pre-escaped": "&lt;script&gt;alert(10)&lt;/script&gt;",
    "template": "{{ 7|add:7 }}{% now 'Y' %}${7*7}#{7*7}",
    "line-separators": "\u2028\u2029<script>alert(12)</script>",
}

# What a spreadsheet takes for the start of a formula (or a DDE call), also after a tab or a
# carriage return, and in the full-width forms a Chinese input method types.
FORMULAS = [
    '=HYPERLINK("http://evil.example","x")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
    "＝1+1",
    "=1",
    "#N/A",
]


def plant(world: World, payload: str, *, webhook: str = "") -> Case:
    """A case with `payload` in every text field that people fill in, written through the
    services as the pages, the API and the imports do (`webhook`: its unit's group bot)."""
    sup = world.supervisor
    county = organisation.unit_create(name=payload, level=Unit.Level.COUNTY, parent=world.city)
    unit = organisation.unit_create(name=payload, level=Unit.Level.DEPARTMENT, parent=county)
    if webhook:
        UnitWebhook.objects.create(unit=unit, url=webhook)
    owner = make_user(
        unit, Role.INSPECTOR, full_name=payload[:100], email=f"owner{unit.pk}@example.org"
    )
    inspection = organisation.inspection_create(
        name=payload, kind=Inspection.Kind.SPECIAL, year=2024, issuing_unit=world.commission
    )
    case = services.case_create(
        actor=sup,
        inspection=inspection,
        title=payload,
        code=payload[:64],
        responsible_unit=unit,
        deadline=days(-3),  # overdue: on the dashboard's and the report's lists
        description=payload,
        measures=payload,
        is_key_problem=True,
        checklist=[payload],
    )
    services.case_assign(actor=sup, case_id=case.pk, owner=owner, note=payload)
    services.case_update_rectification(actor=sup, case_id=case.pk, progress=payload)
    services.case_update_details(actor=sup, case_id=case.pk, description=payload + "!")
    checklist.checkpoint_add(actor=sup, case_id=case.pk, text=payload + "!")
    services.case_extend_deadline(actor=sup, case_id=case.pk, deadline=days(-2), reason=payload)
    services.case_transition(actor=owner, case_id=case.pk, to="escalated", note=payload)
    services.evidence_add(
        actor=sup,
        case_id=case.pk,
        upload=SimpleUploadedFile(payload + ".pdf", PDF),
        note=payload,
    )
    services.case_follow_up(actor=sup, case_id=case.pk, note=payload)
    return Case.objects.get(pk=case.pk)


# --- Reading HTML --------------------------------------------------------------------------

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "poster", "xlink:href"}
FOREIGN_TAGS = {"iframe", "object", "embed", "frame", "frameset", "base", "math"}


class Markup:
    """Every element with its attributes, and the text of each <script>, as a browser's
    tokenizer would see them (Python's HTMLParser follows the same rules for raw text)."""

    def __init__(self, html: str) -> None:
        from html.parser import HTMLParser

        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[tuple[dict[str, str], str]] = []
        outer = self

        class Parser(HTMLParser):
            in_script = False

            def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
                attributes = {name: value or "" for name, value in attrs}
                outer.tags.append((tag, attributes))
                if tag == "script":
                    self.in_script = True
                    outer.scripts.append((attributes, ""))

            def handle_data(self, data: str) -> None:
                if self.in_script:
                    attributes, text = outer.scripts[-1]
                    outer.scripts[-1] = (attributes, text + data)

            def handle_endtag(self, tag: str) -> None:
                if tag == "script":
                    self.in_script = False

        parser = Parser(convert_charrefs=True)
        parser.feed(html)
        parser.close()


def assert_inert(html: str, where: str, *, shown: Iterable[str] = PAYLOADS) -> None:
    """No part of any payload became markup in `html`, and the payloads named in `shown` are
    there, as text."""
    markup = Markup(html)
    for tag, attributes in markup.tags:
        assert tag not in FOREIGN_TAGS, (where, tag, attributes)
        assert not [name for name in attributes if name.startswith("on")], (where, tag, attributes)
        if "autofocus" in attributes:
            assert (tag, attributes.get("name")) == ("input", "username"), (where, attributes)
        for name, value in attributes.items():
            scheme = re.sub(r"[\s\x00-\x1f]", "", value).lower()
            if name in URL_ATTRIBUTES:
                assert not scheme.startswith(("javascript:", "vbscript:", "data:text")), (
                    where, tag, name, value,
                )  # fmt: skip
    outside_json = html  # a JSON data block may hold a quote as it is: it is not HTML
    for attributes, text in markup.scripts:
        # Code comes from files only (the CSP allows no inline code); a JSON data block must
        # still be one well-formed value: nothing broke out of it.
        assert attributes.get("src") or attributes.get("type") == "application/json", (
            where, attributes, text[:300],
        )  # fmt: skip
        if attributes.get("type") == "application/json":
            json.loads(text)
            outside_json = outside_json.replace(text, "")
    for name, payload in PAYLOADS.items():
        text = payload.strip()
        if any(char in text for char in "<>\"'&"):
            assert text not in outside_json, (where, name, "unescaped in the page")
        if name in shown:
            assert escape(text) in html, (where, name, "not shown")


def page(client: Client, url: str, **headers: Any) -> str:
    response = client.get(url, **headers)
    assert response.status_code == 200, (url, response.status_code)
    assert response["Content-Type"].startswith("text/html"), url
    assert response["X-Content-Type-Options"] == "nosniff", url
    return response.content.decode()


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- Pages --------------------------------------------------------------------------------


@pytest.fixture
def planted(world: World) -> dict[str, Case]:
    """One case per payload, each with its own unit, area, inspection and owner."""
    return {name: plant(world, payload) for name, payload in PAYLOADS.items()}


def test_it_shows_hostile_text_as_text_on_every_page(
    world: World, planted: dict[str, Case]
) -> None:
    client = logged_in(world.supervisor)
    results = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "case-results"}
    lists = {
        "case list": (reverse("cases:list"), {}),
        "case list (htmx)": (reverse("cases:list"), results),
        "dashboard": (reverse("cases:dashboard"), {}),
        "report": (reverse("cases:report") + f"?since={days(-400).isoformat()}", {}),
    }
    for where, (url, headers) in lists.items():
        assert_inert(page(client, url, **headers), where)
    for name, case in planted.items():
        for where, url in {
            "case page": reverse("cases:detail", args=[case.pk]),
            "case list searched for it": reverse("cases:list")
            + "?"
            + urlencode({"search": PAYLOADS[name]}),
        }.items():
            assert_inert(page(client, url), f"{where} {name}", shown=[name])


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_it_keeps_hostile_text_as_data_in_the_dashboards_chart_figures(
    world: World, planted: dict[str, Case]
) -> None:
    # The charts read their figures from a JSON block: names arrive as the strings typed, and
    # nothing in the block can close it.
    html = page(logged_in(world.supervisor), reverse("cases:dashboard"))
    [text] = [t for a, t in Markup(html).scripts if a.get("id") == "figures-data"]
    assert "<" not in text and ">" not in text
    names = set(_strings(json.loads(text)))
    for payload in PAYLOADS.values():
        assert payload in names, payload


def test_it_shows_hostile_text_as_text_in_the_admin(world: World, planted: dict[str, Case]) -> None:
    client = logged_in(world.admin)
    for where, url in {
        "admin cases": reverse("admin:cases_case_changelist"),
        "admin history": reverse("admin:cases_caseevent_changelist"),
        "admin units": reverse("admin:cases_unit_changelist"),
        "admin users": reverse("admin:cases_user_changelist"),
        "admin inspections": reverse("admin:cases_inspection_changelist"),
    }.items():
        assert_inert(page(client, url), where)
    for name, case in planted.items():
        url = reverse("admin:cases_case_change", args=[case.pk])
        assert_inert(page(client, url), f"admin case {name}", shown=[name])


def test_it_returns_hostile_text_as_json_data_or_escaped_html_from_the_api(
    world: World, planted: dict[str, Case]
) -> None:
    client = logged_in(world.supervisor)
    for name, case in planted.items():
        payload, base = PAYLOADS[name].strip(), f"/api/v1/cases/{case.pk}/"
        for url in (base, base + "history/", base + "evidence/"):
            response = client.get(url, HTTP_ACCEPT="application/json")
            assert response.status_code == 200, url
            assert response["Content-Type"] == "application/json", url
            assert response["X-Content-Type-Options"] == "nosniff", url
            # JSON is data: the text comes back as typed (a client escapes it for its own
            # output); the file name as kept (see test_uploads).
            strings = set(_strings(response.json()))
            assert payload in strings or clean_name(PAYLOADS[name] + ".pdf") in strings, url
        # The browsable API (people trying the API in a browser) escapes it like any page.
        for url in (base, base + "history/"):
            html = page(client, url, HTTP_ACCEPT="text/html")
            assert_inert(html, f"browsable API {url}", shown=[])


def test_it_keeps_hostile_text_harmless_in_every_notification(
    world: World,
    settings: Any,
    bot: Bot,  # noqa: F811  (the imported fixture)
) -> None:
    settings.REMINDER_CHANNELS = ["email", "webhook", "in_app"]
    settings.TRACKER_SITE_URL = "https://tracker.example.org"
    mail.outbox = []
    planted = {name: plant(world, payload, webhook=bot.url) for name, payload in PAYLOADS.items()}
    report = reminder_services.deliver()
    # Per case: an email and an in-app notification to its owner, a message to its unit's bot;
    # and the owner's escalation (提请上级协调) tells the supervising unit's supervisor, who
    # gets all twelve in one in-app digest (no email address; the commission has no bot).
    assert report.sent == 3 * len(PAYLOADS) + 1, report
    [digest] = Notification.objects.filter(user=world.supervisor)
    assert {item["title"] for item in digest.items} == {p.strip() for p in PAYLOADS.values()}
    html = page(logged_in(world.supervisor), reverse("reminders:notifications"))
    assert_inert(html, "the supervisor's notifications")

    for name, case in planted.items():
        payload = PAYLOADS[name].strip()
        owner = User.objects.get(pk=case.owner_id)
        # Email: plain text only (no HTML part for a mail client to render); nothing typed
        # reaches a header.
        [message] = [m for m in mail.outbox if m.to == [owner.email]]
        assert message.content_subtype == "plain"
        assert not getattr(message, "alternatives", None)
        assert payload in message.body
        for header, value in message.message().items():
            assert "alert(" not in value and "{{" not in value, (header, value)
        # Group bot: a "text" message, shown by WeCom and DingTalk as typed (not markdown,
        # not a link card).
        [sent] = [m for m in bot.received if payload in m["text"]["content"]]
        assert sent["msgtype"] == "text" and set(sent) == {"msgtype", "text"}
        # In-app: stored as data, shown escaped on the notifications page.
        notification = Notification.objects.get(user=owner)
        assert notification.items[0]["title"] == payload
        html = page(logged_in(owner), reverse("reminders:notifications"))
        assert_inert(html, f"notifications of {name}", shown=[name])


def test_it_stores_hostile_evidence_names_as_harmless_text(world: World) -> None:
    case = plant(world, PAYLOADS["img-onerror"])
    evidence = case.evidence.get()
    assert evidence.original_name == clean_name(PAYLOADS["img-onerror"] + ".pdf")
    assert re.fullmatch(r"\d{4}/\d{2}/[0-9a-f]{32}\.pdf", evidence.file.name), evidence.file.name
    html = page(logged_in(world.supervisor), reverse("cases:detail", args=[case.pk]))
    assert escape(evidence.original_name) in html


# --- Exported ledger ----------------------------------------------------------------------


def test_it_neutralises_formulas_and_markup_in_every_exported_cell(world: World) -> None:
    for payload in [*FORMULAS, *PAYLOADS.values()]:
        plant(world, payload)
    out = io.BytesIO()
    rows = ledger_services.export_write(user=world.supervisor, query="", out=out)
    assert rows == len(FORMULAS) + len(PAYLOADS)
    with zipfile.ZipFile(out) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                xml = archive.read(name).decode()
                assert "<f>" not in xml and "<f " not in xml, name  # not a single formula
                assert "<hyperlink" not in xml, name
    seen: set[str] = set()
    for sheet in load_workbook(out).worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if not isinstance(cell.value, str):
                    continue
                seen.add(cell.value)
                if cell.value.startswith(FORMULA_TRIGGERS) or cell.value in ERROR_CODES:
                    assert cell.data_type == "s", (cell.coordinate, cell.value)
                    assert cell.quotePrefix, (cell.coordinate, cell.value)
    # Each formula came out, in the text columns, as typed (a lone CR is a line break in a
    # spreadsheet file) – title, description, unit, area, owner, measures, progress, code.
    for formula in FORMULAS:
        text = formula.strip().replace("\r", "\n")
        assert text in seen or formula.replace("\r", "\n") in seen, formula
