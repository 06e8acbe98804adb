"""The drafted text: a commission's template (Django template language) rendered with the
figures of `documents.figures`, then read as paragraphs and headings.

The templates run in an engine of their own: no template loaders (nothing to include or
extend), no tag libraries to load, no autoescaping (the text goes into a .docx, which python-docx
escapes). The context holds only plain values already scoped to the downloading user, so a
changed template can reword the document but never reach another row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.template import Context, Engine, Library, defaultfilters, defaulttags
from django.utils.translation import gettext as _

from cases.errors import InvalidInput

logger = logging.getLogger(__name__)

DRAFTS = Path(__file__).resolve().parent / "drafts"
# Shipped titles: the template a commission has not changed yet.
DEFAULT_TITLES = {
    "progress": "{{ issuer }}关于{{ scope_name }}整改进展情况的报告",
    "notice": "{{ issuer }}关于{{ scope_name }}整改情况的通报",
}
MAX_TEMPLATE_CHARS = 20000
MAX_RENDERED_CHARS = 200_000  # a loop gone wrong makes an error, not a 10,000-page draft

HEADING_1 = "# "
HEADING_2 = "## "


@dataclass(frozen=True)
class Paragraph:
    text: str
    level: int = 0  # 0: body text; 1 and 2: headings (黑体, 楷体)


# The tags a drafting template may use: wording and loops. Not {% debug %} (it prints the
# server's modules), {% load %}, {% include %}, {% extends %}, {% url %} or {% csrf_token %}.
ALLOWED_TAGS = {
    "if",
    "for",
    "with",
    "comment",
    "cycle",
    "resetcycle",
    "firstof",
    "spaceless",
    "templatetag",
    "widthratio",
    "ifchanged",
    "filter",
    "now",
    "regroup",
    "verbatim",
}


@cache
def engine() -> Engine:
    drafting = Engine(dirs=[], app_dirs=False, loaders=[], libraries={}, autoescape=False)
    library = Library()
    library.tags = {n: t for n, t in defaulttags.register.tags.items() if n in ALLOWED_TAGS}
    library.filters = dict(defaultfilters.register.filters)
    drafting.template_builtins = [library]
    return drafting


def default_body(kind: str) -> str:
    return (DRAFTS / f"{kind}.txt").read_text(encoding="utf-8")


def render(text: str, context: dict[str, Any]) -> str:
    """`text` rendered with `context`; InvalidInput for a template that does not compile or
    does not render (the message says where)."""
    try:
        template = engine().from_string(text)
        rendered = template.render(Context(context, autoescape=False))
    except Exception as error:  # TemplateSyntaxError, and anything a filter raises
        message = _("模板有误：%(error)s") % {"error": str(error)[:300]}
        raise InvalidInput(message, fields={"body": [message]}) from None
    if len(rendered) > MAX_RENDERED_CHARS:
        message = _("模板生成的正文过长（超过 %(max)s 字），请检查循环。") % {
            "max": MAX_RENDERED_CHARS
        }
        raise InvalidInput(message, fields={"body": [message]})
    return rendered


def paragraphs(rendered: str) -> list[Paragraph]:
    """Each non-empty line a paragraph; "# " and "## " mark the two heading levels."""
    found = []
    for line in rendered.splitlines():
        text = line.strip()
        if not text:
            continue
        if text.startswith(HEADING_2):
            found.append(Paragraph(text[len(HEADING_2) :].strip(), 2))
        elif text.startswith(HEADING_1):
            found.append(Paragraph(text[len(HEADING_1) :].strip(), 1))
        else:
            found.append(Paragraph(text))
    return found


def single_line(text: str) -> str:
    return " ".join(text.split())


def check_template(*, title: str, body: str) -> None:
    """Refuse a template that does not compile, or fails on figures of every shape (none at
    all, and some of everything): InvalidInput naming the field."""
    for field, text, limit in (("title", title, 300), ("body", body, MAX_TEMPLATE_CHARS)):
        if not text.strip():
            message = _("请填写模板内容。")
            raise InvalidInput(message, fields={field: [message]})
        if len(text) > limit:
            message = _("模板不能超过 %(max)s 个字符。") % {"max": limit}
            raise InvalidInput(message, fields={field: [message]})
        for sample in (SAMPLE, EMPTY_SAMPLE):
            try:
                render(text, sample)
            except InvalidInput as error:
                raise InvalidInput(error.message, fields={field: [error.message]}) from None


def _group(**values: Any) -> dict[str, Any]:
    return {
        "source": "省级反馈",
        "total": 58,
        "completed": 56,
        "exempted": 2,
        "open": 0,
        "escalated": 0,
        "all_done": True,
        "methods": "新设窗口18项",
        **values,
    }


# Figures of the shape documents.figures gives, for checking a changed template.
SAMPLE: dict[str, Any] = {
    "notice": False,
    "issuer": "某市纪委监委",
    "jurisdiction": "某市",
    "scope_name": "某市",
    "as_of": "2024年6月30日",
    "level": "问题",
    "total": {"total": 10, "done": 8, "rate": "80%", "on_time_rate": "75%", "overdue": 1},
    "inspections": [
        {
            "number": 1,
            "cn_number": "一",
            "name": "某专项检查",
            "total": 10,
            "done": 8,
            "rate": "80%",
            "on_time_rate": "75%",
            "overdue": 1,
            "item_groups": [_group(), _group(source="自查发现", all_done=False, open=3)],
        },
    ],
    "overdue": [
        {"code": "A-1", "title": "某问题", "unit": "某局", "deadline": "2024年6月1日", "days": 29}
    ],
    "overdue_more": 0,
    "overdue_units": "某局",
    "escalated": [{"code": "A-2", "title": "某问题", "unit": "某局", "deadline": "2024年9月1日"}],
    "restricted": {"total": 5, "done": 2, "rate": "40%"},
    "lookback": {"rechecked": 4, "failed": 1, "failure_rate": "25%", "accountability": 2},
}
EMPTY_SAMPLE: dict[str, Any] = {
    **SAMPLE,
    "total": {"total": 0, "done": 0, "rate": "0%", "on_time_rate": "", "overdue": 0},
    "inspections": [],
    "overdue": [],
    "overdue_units": "",
    "escalated": [],
    "restricted": None,
    "lookback": {"rechecked": 0, "failed": 0, "failure_rate": "—", "accountability": None},
}
