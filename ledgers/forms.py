"""The upload form: it checks what a browser can get wrong (no file, too large, wrong kind);
reading the ledger and every rule about its rows belong to the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

ACCEPTED = (".xlsx", ".xlsm", ".csv", ".txt")


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("台账文件（.xlsx 或 .csv）"),
        widget=forms.FileInput(attrs={"accept": ".xlsx,.csv"}),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        limit = settings.LEDGER_IMPORT_MAX_MB
        if upload.size > limit * 1024 * 1024:
            raise forms.ValidationError(_("文件超过 %(mb)s MB。") % {"mb": limit})
        if not upload.name.lower().endswith(ACCEPTED):
            raise forms.ValidationError(_("请上传 .xlsx 或 .csv 文件。"))
        return upload
