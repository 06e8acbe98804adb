from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from cases import selectors
from cases.forms import ReportForm
from cases.models import Unit


class DocumentForm(ReportForm):
    """The progress report's filters, and a unit (its subtree): the documents' selection.
    Only read from the query string (the report page links to the downloads with its own)."""

    unit = forms.ModelChoiceField(label=_("责任单位"), queryset=Unit.objects.none(), required=False)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        field = cast(forms.ModelChoiceField, self.fields["unit"])
        field.queryset = selectors.visible_units(user)
