import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django import template
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import reverse
from django.utils.dateformat import format as format_date
from django.utils.formats import localize
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, gettext_noop, ngettext

from cases.forms import render_options

register = template.Library()


@register.filter
def percent(rate: float | None) -> str:
    """0.756 → "75.6%", 1.0 → "100%", None (nothing to divide) → "—"."""
    if rate is None:
        return "—"
    value = round(rate * 100, 1)
    return f"{value:g}%"


# What each chart of static/js/dashboard.js reads: the tables beside the charts carry the rest,
# so the page does not ship every figure twice.
_CHART_ROW = ("name", "rate", "done", "total", "url")
_CHART_SERIES = {
    "by_inspection": _CHART_ROW,
    "by_region": _CHART_ROW,
    "statuses": ("name", "count", "url"),
    "trend": ("day", "rate"),
}


def _pick(rows: Iterable[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{key: row[key] for key in keys} for row in rows]


@register.simple_tag
def chart_figures(figures: dict[str, Any], element_id: str) -> SafeString:
    """The dashboard's figures as its charts read them, in a JSON block: what
    `json_script` writes, escaped by str.replace rather than its per-character translate."""
    data: dict[str, Any] = {name: _pick(figures[name], k) for name, k in _CHART_SERIES.items()}
    data["units"] = {"rows": _pick(figures["units"]["rows"], _CHART_ROW)}
    text = json.dumps(data, cls=DjangoJSONEncoder)
    for char, escaped in (("<", "\\u003C"), (">", "\\u003E"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return format_html('<script id="{}" type="application/json">{}</script>', element_id,
                       mark_safe(text))  # noqa: S308 (no <, > or & is left in it)  # fmt: skip


def _number(value: int) -> Any:
    # What {{ value }} prints, without the per-value format lookups where nothing is grouped.
    return localize(value) if settings.USE_THOUSAND_SEPARATOR else value


_RATE_ROW = (
    '<tr><td data-label="{0}">{start}{name}</td>'
    '\n        <td data-label="{1}">{total}</td><td data-label="{2}">{done}</td>'
    '\n        <td data-label="{3}">{rate}</td>\n        <td data-label="{4}">{on_time}</td>'
    '\n        <td data-label="{5}">{red}</td>\n        <td data-label="{6}">{yellow}</td></tr>'
)
_RATE_LABELS = ("名称", "问题数", "已完成", "完成率", "按期完成率", "红灯（逾期）", "黄灯（临期）")


@register.simple_tag
def rate_rows(rows: list[dict[str, Any]], start: int | None = None) -> SafeString:
    """The <tr>s of a completion table (cases/_rate_table.html): a few hundred rows a page,
    built here rather than by a template loop of a dozen lookups and filters a row. Names,
    addresses and labels are escaped; the rest are numbers."""
    labels = [escape(gettext(label)) for label in _RATE_LABELS]
    return mark_safe("\n".join(  # noqa: S308 (every text above is escaped)
        _RATE_ROW.format(
            *labels,
            start=f'<span class="muted">{n + start}.</span> ' if start else "",
            name=f'<a href="{escape(row["url"])}">{escape(row["name"])}</a>' if row["url"]
            else escape(row["name"]),
            total=_number(row["total"]), done=_number(row["done"]),
            rate=percent(row["rate"]), on_time=percent(row["on_time_rate"]),
            red=_number(row["overdue"]), yellow=_number(row["yellow"]),
        )
        for n, row in enumerate(rows)
    ))  # fmt: skip


_CASE_ROW = (
    '\n    <tr><td data-label="{0}"><a href="{url}">{title}</a>'
    ' <span class="code">{code}</span></td>'
    '\n        <td data-label="{1}">{unit}</td>'
    '\n        <td data-label="{2}">{deadline}</td>'
    '\n        <td data-label="{3}">{last}</td></tr>\n  '
)
_CASE_LABELS = ("问题", "责任单位", "整改时限")


def _days_overdue(case: Any) -> str:
    """What {% blocktranslate count %} wrote: the translation as it is, the number escaped."""
    days = case.days_overdue
    if case.inspection.working_days:
        text = ngettext("%(days)s 个工作日", "%(days)s 个工作日", days)
    else:
        text = ngettext("%(days)s 天", "%(days)s 天", days)
    return f'<span class="light light-red">{text % {"days": escape(_number(days))}}</span>'


@register.simple_tag
def case_rows(cases: Iterable[Any], show_overdue: bool = False) -> SafeString:
    """The <tr>s of a case table (cases/_case_table.html): the dashboard's and the report's
    lists, built here rather than by a template loop of a dozen translations, an address and
    a date filter a row. `show_overdue`: days overdue (`dashboard.overdue_cases`' cases) in
    the last column, else the status. Texts are escaped; the days are a number."""
    last = "逾期天数" if show_overdue else "状态"
    labels = [escape(gettext(label)) for label in (*_CASE_LABELS, last)]
    return mark_safe("".join(  # noqa: S308 (every text above is escaped)
        _CASE_ROW.format(
            *labels,
            url=escape(reverse("cases:detail", args=[case.pk])),
            title=escape(case.title), code=escape(case.code),
            unit=escape(case.responsible_unit.name),
            deadline="" if case.deadline is None else format_date(case.deadline, "Y-m-d"),
            last=_days_overdue(case) if show_overdue else escape(case.get_status_display()),
        )
        for case in cases
    ))  # fmt: skip


_LIGHTS = {
    # light: (title, text); the rule that gives the light is cases.lights.
    "red": (gettext_noop("红灯：已逾期"), gettext_noop("逾期")),
    "yellow": (gettext_noop("黄灯：临近时限"), gettext_noop("临期")),
    "green": (gettext_noop("绿灯：正常"), gettext_noop("正常")),
}


@register.simple_tag
def light_badge(light: str) -> SafeString:
    """A case's red, yellow or green light as the pages show it (cases/_light.html)."""
    title, text = _LIGHTS.get(light, _LIGHTS["green"])
    return format_html(
        '<span class="light light-{}" title="{}">{}</span>', light, gettext(title), gettext(text)
    )


_LIST_ROW = (
    '\n      <tr>\n        {select}<td data-label="{0}">{light}</td>'
    '\n        <td data-label="{1}" class="code">{code}</td>'
    '\n        <td data-label="{2}"><a href="{url}">{title}</a>{key}'
    '<div class="muted">{inspection}</div></td>'
    '\n        <td data-label="{3}">{unit}</td>'
    '\n        <td data-label="{4}">{deadline}{extensions}</td>'
    '\n        <td data-label="{5}"><span class="status status-{status}">{status_name}</span></td>'
    '\n        <td data-label="{6}">{items}</td>\n      </tr>\n    '
)
_LIST_LABELS = ("灯", "编号", "问题", "责任单位", "整改时限", "状态", "事项进度")


def _list_row(
    case: Any, labels: Sequence[str], key_tag: str, may_bulk: bool, badges: Mapping[str, str]
) -> str:
    select = ""
    if may_bulk:
        label = escape(gettext("选择 %(code)s") % {"code": case.code})
        select = (
            f'<td class="select"><input type="checkbox" name="cases" value="{case.pk}" '
            f'aria-label="{label}"></td>'
        )
    extensions = ""
    if case.extensions:
        text = ngettext("已延期 %(count)s 次", "已延期 %(count)s 次", case.extensions)
        extensions = (
            f' <span class="muted extensions">{text % {"count": _number(case.extensions)}}</span>'
        )
    items = "—"
    if case.items_total:
        items = (
            f'<span class="progress">{_number(case.items_done)}/{_number(case.items_total)}</span>'
        )
    return _LIST_ROW.format(
        *labels,
        select=select,
        light=badges.get(light := case.light()) or light_badge(light),
        code=escape(case.code),
        url=escape(reverse("cases:detail", args=[case.pk])),
        title=escape(case.title),
        key=key_tag if case.is_key_problem else "",
        inspection=escape(case.inspection.name),
        unit=escape(case.responsible_unit.name),
        deadline=case.deadline.isoformat(),  # Y-m-d
        extensions=extensions,
        status=escape(case.status),
        status_name=escape(case.get_status_display()),
        items=items,
    )


@register.simple_tag
def case_list_rows(cases: Iterable[Any], may_bulk: bool = False) -> SafeString:
    """The <tr>s of the case list (cases/_results.html), a page of up to a hundred rows: built
    here, as `case_rows` builds the dashboard's, rather than by a template loop of an include,
    a dozen lookups and translations a row. Every text is escaped; the rest are numbers."""
    labels = [escape(gettext(label)) for label in _LIST_LABELS]
    key_tag = f' <span class="tag">{escape(gettext("重点难点"))}</span>'
    badges = {light: light_badge(light) for light in _LIGHTS}
    return mark_safe(  # noqa: S308 (every text is escaped)
        "".join(_list_row(case, labels, key_tag, may_bulk, badges) for case in cases)
    )


@register.simple_tag
def options(items: Iterable[tuple[Any, Any]], selected: Any = "") -> str:
    """The <option>s of (pk, name) rows of units or inspections, `selected` marked."""
    chosen = str(selected or "")
    return render_options((pk, str(pk) == chosen, name) for pk, name in items)
