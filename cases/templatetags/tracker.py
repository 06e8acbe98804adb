from django import template

register = template.Library()


@register.filter
def percent(rate: float | None) -> str:
    """0.756 → "75.6%", 1.0 → "100%", None (nothing to divide) → "—"."""
    if rate is None:
        return "—"
    value = round(rate * 100, 1)
    return f"{value:g}%"
