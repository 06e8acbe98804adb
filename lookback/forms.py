"""The look-back's forms: they parse and offer only what the user may choose; the rules are the
services' (lookback.services), whose refusals come back as form errors (`attach_error`)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from cases import selectors as case_selectors
from cases.forms import USER_LABEL, AutocompleteSelect, DateInput, FastSelect
from cases.models import Inspection, Unit, User

from . import selectors
from .models import AccountabilityRecord, RecheckTask


class StartForm(forms.Form):
    """Start a look-back: the population's filters, the sample, the checker and the deadline."""

    name = forms.CharField(label=_("名称"), max_length=200)
    inspection = forms.ModelChoiceField(
        label=_("检查/台账"), queryset=Inspection.objects.none(), required=False,
        empty_label=_("全部"), widget=FastSelect(label_field="name"),
    )  # fmt: skip
    unit = forms.ModelChoiceField(
        label=_("责任单位（含下级）"), queryset=Unit.objects.none(), required=False,
        widget=AutocompleteSelect("cases:autocomplete-units", label_field="name"),
    )  # fmt: skip
    region = forms.ModelChoiceField(
        label=_("区县"), queryset=Unit.objects.none(), required=False, empty_label=_("全部"),
        widget=FastSelect(label_field="name"),
    )  # fmt: skip
    closed_before = forms.DateField(
        label=_("销号日期不晚于"), required=False, widget=DateInput,
        help_text=_("只抽查该日期及以前销号的问题（留空：全部已销号问题）。"),
    )  # fmt: skip
    size = forms.IntegerField(label=_("抽样数量"), required=False, min_value=1)
    percentage = forms.IntegerField(
        label=_("或抽样比例（%）"), required=False, min_value=1, max_value=100
    )
    seed = forms.IntegerField(
        label=_("随机种子"), required=False, min_value=0, max_value=2**63 - 1,
        help_text=_("留空由系统生成；填写同一种子可对同一范围重新抽取出相同的样本。"),
    )  # fmt: skip
    checker = forms.ModelChoiceField(
        label=_("复核人"), queryset=User.objects.none(), widget=FastSelect(label_field=USER_LABEL)
    )
    deadline = forms.DateField(label=_("复核时限"), widget=DateInput)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields = self.fields
        cast(
            forms.ModelChoiceField, fields["inspection"]
        ).queryset = case_selectors.visible_inspections(user).order_by("-year", "code")
        units = case_selectors.visible_units(user)
        cast(forms.ModelChoiceField, fields["unit"]).queryset = units
        cast(forms.ModelChoiceField, fields["region"]).queryset = units.filter(
            level=Unit.Level.COUNTY
        )
        cast(forms.ModelChoiceField, fields["checker"]).queryset = selectors.possible_checkers(user)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("size") is None) == (data.get("percentage") is None):
            self.add_error("size", _("请填写抽样数量或抽样比例（二选一）。"))
        return data


class DecisionForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("复核结论"),
        choices=[
            (RecheckTask.Outcome.CONFIRMED, RecheckTask.Outcome.CONFIRMED.label),
            (RecheckTask.Outcome.FALSE, RecheckTask.Outcome.FALSE.label),
        ],
        widget=forms.RadioSelect,
    )
    finding = forms.CharField(
        label=_("复核发现"), required=False, max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("认定虚假整改时必填：该问题将重新整改，复核发现记入其历史。"),
    )  # fmt: skip


class AccountabilityForm(forms.Form):
    person_name = forms.CharField(label=_("被问责人"), max_length=100)
    person_title = forms.CharField(label=_("职务"), max_length=100, required=False)
    unit = forms.ModelChoiceField(
        label=_("所在单位"), queryset=Unit.objects.none(),
        widget=AutocompleteSelect("cases:autocomplete-units", label_field="name"),
    )  # fmt: skip
    measure = forms.ChoiceField(label=_("问责方式"), choices=AccountabilityRecord.Measure.choices)
    decided_on = forms.DateField(label=_("问责日期"), widget=DateInput)
    document_number = forms.CharField(label=_("决定文号"), max_length=100)
    note = forms.CharField(
        label=_("说明"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        units = case_selectors.visible_units(user)
        cast(forms.ModelChoiceField, self.fields["unit"]).queryset = units
