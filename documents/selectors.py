"""Reads of the documents app: the drafting template in force. Templates are the
commission's wording, not case data: they hold no figures and are read whole by every
download (the figures are scoped in `documents.figures`)."""

from __future__ import annotations

from dataclasses import dataclass

from .drafting import DEFAULT_TITLES, default_body
from .models import DocumentTemplate


@dataclass(frozen=True)
class Drafting:
    kind: str
    title: str
    body: str
    copy_to: str = ""
    issuer: str = ""
    version: int | None = None  # None: the text shipped in documents/drafts/


def shipped_template(kind: str) -> Drafting:
    return Drafting(kind, DEFAULT_TITLES[kind], default_body(kind))


def current_template(kind: str) -> Drafting:
    """The latest saved version of `kind`, else the shipped text."""
    row = DocumentTemplate.objects.filter(kind=kind).order_by("-created_at", "-id").first()
    if row is None:
        return shipped_template(kind)
    return Drafting(kind, row.title, row.body, row.copy_to, row.issuer, row.pk)
