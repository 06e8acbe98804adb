"""Evidence uploads are bounded, typed by their content, stored under generated names and only
ever handed back as attachments, whatever the uploader calls the file.

Through the API (multipart), the case page's forms and the service itself: a file one byte
over the cap is refused (API: 413 in the error shape; page: the form again with the reason,
400, or the fragment for htmx) and one exactly at the cap is taken; the type is what the bytes
say, not the name; the stored file gets a generated name inside the evidence folder; the
download is an attachment with `nosniff`, named with the extension of the real type; hostile
file names are harmless in storage, in headers and on pages.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from rest_framework.test import APIClient

from cases import services
from cases.evidence import NAME_MAX, clean_name, download_name
from cases.models import Case, CaseEvent, Evidence
from tests.factories import PDF, World, drive_to

pytestmark = pytest.mark.django_db


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1×1, 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


PNG = _png()
# A Windows program: "MZ", then the offset of the PE header, then the PE header.
EXE = b"MZ" + b"\x90\x00" * 29 + struct.pack("<I", 64) + b"PE\x00\x00" + b"\x00" * 200
REFUSED = {
    "program named .jpg": ("photo.jpg", EXE),
    "program named .pdf": ("整改报告.pdf", EXE),
    "html named .png": ("scan.png", b"<!doctype html><script>alert(1)</script>"),
    "svg named .png": ("logo.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    "zip named .docx": ("report.docx", b"PK\x03\x04" + b"\x00" * 26 + b"evil.txt" + b"x" * 40),
    "text named .pdf": ("说明.pdf", "这是纯文本，不是 PDF。".encode()),
    "empty": ("empty.pdf", b""),
}
GENERATED = re.compile(r"\d{4}/\d{2}/[0-9a-f]{32}\.(pdf|png|jpg)")


@pytest.fixture(autouse=True)
def _fresh_throttle_counters() -> None:
    cache.clear()


@pytest.fixture
def case(world: World) -> Case:
    return drive_to(world.case(world.unit_a), "in_progress", world.supervisor)


@pytest.fixture
def api(world: World) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(world.inspector_a)
    return client


@pytest.fixture
def web(world: World) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(world.inspector_a)
    return client


def stored(settings: Any) -> tuple:
    """Everything an upload could have left behind."""
    root = Path(settings.EVIDENCE_ROOT)
    files = sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []
    return (
        Evidence.objects.count(),
        CaseEvent.objects.count(),
        list(Case.objects.order_by("pk").values_list("pk", "status", "updated_at")),
        files,
    )


def api_upload(api: APIClient, case: Case, name: str, content: bytes) -> Any:
    upload = SimpleUploadedFile(name, content)
    return api.post(f"/api/v1/cases/{case.pk}/evidence/", {"file": upload}, format="multipart")


def web_upload(web: Client, case: Case, name: str, content: bytes, **headers: Any) -> Any:
    upload = SimpleUploadedFile(name, content)
    url = reverse("cases:evidence", args=[case.pk])
    return web.post(url, {"evidence": upload, "note": "佐证"}, **headers)


def assert_api_error(response: Any, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"status", "code", "message", "fields"} and body["status"] == status
    assert "file" in body["fields"], body
    if code:
        assert body["code"] == code, body
    return body


# --- Size ---------------------------------------------------------------------------------


def test_the_api_takes_a_file_exactly_at_the_cap(api, case, settings) -> None:
    settings.EVIDENCE_MAX_BYTES = len(PNG)
    response = api_upload(api, case, "photo.png", PNG)
    assert response.status_code == 201, response.content
    assert response.json()["size"] == len(PNG) == Evidence.objects.get().size


def test_the_api_refuses_a_file_one_byte_over_the_cap_with_413(api, case, settings) -> None:
    settings.EVIDENCE_MAX_BYTES = len(PNG) - 1
    before = stored(settings)
    body = assert_api_error(api_upload(api, case, "photo.png", PNG), 413, "file_too_large")
    assert "文件过大" in body["message"]
    assert stored(settings) == before


def test_the_api_refuses_a_file_over_the_cap_that_was_spooled_to_disk(api, case, settings) -> None:
    # Above FILE_UPLOAD_MAX_MEMORY_SIZE Django writes the upload to a temporary file: the cap
    # must hold there too.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.EVIDENCE_MAX_BYTES = 4096
    before = stored(settings)
    content = PDF + b"%" + b"0" * (4096 - len(PDF) - 1) + b"\n"  # 4097 bytes
    assert len(content) == 4097
    assert_api_error(api_upload(api, case, "big.pdf", content), 413, "file_too_large")
    assert stored(settings) == before
    content = content[:-2] + b"\n"  # exactly 4096
    assert api_upload(api, case, "big.pdf", content).status_code == 201


def test_the_page_takes_a_file_exactly_at_the_cap(web, case, settings) -> None:
    settings.EVIDENCE_MAX_BYTES = len(PNG)
    response = web_upload(web, case, "photo.png", PNG)
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:detail", args=[case.pk])
    assert Evidence.objects.get().size == len(PNG)


def test_the_page_refuses_a_file_one_byte_over_the_cap_with_the_form_again(
    web, case, settings
) -> None:
    # A plain form post gets the page back, 400, with the reason on the file field (the
    # API's 413 is for programs; people need the form and their other input again); htmx
    # gets the fragment it swaps in, 200.
    settings.EVIDENCE_MAX_BYTES = len(PNG) - 1
    before = stored(settings)
    response = web_upload(web, case, "photo.png", PNG)
    assert response.status_code == 400
    html = response.content.decode()
    assert "文件过大" in html and 'class="errorlist' in html
    assert "<html" in html.lower()
    fragment = web_upload(web, case, "photo.png", PNG, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    text = fragment.content.decode()
    assert "文件过大" in text and "<html" not in text.lower()
    assert stored(settings) == before


def test_a_move_with_a_file_over_the_cap_is_refused_whole(web, case, settings) -> None:
    settings.EVIDENCE_MAX_BYTES = len(PDF) - 1
    before = stored(settings)
    url = reverse("cases:transition", args=[case.pk])
    upload = SimpleUploadedFile("报告.pdf", PDF)
    response = web.post(url, {"to": "submitted", "note": "已整改", "evidence": upload})
    assert response.status_code == 400
    assert "文件过大" in response.content.decode()
    assert stored(settings) == before  # not moved either


# --- Type by content ----------------------------------------------------------------------


def test_a_png_named_pdf_is_kept_as_a_png(api, case, settings) -> None:
    response = api_upload(api, case, "scan.pdf", PNG)
    assert response.status_code == 201, response.content
    evidence = Evidence.objects.get()
    assert response.json()["content_type"] == evidence.content_type == "image/png"
    assert evidence.original_name == "scan.pdf"  # the name as given, kept as data
    assert GENERATED.fullmatch(evidence.file.name) and evidence.file.name.endswith(".png")
    download = api.get(response.json()["download_url"])
    assert download["Content-Type"] == "image/png"
    assert filename(download) == "scan.pdf.png"  # saved as what it is
    assert b"".join(download.streaming_content) == PNG


@pytest.mark.parametrize(("name", "content"), REFUSED.values(), ids=REFUSED.keys())
def test_a_file_whose_content_is_not_allowed_is_refused_whatever_its_name(
    api, web, case, settings, name, content
) -> None:
    before = stored(settings)
    body = assert_api_error(api_upload(api, case, name, content), 400)
    assert body["code"] == "invalid"
    page = web_upload(web, case, name, content)
    assert page.status_code == 400
    assert 'class="errorlist' in page.content.decode()
    assert stored(settings) == before


# --- Storage and download -----------------------------------------------------------------


def filename(response: Any) -> str:
    """The file name a browser would save the download under."""
    header = response["Content-Disposition"]
    assert "\r" not in header and "\n" not in header
    message = Message()
    message["Content-Disposition"] = header
    assert message.get_content_disposition() == "attachment", header
    name = message.get_filename()
    assert name, header
    return name


def downloads(world: World, evidence: Evidence) -> list[Any]:
    """The same file through the case page's link and through the API."""
    web = Client()
    web.force_login(world.inspector_a)
    api = APIClient()
    api.force_authenticate(world.inspector_a)
    page_url = reverse("cases:evidence-download", args=[evidence.case_id, evidence.pk])
    api_url = f"/api/v1/cases/{evidence.case_id}/evidence/{evidence.pk}/download/"
    return [web.get(page_url), api.get(api_url)]


def test_it_stores_under_a_generated_name_and_serves_only_as_an_attachment(
    world, api, case, settings
) -> None:
    response = api_upload(api, case, "整改报告（终稿）.pdf", PDF)
    assert response.status_code == 201
    evidence = Evidence.objects.get()
    assert GENERATED.fullmatch(evidence.file.name), evidence.file.name
    path = Path(evidence.file.path).resolve()
    assert path.is_relative_to(Path(settings.EVIDENCE_ROOT).resolve())
    assert path.read_bytes() == PDF
    for download in downloads(world, evidence):
        assert download.status_code == 200
        assert download["Content-Type"] == "application/pdf"
        assert download["X-Content-Type-Options"] == "nosniff"
        assert download["Cache-Control"] == "private, no-store"
        assert filename(download) == "整改报告（终稿）.pdf"
        assert b"".join(download.streaming_content) == PDF


def named(name: str, content: bytes) -> io.BytesIO:
    """A file object with exactly this name (Django's own upload classes would refuse some)."""
    upload = io.BytesIO(content)
    upload.name = name
    return upload


HOSTILE_NAMES = {
    "parent directories": "../../etc/passwd",
    "windows path": "..\\..\\windows\\win.ini",
    "absolute": "/etc/cron.d/evil",
    "quote injection": '报告"; filename="evil.html',
    "header injection": "a.pdf\r\nContent-Type: text/html\r\n\r\n<b>x</b>",
    "markup": "<img src=x onerror=alert(1)>.pdf",
    "very long": "长" * 600 + ".pdf",
    "rtl override": "invoice\u202efdp.exe",
    "zero width and nul": "zero\u200bwidth\x00.pdf",
    "dot dot": "..",
    "hidden file": ".htaccess",
    "executable extension": "report.pdf.hta",
    "blank": "   ",
}


@pytest.mark.parametrize("name", HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_a_hostile_file_name_is_harmless_in_storage_headers_and_pages(
    world, case, settings, name
) -> None:
    # Through the service, which sees the name exactly as given (the multipart parser would
    # already drop some of these characters).
    evidence = services.evidence_add(
        actor=world.inspector_a, case_id=case.pk, upload=named(name, PDF)
    )

    # Storage: a generated name inside the evidence folder, and nothing else anywhere.
    assert GENERATED.fullmatch(evidence.file.name), evidence.file.name
    root = Path(settings.EVIDENCE_ROOT).resolve()
    assert [p.resolve() for p in root.rglob("*") if p.is_file()] == [Path(evidence.file.path)]
    assert not (root.parent / "etc").exists() and not (root.parent.parent / "etc").exists()

    # The name kept: one line of visible characters, no path, not over the column's length.
    kept = evidence.original_name
    assert kept == clean_name(name)
    assert kept and len(kept) <= NAME_MAX
    assert not re.search(r"[\x00-\x1f\x7f/\\\u200b-\u200f\u202a-\u202e\u2066-\u2069]", kept)

    # Headers: one attachment, saved under the name with the real type's extension.
    for download in downloads(world, evidence):
        assert download.status_code == 200
        saved = filename(download)
        assert saved == download_name(kept, "application/pdf") and saved.endswith(".pdf")
        assert "/" not in saved and "\\" not in saved and "\u202e" not in saved
        assert download["Content-Type"] == "application/pdf"
        assert download["X-Content-Type-Options"] == "nosniff"

    # Pages: shown escaped, never as markup.
    web = Client()
    web.force_login(world.inspector_a)
    html = web.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert escape(kept) in html
    assert "<img src=x" not in html and "\u202e" not in html


def test_a_hostile_name_sent_in_a_multipart_upload_is_harmless(world, api, case, settings) -> None:
    # The same through the API: the multipart header itself carries the name.
    for name in HOSTILE_NAMES.values():
        url = f"/api/v1/cases/{case.pk}/evidence/"
        response = api.post(url, {"file": named(name, PDF)}, format="multipart")
        assert response.status_code in (201, 400), (name, response.status_code)
        if response.status_code == 201:
            kept = response.json()["original_name"]
            assert kept == clean_name(kept) and "/" not in kept and "\\" not in kept, name
    for evidence in Evidence.objects.all():
        assert GENERATED.fullmatch(evidence.file.name), evidence.file.name
        for download in downloads(world, evidence):
            assert filename(download).endswith(".pdf")
