"""HTML forms: they parse and type-check input for the pages; every rule lives in the
services, whose domain errors the views attach back to these forms."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any, cast

from django import forms
from django.db.models import Case as DbCase
from django.db.models import Expression, F, Value, When
from django.db.models.functions import Coalesce, NullIf
from django.forms.models import ModelChoiceIterator
from django.forms.utils import flatatt
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import rules, selectors
from .completion import as_of_problem
from .errors import DomainError
from .models import Case, Inspection, Unit, User
from .workflow import moves_for


def render_options(options: Iterable[tuple[Any, bool, Any]]) -> SafeString:
    """<option>s from (value, selected, label), escaped, rendered in Python: a province's
    thousand units through the template engine (or `format_html` per option) cost tens of
    milliseconds a page."""
    return mark_safe(  # noqa: S308 (every value and label escaped here)
        "".join(
            f'<option value="{_escape(value)}"{" selected" if selected else ""}>'
            f"{_escape(label)}</option>"
            for value, selected, label in options
        )
    )


def _escape(text: Any) -> str:
    """`conditional_escape`, without its per-call overhead on thousands of options."""
    return text.__html__() if hasattr(text, "__html__") else html.escape(str(text))


class FastSelect(forms.Select):
    """A select whose options are rendered in Python (`render_options`), not through Django's
    per-option widget templates. Of a model choice field, `label_field` (the field, or an
    expression, giving what its objects' `str` shows) is read with `values_list`: no model
    object per option."""

    def __init__(
        self, *args: Any, label_field: str | Expression | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.label_field = label_field

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> SafeString:
        chosen = set(self.format_value(value))  # as Select marks them: None is ""
        options = render_options(
            ("" if v is None else v, str(v) in chosen, label) for v, label in self.rows(chosen)
        )
        final_attrs = self.build_attrs(self.attrs, attrs)
        return format_html('<select name="{}"{}>{}</select>', name, flatatt(final_attrs), options)

    def rows(self, chosen: set[str]) -> Iterable[tuple[Any, Any]]:
        """(value, label) of every option."""
        if self.label_field is not None and isinstance(self.choices, ModelChoiceIterator):
            field = self.choices.field
            empty = [("", field.empty_label)] if field.empty_label is not None else []
            return [*empty, *labelled(field.queryset, self.label_field)]
        return [  # option groups flattened: their options, without the group
            option
            for v, label in self.choices
            for option in (label if isinstance(label, list | tuple) else [(v, label)])
        ]


def labelled(queryset: Any, label_field: str | Expression) -> Any:
    """(pk, label) rows of `queryset`, the label read in SQL (`label_field`)."""
    label = F(label_field) if isinstance(label_field, str) else label_field
    return queryset.annotate(option_label=label).values_list("pk", "option_label")


# What a user's picker shows: User.__str__, in SQL.
USER_LABEL = Coalesce(NullIf("full_name", Value("")), "username")
# Without JavaScript a picker offers this many options (the field's queryset in its order),
# plus the chosen one; with it, tom-select searches the whole scope on the server.
NOSCRIPT_OPTIONS = 100


def picker_rows(queryset: Any, chosen: Iterable[Any], label_field: str | Expression) -> list:
    """(pk, label) rows for a picker, in one query: the chosen ones that are in `queryset` (an
    id out of scope shows nothing), then the first NOSCRIPT_OPTIONS of the others."""
    chosen_ids = {int(v) for v in chosen if str(v).isdigit()}
    if not chosen_ids:
        return list(labelled(queryset, label_field)[:NOSCRIPT_OPTIONS])
    order = list(queryset.query.order_by or queryset.model._meta.ordering)
    first = When(pk__in=chosen_ids, then=Value(0))
    rows = queryset.alias(chosen_first=DbCase(first, default=Value(1))).order_by(
        "chosen_first", *order
    )
    return list(labelled(rows, label_field)[: NOSCRIPT_OPTIONS + len(chosen_ids)])


class AutocompleteSelect(FastSelect):
    """The picker of a model choice field with thousands of options (units, people): a plain
    <select> of `picker_rows` that static/js/autocomplete.js turns into a tom-select searching
    `url_name` (cases.autocomplete) as the user types. The field still checks the posted id
    against its own scoped queryset: an id out of scope is a form error."""

    def __init__(
        self,
        url_name: str,
        *,
        label_field: str | Expression,
        query: str = "",
        unit_from: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(label_field=label_field, **kwargs)
        self.picker_label = label_field
        self.url_name, self.query, self.unit_from = url_name, query, unit_from

    def build_attrs(self, base_attrs: Any, extra_attrs: Any = None) -> dict[str, Any]:
        attrs = super().build_attrs(base_attrs, extra_attrs)
        url = reverse(self.url_name)
        attrs["data-autocomplete"] = f"{url}?{self.query}" if self.query else url
        attrs["data-autocomplete-empty"] = gettext("没有匹配的选项")
        attrs["data-autocomplete-placeholder"] = gettext("输入名称搜索")
        if self.unit_from:  # the people of the unit chosen in that field
            attrs["data-autocomplete-unit"] = self.unit_from
        return attrs

    def rows(self, chosen: set[str]) -> Iterable[tuple[Any, Any]]:
        field = self.choices.field  # type: ignore[attr-defined]
        empty = [("", field.empty_label)] if field.empty_label is not None else []
        return [*empty, *picker_rows(field.queryset, chosen, self.picker_label)]


class AutocompleteSelectMultiple(AutocompleteSelect):
    """`AutocompleteSelect` for a multiple choice field (tom-select with remove buttons)."""

    allow_multiple_selected = True

    def build_attrs(self, base_attrs: Any, extra_attrs: Any = None) -> dict[str, Any]:
        return {**super().build_attrs(base_attrs, extra_attrs), "multiple": True}

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        return forms.SelectMultiple().value_from_datadict(data, files, name)

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False  # an empty multiple select sends nothing at all


class DateInput(forms.DateInput):
    input_type = "date"


def attach_error(form: forms.BaseForm, error: DomainError) -> None:
    """Show a service's refusal on the form: on the fields it names, else on the whole form."""
    placed = False
    for field, messages in error.fields.items():
        if field in form.fields:
            for message in messages:
                form.add_error(field, message or error.message)
            placed = True
    if not placed:
        form.add_error(None, error.message)


class WorkflowForm(forms.Form):
    """One form for every move the user may make now: `to`, `note`, `evidence`, `confirm`, and
    a verifier's note per checklist point (`point_note_<id>`).

    `to` accepts every move of the user's role, so that a move the commission's rules refuse
    (cases.rules) reaches the service and is refused in its words; the page offers only
    `offered`, and shows `refused` (why the others are not offered)."""

    to = forms.ChoiceField(label=_("操作"))
    note = forms.CharField(
        label=_("说明或理由"), required=False, max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )  # fmt: skip
    evidence = forms.FileField(label=_("佐证材料"), required=False)
    confirm = forms.TypedMultipleChoiceField(
        label=_("验收要点（销号时须全部确认）"), required=False, coerce=int,
        widget=forms.CheckboxSelectMultiple,
    )  # fmt: skip

    def __init__(self, *args: Any, case: Case, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.moves = moves_for(case.status, selectors.user_role(user))
        cast(forms.ChoiceField, self.fields["to"]).choices = [
            (move.target, move.label) for move in self.moves
        ]
        offered, self.refused = rules.offered_moves(user, case)
        self.offered = [(move.target, move.label) for move in offered]
        open_points = [point for point in case.checklist.all() if not point.confirmed]
        cast(forms.ChoiceField, self.fields["confirm"]).choices = [
            (point.pk, point.text) for point in open_points
        ]
        self.points = []
        for point in open_points:
            name = f"point_note_{point.pk}"
            self.fields[name] = forms.CharField(
                label=_("验收说明"), required=False, max_length=rules.NOTE_MAX_CHARS
            )
            self.points.append((point, self[name]))
        self.verifying = any(move.verifies for move in offered)
        self.notes_required = bool(case.inspection.requires_evidence)

    def notes(self) -> dict[int, str]:
        """The verifier's notes, by point id (after `is_valid`)."""
        return {
            point.pk: self.cleaned_data.get(f"point_note_{point.pk}") or ""
            for point, _field in self.points
        }


class RectificationForm(forms.ModelForm):
    class Meta:
        model = Case
        fields = ["measures", "progress"]
        widgets = {
            "measures": forms.Textarea(attrs={"rows": 3}),
            "progress": forms.Textarea(attrs={"rows": 3}),
        }


class DeadlineForm(forms.Form):
    deadline = forms.DateField(label=_("新的整改时限"), widget=DateInput)
    reason = forms.CharField(label=_("延期理由"), max_length=2000)


class AssignForm(forms.Form):
    responsible_unit = forms.ModelChoiceField(
        label=_("责任单位"),
        queryset=Unit.objects.none(),
        widget=AutocompleteSelect(
            "cases:autocomplete-units", label_field="name", query="responsible=1"
        ),
    )
    owner = forms.ModelChoiceField(
        label=_("责任人"), queryset=User.objects.none(), required=False,
        widget=AutocompleteSelect("cases:autocomplete-users", label_field=USER_LABEL,
                                  unit_from="id_responsible_unit"),
    )  # fmt: skip
    note = forms.CharField(label=_("说明"), required=False, max_length=2000)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(
            forms.ModelChoiceField, self.fields["responsible_unit"]
        ).queryset = selectors.visible_units(user).filter(is_responsible_unit=True)
        cast(forms.ModelChoiceField, self.fields["owner"]).queryset = selectors.visible_users(
            user
        ).select_related("unit")


class FollowUpForm(forms.Form):
    note = forms.CharField(
        label=_("督办意见"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class EvidenceForm(forms.Form):
    evidence = forms.FileField(label=_("佐证材料"))
    note = forms.CharField(label=_("说明"), required=False, max_length=2000)


class BulkForm(forms.Form):
    """Supervisors' actions on the cases selected in the list."""

    ACTIONS = [
        ("extend", _("批量延期")),
        ("assign", _("批量调整责任单位")),
        ("follow_up", _("批量督办")),
        ("close", _("批量验收销号")),
    ]
    action = forms.ChoiceField(label=_("批量操作"), choices=ACTIONS)
    cases = forms.TypedMultipleChoiceField(label=_("选中的问题"), coerce=int)
    deadline = forms.DateField(label=_("新的整改时限"), required=False, widget=DateInput)
    responsible_unit = forms.ModelChoiceField(
        label=_("责任单位"),
        queryset=Unit.objects.none(),
        required=False,
        widget=AutocompleteSelect(
            "cases:autocomplete-units", label_field="name", query="responsible=1"
        ),
    )
    note = forms.CharField(label=_("理由或意见"), required=False, max_length=2000)

    def __init__(self, *args: Any, user: Any, case_ids: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["cases"]).choices = [(pk, pk) for pk in case_ids]
        cast(
            forms.ModelChoiceField, self.fields["responsible_unit"]
        ).queryset = selectors.visible_units(user).filter(is_responsible_unit=True)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action == "extend" and not data.get("deadline"):
            self.add_error("deadline", _("请选择新的整改时限。"))
        if action == "assign" and not data.get("responsible_unit"):
            self.add_error("responsible_unit", _("请选择责任单位。"))
        if action in ("extend", "follow_up") and not (data.get("note") or "").strip():
            self.add_error("note", _("请填写理由或督办意见。"))
        return data


class DashboardForm(forms.Form):
    """The dashboard's and the report's filters; bad values are form errors, not crashes."""

    inspection = forms.ModelChoiceField(
        label=_("检查/台账"), queryset=Inspection.objects.none(), required=False,
        empty_label=_("全部"), widget=FastSelect(label_field="name"),
    )  # fmt: skip
    region = forms.ModelChoiceField(
        label=_("区县"), queryset=Unit.objects.none(), required=False, empty_label=_("全部"),
        widget=FastSelect(label_field="name"),
    )  # fmt: skip
    level = forms.ChoiceField(
        label=_("统计口径"), required=False,
        choices=[("problem", _("按问题")), ("item", _("按事项"))],
    )  # fmt: skip
    as_of = forms.DateField(label=_("截至日期"), required=False, widget=DateInput)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(
            forms.ModelChoiceField, self.fields["inspection"]
        ).queryset = selectors.visible_inspections(user).order_by("-year", "code")
        cast(forms.ModelChoiceField, self.fields["region"]).queryset = selectors.visible_units(
            user
        ).filter(level=Unit.Level.COUNTY)

    def clean_as_of(self) -> Any:
        as_of = self.cleaned_data.get("as_of")
        problem = as_of_problem(as_of)
        if problem:
            raise forms.ValidationError(problem)
        return as_of


class ReportForm(DashboardForm):
    since = forms.DateField(label=_("变化起始日期"), required=False, widget=DateInput)


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("名称"),
        max_length=50,
        help_text=_("例如使用该令牌的程序：省级平台、大屏、报表生成。"),
    )


class GrantForm(forms.Form):
    """A commission grants one of its restricted ledgers to a unit of its jurisdiction."""

    inspection = forms.ModelChoiceField(
        label=_("限定台账"), queryset=Inspection.objects.none(),
        widget=FastSelect(label_field="name"),
    )  # fmt: skip
    unit = forms.ModelChoiceField(
        label=_("授权单位"), queryset=Unit.objects.none(),
        widget=AutocompleteSelect("cases:autocomplete-units", label_field="name"),
    )  # fmt: skip
    reason = forms.CharField(
        label=_("授权理由"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(
            forms.ModelChoiceField, self.fields["inspection"]
        ).queryset = selectors.grantable_inspections(user).order_by("-year", "code")
        cast(forms.ModelChoiceField, self.fields["unit"]).queryset = selectors.visible_units(user)


class CheckPointForm(forms.Form):
    """Adding or rewording a verification point on the case page (cases.checklist)."""

    text = forms.CharField(label=_("验收要点"), max_length=300)


class RevokeForm(forms.Form):
    reason = forms.CharField(label=_("撤销理由"), required=False, max_length=2000)
