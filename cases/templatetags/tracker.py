from collections.abc import Iterable
from typing import Any

from django import template

from cases.forms import render_options

register = template.Library()


@register.filter
def percent(rate: float | None) -> str:
    """0.756 → "75.6%", 1.0 → "100%", None (nothing to divide) → "—"."""
    if rate is None:
        return "—"
    value = round(rate * 100, 1)
    return f"{value:g}%"


@register.simple_tag
def options(items: Iterable[tuple[Any, Any]], selected: Any = "") -> str:
    """The <option>s of (pk, name) rows of units or inspections, `selected` marked."""
    chosen = str(selected or "")
    return render_options((pk, str(pk) == chosen, name) for pk, name in items)
