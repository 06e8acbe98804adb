"""The case page's follow-up replies (回复督办): a form under each follow-up, for the unit's
people. The page itself (who read each follow-up, the replies) is built by
cases.views._case_context from cases.follow_ups.case_follow_ups."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from . import follow_ups
from .views import _case_or_404, _submit


class ReplyForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("回复内容"),
        max_length=follow_ups.NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: object, follow_up_id: int | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.follow_up_id = follow_up_id  # the follow-up whose form shows the errors


@login_required
@require_POST
def follow_up_reply(request: HttpRequest, case_id: int, event_id: int) -> HttpResponse:
    case = _case_or_404(request.user, case_id)
    form = ReplyForm(request.POST, follow_up_id=event_id)
    return _submit(request, case, "reply_form", form, _("已回复督办。"), lambda data: (
        follow_ups.follow_up_reply(
            actor=request.user, case_id=case.pk, follow_up_id=event_id, note=data["note"]
        )
    ))  # fmt: skip
