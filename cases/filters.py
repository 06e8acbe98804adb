"""Case list filters, shared by the API and the web list (django-filter).

Every filter narrows a queryset the user-scoped selector already produced; ids of objects the
user cannot see simply match nothing (no "invalid choice" that would reveal they exist).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import django_filters
from django import forms
from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .completion import as_of_problem, at_level, cases_as_of
from .errors import InvalidInput
from .lights import CHOICES, light_q
from .models import Case, Unit
from .search import Search
from .selectors import in_unit_subtree_of_id
from .workflow import Status

LIGHTS = CHOICES  # the rule and its names: cases.lights


def overdue_q(today=None) -> Q:
    return light_q("red", today)


class StatusListField(forms.Field):
    """One or several statuses: `status=open&status=in_progress` or `status=open,in_progress`."""

    widget = forms.SelectMultiple(choices=Status.choices)

    def to_python(self, value):
        values = value if isinstance(value, list | tuple) else [value] if value else []
        codes = [code.strip() for item in values for code in str(item).split(",") if code.strip()]
        unknown = [code for code in codes if code not in Status.values]
        if unknown:
            raise forms.ValidationError(
                _("未知的状态：%(codes)s。可用：%(valid)s")
                % {"codes": ", ".join(unknown), "valid": ", ".join(Status.values)}
            )
        return codes


class StatusListFilter(django_filters.Filter):
    field_class = StatusListField

    def filter(self, qs, value):
        if getattr(self.parent, "past_day", None) is not None:
            return qs  # the state of that day: CaseFilter.filter_queryset
        return qs.filter(status__in=value) if value else qs


class AsOfField(forms.DateField):
    """A kept day up to today, as the completion figures accept it."""

    def clean(self, value: Any) -> Any:
        day = super().clean(value)
        problem = as_of_problem(day)
        if problem:
            raise forms.ValidationError(problem)
        return day


class AsOfFilter(django_filters.DateFilter):
    field_class = AsOfField

    def filter(self, qs, value):
        return qs  # applied last, with the status and light (CaseFilter.filter_queryset)


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 moment, converted to UTC here: PostgreSQL refuses offsets of 16 hours or
    more, and moments that overflow in UTC are the client's error, not the server's."""

    def to_python(self, value: Any) -> Any:
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError(_("时间超出范围。")) from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class UnitFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", max_length=100, label=_("单位名称")
    )
    parent = django_filters.NumberFilter(field_name="parent_id", label=_("上级单位"))
    level = django_filters.ChoiceFilter(choices=Unit.Level.choices, label=_("层级"))

    class Meta:
        model = Unit
        fields: list[str] = []


class CaseFilter(django_filters.FilterSet):
    inspection = django_filters.NumberFilter(field_name="inspection_id", label=_("检查"))
    status = StatusListFilter(label=_("状态"))
    responsible_unit = django_filters.NumberFilter(
        method="filter_unit_subtree", label=_("责任单位（含下级）")
    )
    # The dashboard's unit rows count a unit's own cases, not its sub-units'.
    unit = django_filters.NumberFilter(
        field_name="responsible_unit_id", label=_("责任单位（本级）")
    )
    region = django_filters.NumberFilter(field_name="region_id", label=_("区县"))
    no_region = django_filters.BooleanFilter(
        field_name="region", lookup_expr="isnull", label=_("市本级（无区县）")
    )
    restricted = django_filters.BooleanFilter(
        field_name="inspection__restricted", label=_("问题线索台账")
    )
    parent = django_filters.NumberFilter(field_name="parent_id", label=_("所属问题"))
    level = django_filters.ChoiceFilter(
        choices=[("problem", _("问题（不含事项）")), ("item", _("事项及无事项的问题"))],
        method="filter_level",
        label=_("统计口径"),
    )
    overdue = django_filters.BooleanFilter(method="filter_overdue", label=_("逾期"))
    light = django_filters.ChoiceFilter(choices=LIGHTS, method="filter_light", label=_("红黄绿灯"))
    deadline_before = django_filters.DateFilter(
        field_name="deadline", lookup_expr="lte", label=_("时限不晚于")
    )
    deadline_after = django_filters.DateFilter(
        field_name="deadline", lookup_expr="gte", label=_("时限不早于")
    )
    updated_since = UtcIsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", label=_("更新于此后")
    )
    key_problem = django_filters.BooleanFilter(field_name="is_key_problem", label=_("重点难点"))
    # Status and light as they stood at the end of a past day (the dashboard's as_of).
    as_of = AsOfFilter(label=_("截至"))
    search = django_filters.CharFilter(method="filter_search", label=_("搜索"))
    ordering = django_filters.OrderingFilter(
        fields=[
            ("deadline", "deadline"),
            ("updated_at", "updated_at"),
            ("created_at", "created_at"),
            ("code", "code"),
            ("status", "status"),
            ("id", "id"),
        ],
        label=_("排序"),
    )

    class Meta:
        model = Case
        fields: list[str] = []

    search_plan: Search | None = None  # set by filter_queryset when the list is searched

    def filter_unit_subtree(self, queryset: QuerySet[Case], name: str, value: Any):
        if value != int(value):  # a NumberFilter's Decimal: no unit has this id
            return queryset.none()
        return queryset.filter(in_unit_subtree_of_id(int(value), "responsible_unit_id"))

    def filter_level(self, queryset: QuerySet[Case], name: str, value: str):
        # The completion module's levels, so a dashboard figure and its list agree.
        return at_level(queryset, value) if value else queryset

    def filter_overdue(self, queryset: QuerySet[Case], name: str, value: bool | None):
        if value is None:
            return queryset
        return queryset.filter(overdue_q()) if value else queryset.exclude(overdue_q())

    def filter_light(self, queryset: QuerySet[Case], name: str, value: str):
        if self.past_day is not None:
            return queryset  # the light of that day: filter_queryset
        return queryset.filter(light_q(value)) if value else queryset

    past_day = None  # a past `as_of`, set by filter_queryset

    def _as_of(self, queryset: QuerySet[Case], day: Any) -> QuerySet[Case]:
        """The cases of that day, in the status and light they had then, as the dashboard's
        figures of that day count them; for lists small enough to rebuild from the history
        within the request (TALLY_LIVE_AS_OF_MAX_CASES), as the figures are."""
        limit = settings.TALLY_LIVE_AS_OF_MAX_CASES
        if queryset.order_by()[: limit + 1].count() > limit:
            message = gettext(
                "按截至日期筛选的列表最多涵盖 %(limit)s 个问题："
                "请先选择检查、区县或责任单位缩小范围。"
            ) % {"limit": limit}
            raise InvalidInput(message, fields={"as_of": [day.isoformat()]})
        data = self.form.cleaned_data
        return cases_as_of(
            queryset, day, statuses=data.get("status") or None, light=data.get("light") or None
        )

    def filter_search(self, queryset: QuerySet[Case], name: str, value: str):
        # Applied last, by filter_queryset, once the rest of the list is filtered and sorted.
        return queryset

    def filter_queryset(self, queryset: QuerySet[Case]) -> QuerySet[Case]:
        """The filters and the order, then the search: its pages are read by `self.search_plan`
        (cases.search), which needs the list without it."""
        day = self.form.cleaned_data.get("as_of")
        # Today's state is the live one (as the figures of today are).
        self.past_day = day if day is not None and day < timezone.localdate() else None
        queryset = super().filter_queryset(queryset)
        if self.past_day is not None:
            queryset = self._as_of(queryset, self.past_day)
        order = list(queryset.query.order_by)
        if order and not {"id", "-id", "pk", "-pk"} & {str(key) for key in order}:
            # Ties broken by id, so that pages neither repeat nor skip a case.
            queryset = queryset.order_by(*order, "id")
        term = (self.form.cleaned_data.get("search") or "").strip()[:100]
        if not term:
            return queryset
        self.search_plan = Search(base=queryset, term=term)
        return self.search_plan.matches
