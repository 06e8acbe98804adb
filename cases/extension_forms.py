"""The forms of extension requests (延期申请) on the case page, and the page's part that shows
them (`extension_context`, called by `cases.views._case_context`)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy

from . import extensions
from .forms import DateInput
from .models import Case, ExtensionRequest


class ExtensionRequestForm(forms.Form):
    deadline = forms.DateField(label=gettext_lazy("申请延至"), widget=DateInput)
    reason = forms.CharField(
        label=gettext_lazy("申请理由"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class DecisionForm(forms.Form):
    approve = forms.TypedChoiceField(
        label=gettext_lazy("审批"),
        choices=[("1", gettext_lazy("同意")), ("0", gettext_lazy("不同意"))],
        coerce=lambda value: value == "1",
    )
    note = forms.CharField(
        label=gettext_lazy("审批意见"), required=False, max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip


def extension_context(
    user: Any, case: Case, requests: list[ExtensionRequest], given: dict[str, Any]
) -> dict[str, Any]:
    """The case page's part: the case's `requests` (labelled, `cases.case_page`), and the
    forms the user may use now."""
    pending = next((r for r in requests if r.status == ExtensionRequest.Status.PENDING), None)
    context: dict[str, Any] = {
        "extension_requests": requests,
        "pending_extension": pending,
        "max_extensions": case.inspection.max_extensions,
    }
    # A refused form comes back with its errors, even when it is no longer offered (a
    # request decided meanwhile, a duplicate): the template shows why.
    if "extension_form" in given or (pending is None and extensions.may_request(user, case)):
        context["extension_form"] = given.get("extension_form") or ExtensionRequestForm()
    if "decision_form" in given or (pending is not None and extensions.may_decide(user, case)):
        context["decision_form"] = given.get("decision_form") or DecisionForm()
    return context
