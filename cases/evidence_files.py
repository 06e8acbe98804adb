"""Where evidence files live and how they are named: runtime behaviour of the evidence model's
file field (`StoredFileField` keeps it out of migrations)."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.utils import timezone
from django.utils.functional import cached_property


class EvidenceStorage(FileSystemStorage):
    """Files under settings.EVIDENCE_ROOT, read when used (not when the model is imported), so
    a changed setting (tests, a moved volume) takes effect."""

    @cached_property
    def base_location(self) -> str:
        location = self._location  # type: ignore[attr-defined]  # set by FileSystemStorage
        return self._value_or_setting(location, settings.EVIDENCE_ROOT)

    def _clear_cached_properties(self, setting: Any, **kwargs: Any) -> None:
        super()._clear_cached_properties(setting, **kwargs)
        if setting == "EVIDENCE_ROOT":
            self.__dict__.pop("base_location", None)
            self.__dict__.pop("location", None)


def evidence_storage() -> FileSystemStorage:
    return EvidenceStorage()


def evidence_path(instance: Any, filename: str) -> str:
    # The stored name is generated, with the extension of the type found in the content: the
    # uploader's file name is kept only as data.
    from .evidence import ALLOWED_TYPES

    suffix = ALLOWED_TYPES.get(instance.content_type, "")
    return f"{timezone.now():%Y/%m}/{uuid.uuid4().hex}{suffix}"
