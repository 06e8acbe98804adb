"""The audit page's filters: person, case, action and date range (days in Asia/Shanghai)."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from .models import AuditEntry
from .selectors import audit_people

DAY = forms.DateInput(attrs={"type": "date"})


def _people(request: Any) -> Any:
    return audit_people(getattr(request, "user", None))


class AuditFilter(django_filters.FilterSet):
    actor = django_filters.ModelChoiceFilter(label=_("操作人"), queryset=_people)
    case = django_filters.CharFilter(field_name="case__code", label=_("问题编号"))
    action = django_filters.ChoiceFilter(label=_("操作"), choices=AuditEntry.Action.choices)
    since = django_filters.DateFilter(
        field_name="at", lookup_expr="date__gte", label=_("起始日期"), widget=DAY
    )
    until = django_filters.DateFilter(
        field_name="at", lookup_expr="date__lte", label=_("截止日期"), widget=DAY
    )

    class Meta:
        model = AuditEntry
        fields: list[str] = []
