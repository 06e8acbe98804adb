"""Forms of the people pages: they parse input; the rules (scope, roles, oneself) are the
services' (cases.people), whose refusals the views attach back here."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from reminders.models import UnitWebhook

from .forms import AutocompleteSelect
from .models import Unit, User
from .people import grantable_roles
from .people_selectors import manageable_units
from .workflow import Role


def _unit_field(user: Any, *, required: bool = True, label: Any = None) -> forms.ModelChoiceField:
    """A unit of the manager's subtree: the tom-select picker searching /autocomplete/units/
    (which a unit administrator sees as their subtree: cases.selectors.scope_root)."""
    return forms.ModelChoiceField(
        label=label or _("所属单位"),
        queryset=manageable_units(user),
        required=required,
        widget=AutocompleteSelect("cases:autocomplete-units", label_field="name"),
        error_messages={"invalid_choice": _("请选择您管理范围内的单位。")},
    )


class PersonFilterForm(forms.Form):
    q = forms.CharField(label=_("搜索"), required=False, max_length=100)
    role = forms.ChoiceField(label=_("角色"), required=False)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"] = _unit_field(user, required=False, label=_("单位（含下级）"))
        cast(forms.ChoiceField, self.fields["role"]).choices = [
            ("", _("全部")),
            *Role.choices,
            ("none", _("无角色")),
        ]


class PersonForm(forms.Form):
    """A new person (with `username`) or the edit of one (without)."""

    username = forms.CharField(label=_("用户名"), max_length=150)
    full_name = forms.CharField(label=_("姓名"), max_length=100)
    email = forms.EmailField(label=_("电子邮箱"), required=False)
    role = forms.ChoiceField(label=_("角色"))

    def __init__(self, *args: Any, user: Any, person: User | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"] = _unit_field(user)
        roles = [(role.value, role.label) for role in grantable_roles(user)]
        if person is not None:
            del self.fields["username"]
            self.fields["full_name"].required = False  # accounts made without a name
            if person.role and person.role not in {value for value, _label in roles}:
                # Shown as it is; keeping it is no grant (cases.people.person_update).
                roles.append((person.role, Role(person.role).label))
        cast(forms.ChoiceField, self.fields["role"]).choices = roles
        self.order_fields(["username", "full_name", "email", "unit", "role"])


class BotForm(forms.ModelForm):
    """A unit's group bot. On an edit the unit stays, and the address and the signing secret
    are never shown: left empty, they stay as they are."""

    class Meta:
        model = UnitWebhook
        fields = ["unit", "flavour", "url", "secret", "timeout_seconds", "max_attempts", "enabled"]
        widgets = {"secret": forms.PasswordInput(render_value=False)}

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"] = _unit_field(user, label=_("单位"))
        if self.instance.pk:
            self.fields["unit"].disabled = True
            unit = cast(forms.ModelChoiceField, self.fields["unit"])
            unit.queryset = Unit.objects.filter(pk=self.instance.unit_id)
            self._stored = (self.instance.url, self.instance.secret)
            self.fields["url"].required = False
            self.fields["url"].help_text = _("留空则保持原地址（地址含机器人密钥，不再显示）。")
            self.fields["secret"].help_text = _("留空则保持原密钥。")
            self.initial["url"] = ""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk:
            url, secret = self._stored
            if not data.get("url") and "url" not in self.errors:
                data["url"] = url
            if not data.get("secret"):
                data["secret"] = secret
        return data

    def validate_unique(self) -> None:
        # One bot a unit: the service says so in its own words (cases.people.bot_save).
        pass
