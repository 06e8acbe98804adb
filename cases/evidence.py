"""Checks on uploaded evidence: size and type, by content rather than by name."""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import PurePosixPath
from typing import IO

import filetype
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from .errors import FileTooLarge, InvalidInput

# What a rectification dossier holds: scans and documents, photos, Office files.
ALLOWED_TYPES = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "application/msword": ".doc",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
}
# Other spellings of those extensions that a download name may keep.
_ALSO = {"image/jpeg": (".jpeg", ".jpe"), "image/heic": (".heif",)}
NAME_MAX = 255
# filetype reads OOXML and OLE signatures from the start of the file.
SNIFF_BYTES = 8192


def inspect_upload(file: IO[bytes], *, size: int | None = None) -> tuple[str, str, int]:
    """Return (content_type, sha256, size) of an acceptable upload, or raise why not."""
    limit = settings.EVIDENCE_MAX_BYTES
    if size is not None and size > limit:
        raise _too_large(limit)
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    kind = filetype.guess(head)
    if kind is None or kind.mime not in ALLOWED_TYPES:
        message = _("仅支持 PDF、图片（JPG/PNG/GIF/WebP/HEIC）和 Office 文档，请检查文件内容。")
        raise InvalidInput(message, fields={"evidence": [message]})
    digest = hashlib.sha256(head)
    total = len(head)
    if total > limit:
        raise _too_large(limit)
    for chunk in iter(lambda: file.read(1024 * 1024), b""):
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        digest.update(chunk)
    file.seek(0)
    return kind.mime, digest.hexdigest(), total


def _too_large(limit: int) -> FileTooLarge:
    message = _("文件过大，单个文件不能超过 %(limit)s。") % {"limit": filesizeformat(limit)}
    return FileTooLarge(message, fields={"evidence": [message]})


def clean_name(name: str) -> str:
    """The uploader's file name as it may be kept and shown: the last path segment, without
    control or formatting characters (newlines, NUL, bidirectional overrides such as U+202E
    that make "report\u202efdp.exe" display as "reportexe.pdf", zero-width characters), with
    runs of blanks made one space, at most NAME_MAX characters with the extension kept.
    Only data: files are stored under generated names."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        " " if unicodedata.category(char) in ("Zs", "Zl", "Zp") or char in "\t\r\n" else char
        for char in name
        if unicodedata.category(char) not in ("Cc", "Cf", "Co", "Cs", "Cn") or char in "\t\r\n"
    )
    name = " ".join(name.split()).strip(" .")
    if len(name) > NAME_MAX:
        suffix = PurePosixPath(name).suffix[:16]
        name = name[: NAME_MAX - len(suffix)].rstrip(" .") + suffix
    return name or "evidence"


def download_name(name: str, content_type: str) -> str:
    """The name a download is saved under: the kept name, with the extension of the type found
    in the content added unless it already ends with it. A PDF uploaded as "x.hta" or "x.html"
    is saved as "x.hta.pdf": the operating system opens it as what it is."""
    name = clean_name(name)
    suffix = ALLOWED_TYPES.get(content_type, "")
    if not suffix or name.lower().endswith((suffix, *_ALSO.get(content_type, ()))):
        return name
    return clean_name(name[: NAME_MAX - len(suffix)] + suffix)
