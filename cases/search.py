"""Text search over a case's code, title and description, and the pages of its results.

On PostgreSQL the match is a `LIKE` on `case_search_text(code, title, description)`, the
expression of the trigram index (migration cases 0006); elsewhere an `icontains` on each field.

A page of matches in the list's order (the deadline, say) is the hard part at scale. The
planner walks the order's index and filters as it goes, assuming matches are spread evenly;
but a term often belongs to one inspection ("营商环境" to the business-environment checks), so
its matches sit together in time and the walk can read half the table before the first one.
`Search.page` therefore never lets a walk run unbounded:

1. the paginator has already fetched up to `cap` + 1 matching ids, unordered (the cheapest
   plan: the trigram index). If that is all of them, the page is read by id;
2. otherwise it walks at most `WALK_ROWS` rows of the unsearched list in order and keeps the
   matches; a common term fills its page long before that;
3. if it does not, the matches are few or gathered elsewhere: they are read through the index
   and sorted (cost in proportion to the matches, never to the table).

Every path gives the same rows as the plain ordered query.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import FieldDoesNotExist
from django.db import connection
from django.db.models import Func, Q, QuerySet, TextField, Value
from django.db.models.functions import Upper

from .models import Case

# Rows the ordered walk may read before the matches are read through the index instead.
WALK_ROWS = 4_000

# Orderings the walk may follow: each has an index (alone or after the status filter).
WALKABLE = {"deadline", "updated_at", "code", "id"}


def search_text() -> Func:
    """The indexed expression (PostgreSQL)."""
    return Func("code", "title", "description", function="case_search_text",
                output_field=TextField())  # fmt: skip


def matching(queryset: QuerySet[Case], term: str) -> QuerySet[Case]:
    """The cases of `queryset` whose code, title or description contain `term`."""
    if connection.vendor == "postgresql":
        return queryset.alias(search_text=search_text()).filter(
            search_text__contains=Upper(Value(term))
        )
    return queryset.filter(
        Q(code__icontains=term) | Q(title__icontains=term) | Q(description__icontains=term)
    )


@dataclass
class Search:
    """A search within a filtered, ordered list (`base`)."""

    base: QuerySet[Case]
    term: str

    @property
    def matches(self) -> QuerySet[Case]:
        return matching(self.base, self.term)

    def page(self, bottom: int, top: int, all_ids: list[int] | None) -> list[Case]:
        """Rows `bottom`..`top` of the matches in the list's order. `all_ids`: every matching
        id, when the paginator's capped count found them all."""
        order = self._order()
        if all_ids is not None or order is None or connection.vendor != "postgresql":
            rows = self.base.filter(pk__in=all_ids) if all_ids is not None else self.matches
            return list(rows[bottom:top])
        ids = self._walk(order, top)
        if ids is None:
            ids = self._sorted_matches(order, top)
        return list(self.base.filter(pk__in=ids[bottom:top]))

    def _order(self) -> list[tuple[str, bool]] | None:
        """The list's order as (column, descending), if every key is a plain column."""
        query = self.base.query
        names = list(query.order_by) or list(Case._meta.ordering or [])
        order: list[tuple[str, bool]] = []
        for name in names:
            if not isinstance(name, str):
                return None
            descending = name.startswith("-")
            field = name.lstrip("-")
            if field == "pk":
                field = "id"
            try:
                column = str(Case._meta.get_field(field).column)  # type: ignore[union-attr]
            except FieldDoesNotExist:  # an annotation: no plain column
                return None
            order.append((column, descending))
        if not any(column == "id" for column, _ in order):
            order.append(("id", False))  # ties broken by id, as CaseFilter orders
        return order

    @staticmethod
    def _order_sql(order: list[tuple[str, bool]], alias: str) -> str:
        return ", ".join(f'{alias}."{column}"{" DESC" if desc else ""}' for column, desc in order)

    def _walk(self, order: list[tuple[str, bool]], top: int) -> list[int] | None:
        """The first `top` matches among the list's first `WALK_ROWS` rows, or None if there
        are fewer there."""
        if order[0][0] not in WALKABLE:
            return None
        columns = ["id", "code", "title", "description"]
        columns += [column for column, _ in order if column not in columns]
        window = self.base.order_by(
            *[f"{'-' if desc else ''}{column}" for column, desc in order]
        ).values_list(*columns)[:WALK_ROWS]
        sql, params = window.query.sql_with_params()
        # The outer ORDER BY restates the window's own: the planner sees its rows come sorted
        # and stops reading once `top` matches are found.
        with connection.cursor() as cursor:
            cursor.execute(
                # Compiled queryset SQL with its own params; columns named by the model.
                f"SELECT w.id FROM ({sql}) w WHERE {MATCH_SQL % ('w', 'w', 'w')} "  # noqa: S608
                f"ORDER BY {self._order_sql(order, 'w')} LIMIT %s",
                [*params, *match_params(self.term), top],
            )
            found = [row[0] for row in cursor.fetchall()]
        return found if len(found) >= top else None

    def _sorted_matches(self, order: list[tuple[str, bool]], top: int) -> list[int]:
        """The first `top` matches, read through the index and sorted."""
        columns = ["id"] + [column for column, _ in order if column != "id"]
        sql, params = self.matches.order_by().values_list(*columns).query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH m AS MATERIALIZED ({sql}) SELECT m.id FROM m "  # noqa: S608 (as above)
                f"ORDER BY {self._order_sql(order, 'm')} LIMIT %s",
                [*params, top],
            )
            return [row[0] for row in cursor.fetchall()]


# `matching` in SQL over a subquery's columns (alias substituted for %s): the same LIKE
# pattern Django builds for `contains`, wildcards in the term taken literally.
MATCH_SQL = (
    "case_search_text(%s.code, %s.title, %s.description) LIKE '%%%%' || "
    "replace(replace(replace(upper(%%s), %%s, %%s), %%s, %%s), %%s, %%s) || '%%%%'"
)


def match_params(term: str) -> list[str]:
    return [term, "\\", "\\\\", "%", "\\%", "_", "\\_"]
