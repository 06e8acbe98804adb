"""`get_<field>_display` for choice fields read on every row of a list.

Django's own builds a dict of all the field's choices on every call, hashing each lazily
translated label (one gettext a choice, a call): on a 50-case page the status, source and
method labels cost more than the rest of the row. This one builds the dict once, of the lazy
labels themselves, and translates only the label it returns: the same text, in the language
active at the call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.encoding import force_str


def display_of(name: str) -> Callable[[Any], Any]:
    """The method `get_<name>_display` for the choice field `name` (assign it in the model's
    body: Django then keeps it)."""
    labels: dict[Any, Any] = {}

    def display(self: Any) -> Any:
        if not labels:
            labels.update(self._meta.get_field(name).flatchoices)
        value = getattr(self, name)
        return force_str(labels.get(value, value), strings_only=True)

    display.__name__ = display.__qualname__ = f"get_{name}_display"
    return display
