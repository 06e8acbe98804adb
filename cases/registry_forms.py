"""Forms of the registration pages (立项登记): inspections, a problem with its items, rows
pasted from Excel. They parse and type-check; the rules are the services' (cases.organisation,
cases.registry, ledgers.pasting), whose refusals the views attach back here."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from ledgers.pasting import MAX_PASTE_CHARS

from . import selectors
from .forms import AutocompleteSelect, AutocompleteSelectMultiple, DateInput
from .models import Case, Inspection, Unit

UNIT_PICKER = {"url_name": "cases:autocomplete-units", "label_field": "name"}
RESPONSIBLE_PICKER = {**UNIT_PICKER, "query": "responsible=1"}
MAX_ITEMS = 200


def lines(text: str) -> list[str]:
    """A textarea of one entry per line, blank lines dropped."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class InspectionForm(forms.Form):
    name = forms.CharField(label=_("检查名称"), max_length=300)
    code = forms.CharField(
        label=_("检查编号"), max_length=32, required=False,
        help_text=_("不填则自动生成，如 JC2024-001。"),
    )  # fmt: skip
    kind = forms.ChoiceField(label=_("类型"))
    year = forms.IntegerField(label=_("年度"), min_value=2000, max_value=2100)
    supervising_unit = forms.ModelChoiceField(
        label=_("监督单位"), queryset=Unit.objects.none(), widget=AutocompleteSelect(**UNIT_PICKER)
    )
    inspected_units = forms.ModelMultipleChoiceField(
        label=_("被检查单位"), queryset=Unit.objects.none(), required=False,
        widget=AutocompleteSelectMultiple(**UNIT_PICKER),
    )  # fmt: skip
    round = forms.CharField(
        label=_("轮次"), max_length=50, required=False, help_text=_("如：第一轮、2024年第二轮。")
    )
    feedback_date = forms.DateField(label=_("反馈日期"), required=False, widget=DateInput)
    rectification_deadline = forms.DateField(
        label=_("整改期限"), required=False, widget=DateInput,
        help_text=_("整改期结束日期；新登记问题的整改时限默认为此日期。"),
    )  # fmt: skip
    requires_evidence = forms.BooleanField(
        label=_("销号须附佐证材料"), required=False,
        help_text=_("提请验收须上传佐证材料，销号时每个验收要点须填写验收说明。"),
    )  # fmt: skip
    max_extensions = forms.IntegerField(
        label=_("延期次数上限"), required=False, min_value=0, max_value=100,
        help_text=_("留空表示不限。"),
    )  # fmt: skip
    working_days = forms.BooleanField(
        label=_("按工作日计算时限"), required=False,
        help_text=_("红黄绿灯和逾期天数按法定工作日计算。"),
    )  # fmt: skip

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        units = selectors.visible_units(user)
        for name in ("supervising_unit", "inspected_units"):
            cast(forms.ModelChoiceField, self.fields[name]).queryset = units
        kinds = Inspection.Kind.choices
        if not (selectors.sees_everything(user) or selectors.is_commission_supervisor(user)):
            # A restricted ledger is the commission's alone (cases.organisation refuses it).
            kinds = [kind for kind in kinds if kind[0] != Inspection.Kind.CLUE_LEDGER]
        cast(forms.ChoiceField, self.fields["kind"]).choices = kinds


class CaseRowForm(forms.Form):
    """What a problem and each of its items have in common."""

    title = forms.CharField(label=_("标题"), max_length=300)
    responsible_unit = forms.ModelChoiceField(
        label=_("责任单位"), queryset=Unit.objects.none(),
        widget=AutocompleteSelect(**RESPONSIBLE_PICKER),
    )  # fmt: skip
    deadline = forms.DateField(label=_("整改时限"), required=False, widget=DateInput)
    checklist = forms.CharField(
        label=_("验收要点（每行一条）"), required=False, max_length=20000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        units = selectors.visible_units(user).filter(is_responsible_unit=True)
        cast(forms.ModelChoiceField, self.fields["responsible_unit"]).queryset = units

    def values(self) -> dict[str, Any]:
        """`case_create`'s arguments."""
        data = self.cleaned_data
        values = {key: data.get(key) for key in ("title", "responsible_unit", "deadline")}
        values["checklist"] = lines(data.get("checklist") or "")
        for key in ("description", "source", "is_key_problem", "not_for_publication"):
            if key in data:
                values[key] = data[key]
        return values


class ProblemForm(CaseRowForm):
    title = forms.CharField(label=_("问题标题"), max_length=300)
    description = forms.CharField(
        label=_("问题描述"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    source = forms.ChoiceField(
        label=_("问题来源"), choices=Case.Source.choices, initial=Case.Source.CITY_FEEDBACK
    )
    is_key_problem = forms.BooleanField(label=_("重点难点问题"), required=False)
    not_for_publication = forms.BooleanField(
        label=_("不宜公开"), required=False, help_text=_("勾选后，该问题及其事项不列入通报。")
    )
    field_order = ["title", "description", "responsible_unit", "deadline", "source",
                   "is_key_problem", "not_for_publication", "checklist"]  # fmt: skip


class ItemForm(CaseRowForm):
    """An item: its unit and deadline default to the problem's."""

    title = forms.CharField(label=_("事项"), max_length=300)
    responsible_unit = forms.ModelChoiceField(
        label=_("责任单位"), queryset=Unit.objects.none(), required=False,
        widget=AutocompleteSelect(**RESPONSIBLE_PICKER),
    )  # fmt: skip


ItemFormSet = forms.formset_factory(
    ItemForm, extra=3, max_num=MAX_ITEMS, validate_max=True, absolute_max=MAX_ITEMS
)


class PasteForm(forms.Form):
    text = forms.CharField(
        label=_("从 Excel 复制的表格"), max_length=MAX_PASTE_CHARS, strip=False,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "wrap": "off"}),
        help_text=_("在 Excel 中选中含表头的区域，复制后粘贴到此处。表头使用台账的列名"
                    "（问题编号、问题标题、责任单位、整改时限……）；不填“所属检查”即为本检查。"),
    )  # fmt: skip
