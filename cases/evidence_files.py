"""Where evidence files live and how they are named: runtime behaviour of the evidence model's
file field (`StoredFileField` keeps it out of migrations)."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.files.storage import FileSystemStorage
from django.utils import timezone

from tracker.fields import SettingRootStorage


class EvidenceStorage(SettingRootStorage):
    """Evidence files, under settings.EVIDENCE_ROOT."""

    root_setting = "EVIDENCE_ROOT"


def evidence_storage() -> FileSystemStorage:
    return EvidenceStorage()


def evidence_path(instance: Any, filename: str) -> str:
    # The stored name is generated, with the extension of the type found in the content: the
    # uploader's file name is kept only as data.
    from .evidence import ALLOWED_TYPES

    suffix = ALLOWED_TYPES.get(instance.content_type, "")
    return f"{timezone.now():%Y/%m}/{uuid.uuid4().hex}{suffix}"
