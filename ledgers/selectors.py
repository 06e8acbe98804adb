"""Reads for ledgers: the cases of an export and a user's own jobs.

The cases come from `cases.selectors.case_list` narrowed by `CaseFilter`, exactly as on the
case list page and the API's case list: an export holds the rows the user was looking at.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import QueryDict
from django.utils.translation import gettext as _

from cases import selectors as case_selectors
from cases.errors import InvalidInput, NotFound
from cases.filters import CaseFilter
from cases.models import Case, Evidence

from .models import ExportJob, ImportJob, Job

# The case list's default order (cases.views.case_list), with the id to make it total.
DEFAULT_ORDERING = "deadline"

J = TypeVar("J", bound=Job)


def filtered_cases(user: Any, params: QueryDict) -> QuerySet[Case]:
    """The case list for `user` with the list's filters and ordering from `params`; invalid
    filters raise InvalidInput (the list shows the same errors)."""
    params = params.copy()
    if not params.get("ordering"):
        params["ordering"] = DEFAULT_ORDERING
    case_filter = CaseFilter(params, queryset=case_selectors.case_list(user))
    if not case_filter.is_valid():
        fields = {name: [str(e) for e in errors] for name, errors in case_filter.errors.items()}
        message = _("筛选条件有误：%(errors)s") % {
            "errors": "；".join(f"{name}：{' '.join(errors)}" for name, errors in fields.items())
        }
        raise InvalidInput(message, fields=fields)
    return case_filter.qs  # ordered totally: CaseFilter breaks ties by id


def ledger_cases(user: Any, params: QueryDict) -> QuerySet[Case]:
    """`filtered_cases` with what a ledger row shows beyond the list: the evidence count (one
    subquery per row, served by the evidence table's case index, never a query per row) and
    the parent problem's code."""
    evidence = (
        Evidence.objects.filter(case=OuterRef("pk"))
        .order_by()
        .values("case")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return filtered_cases(user, params).annotate(
        evidence_count=Coalesce(Subquery(evidence, output_field=IntegerField()), Value(0)),
        parent_code=F("parent__code"),
    )


def _own(model: type[J], user: Any, job_id: Any, defer: tuple[str, ...] = ()) -> J:
    """A job of the user's; anyone else's (or none) is "not found", so ids reveal nothing."""
    try:
        jobs = model._default_manager.defer(*defer)
        return jobs.get(pk=job_id, owner_id=getattr(user, "pk", None))
    except (model.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("未找到该任务，或您无权查看。")) from None


def export_job_get(user: Any, job_id: Any) -> ExportJob:
    return _own(ExportJob, user, job_id)


def import_job_get(user: Any, job_id: Any) -> ImportJob:
    # The file's cells and the list of changes can be megabytes: loaded only when shown, not
    # on every poll of a running job's progress.
    return _own(ImportJob, user, job_id, defer=("rows", "changes"))
