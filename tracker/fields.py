"""Model fields, and the storage behind them, shared by the apps."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils.functional import cached_property


class SettingRootStorage(FileSystemStorage):
    """Files under the directory that the setting `root_setting` names, read when used (not
    when a model is imported), so that a changed setting (tests, a moved volume) takes effect.
    A subclass names its setting."""

    root_setting = ""

    @cached_property
    def base_location(self) -> str:
        location = self._location  # type: ignore[attr-defined]  # set by FileSystemStorage
        return self._value_or_setting(location, getattr(settings, self.root_setting))

    def _clear_cached_properties(self, setting: Any, **kwargs: Any) -> None:
        super()._clear_cached_properties(setting, **kwargs)
        if setting == self.root_setting:
            self.__dict__.pop("base_location", None)
            self.__dict__.pop("location", None)


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
