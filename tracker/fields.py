"""Model fields shared by the apps."""

from __future__ import annotations

from typing import Any

from django.db import models


class StoredFileField(models.FileField):
    """A file field whose storage and file naming stay out of migrations.

    Where files live and how they are named is runtime behaviour, not schema: the column is a
    plain varchar either way. Left in the field's deconstruction, they make every migration of
    the model import the application's storage and naming functions, so a migration would mean
    something else (or fail to load) once that code changes; a migration means the same thing
    forever. Migrations record a plain `FileField`."""

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        kwargs.pop("storage", None)
        kwargs["upload_to"] = ""  # as a plain FileField's
        return name, "django.db.models.FileField", args, kwargs
