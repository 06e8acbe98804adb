"""The case page's follow-up replies (回复督办): a form under each follow-up, for the unit's
people. The page itself (who read each follow-up, the replies) is built by
cases.views._case_context from cases.follow_ups.case_follow_ups."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from . import follow_ups
from .errors import DomainError, NotFound
from .forms import attach_error
from .views import _after_write, _case_or_404, _refused


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
    """A follow-up that is not this case's answers as a missing one (404), like the case; any
    other refusal is the form's error."""
    case = _case_or_404(request.user, case_id)
    form = ReplyForm(request.POST, follow_up_id=event_id)
    if form.is_valid():
        try:
            follow_ups.follow_up_reply(
                actor=request.user, case_id=case.pk, follow_up_id=event_id,
                note=form.cleaned_data["note"],
            )  # fmt: skip
        except NotFound as error:
            raise Http404(error.message) from None
        except DomainError as error:
            attach_error(form, error)
        else:
            return _after_write(request, case.pk, _("已回复督办。"))
    return _refused(request, case.pk, "reply_form", form)
