"""Text search over a case's code, title and description, and the pages of its results.

On PostgreSQL the match is a `LIKE` on `case_search_text(code, title, description)` (migration
cases 0006), found through the index of cases 0021: the pairs of adjacent characters of the
title and description must include the term's (a one-character term: a pair starting with
it), or the code's runs of three characters the runs of the term's first ten, which serves
terms of any length, one character and pieces of a code included; elsewhere an `icontains` on
each field.

A page of matches in the list's order (the deadline, say) is the hard part at scale. The
planner walks the order's index and filters as it goes, assuming matches are spread evenly;
but a term often belongs to one inspection ("营商环境" to the business-environment checks), so
its matches sit together in time and the walk can read half the table before the first one.
`Search.page` therefore never lets a walk run unbounded:

1. the paginator has already fetched up to `cap` + 1 matching ids, unordered (`first_ids`:
   among the list's first `COUNT_WALK_ROWS` rows in any order, where a common term is found at
   once, then through the index). If that is all of them, the page is read by id;
2. otherwise it walks at most `WALK_ROWS` rows of the unsearched list in order and keeps the
   matches; a common term fills its page long before that;
3. if it does not, the matches are few or gathered elsewhere: they are read through the index
   and sorted (cost in proportion to the matches, never to the table).

Every path gives the same rows as the plain ordered query.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet, FieldDoesNotExist
from django.db import connection, transaction
from django.db.models import BooleanField, Func, Q, QuerySet, TextField, Value
from django.db.models.functions import Upper

from .models import Case

# Rows the ordered walk may read before the matches are read through the index instead.
WALK_ROWS = 4_000

# Rows of the list, in any order, the count reads before the index (`Search.first_ids`): a
# term in a fifth of them has its `SEARCH_COUNT_CAP` + 1 matches there.
COUNT_WALK_ROWS = 5_000

# Orderings the walk may follow: each has an index (alone or after the status filter).
WALKABLE = {"deadline", "updated_at", "code", "id"}


def search_text() -> Func:
    """The indexed expression (PostgreSQL)."""
    return Func("code", "title", "description", function="case_search_text",
                output_field=TextField())  # fmt: skip


def grams_match(term: str) -> Func:
    """The index's condition (PostgreSQL): a filter, true of every case whose search text
    contains `term` (and of a few that do not: the LIKE decides)."""
    return Func(
        Func("code", "title", "description", function="case_search_grams",
             output_field=TextField()),
        Func(Upper(Value(term)), function="case_search_grams_query", output_field=TextField()),
        arg_joiner=" @@ ",
        template="(%(expressions)s)",
        output_field=BooleanField(),
    )  # fmt: skip


def matching(queryset: QuerySet[Case], term: str) -> QuerySet[Case]:
    """The cases of `queryset` whose code, title or description contain `term`."""
    if connection.vendor == "postgresql":
        contains = Q(search_text__contains=Upper(Value(term)))
        return queryset.alias(search_text=search_text()).filter(
            (Q(grams_match(term)) & contains) if term else contains
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

    def first_ids(self, limit: int) -> tuple[list[int], bool]:
        """Up to `limit` matching ids in no order, and whether they are all the matches.

        The index reads every entry of a term's pairs, which for a common term is most
        of the table, and a plan that reads rows instead tests each one against the index's
        condition too (building a text's pairs costs 50 times its LIKE). So the LIKE alone
        first reads at most `COUNT_WALK_ROWS` of the list's rows, in any order: a common term has
        `limit` matches there, and a list no longer than that (an inspector's unit) is read
        whole. Only a rarer term in a longer list is then read through the index."""
        if connection.vendor != "postgresql":
            ids = list(self.matches.order_by().values_list("pk", flat=True)[: limit + 1])
            return ids[:limit], len(ids) <= limit
        window = self.base.order_by().values_list("id", "code", "title", "description")
        try:
            sql, params = window[:COUNT_WALK_ROWS].query.sql_with_params()
        except EmptyResultSet:  # a list that is empty by its filters (nothing in scope)
            return [], True
        with connection.cursor() as cursor:
            # The window's last row is returned whether it matches or not: it tells that the
            # window was full, so that the list may hold matches past it.
            cursor.execute(
                # Compiled queryset SQL with its own params; match_sql names columns.
                f"SELECT id, n, m FROM (SELECT w.id, row_number() OVER () AS n, "  # noqa: S608
                f"{match_sql(self.term)} AS m FROM ({sql}) w) r "
                f"WHERE m OR n = %s LIMIT %s",
                [*match_params(self.term), *params, COUNT_WALK_ROWS, limit + 1],
            )
            rows = cursor.fetchall()
        found = [pk for pk, _n, match in rows if match][:limit]
        if len(found) == limit:
            return found, False
        if not any(n == COUNT_WALK_ROWS for _pk, n, _m in rows):
            return found, True  # the window was the whole list
        # The planner multiplies the frequencies of a word's pairs as if they were unrelated,
        # so it expects a handful of matches where there may be thousands, and joins each
        # inspection to all of them (a word in 3% of a million cases: 140 ms). Without
        # nested loops it reads the index's rows once and stops at the limit (20 ms).
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_nestloop = off")
            ids = list(self.matches.order_by().values_list("pk", flat=True)[: limit + 1])
        return ids[:limit], len(ids) <= limit

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
                f"SELECT w.id FROM ({sql}) w WHERE {match_sql(self.term)} "  # noqa: S608
                f"ORDER BY {self._order_sql(order, 'w')} LIMIT %s",
                [*params, *match_params(self.term), top],
            )
            found = [row[0] for row in cursor.fetchall()]
        return found if len(found) >= top else None

    def _sorted_matches(self, order: list[tuple[str, bool]], top: int) -> list[int]:
        """The first `top` matches, read through the index and sorted."""
        columns = ["id"] + [column for column, _ in order if column != "id"]
        sql, params = self.matches.order_by().values_list(*columns).query.sql_with_params()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_nestloop = off")  # as in `first_ids`
            cursor.execute(
                f"WITH m AS MATERIALIZED ({sql}) SELECT m.id FROM m "  # noqa: S608 (as above)
                f"ORDER BY {self._order_sql(order, 'm')} LIMIT %s",
                [*params, top],
            )
            return [row[0] for row in cursor.fetchall()]


# `matching` in SQL over a subquery's columns (aliased `w`): the same LIKE pattern Django builds
# for `contains`, wildcards in the term taken literally.
_PATTERN = "'%%' || replace(replace(replace(upper(%s), %s, %s), %s, %s), %s, %s) || '%%'"


def match_sql(term: str) -> str:
    """The condition: `case_search_text`'s LIKE; or, for a term no letter of which has a case
    (Chinese, digits, punctuation), the same LIKE on the text as written, which skips
    upper-casing each row (half the cost of a walk). The same rows: PostgreSQL's upper() maps
    a character to itself or to an upper-case letter, so where the term has no cased letter,
    the upper-cased text holds it exactly where the text does."""
    if term.upper() == term == term.lower():
        text = "(w.code || ' ' || w.title || ' ' || w.description)"
    else:
        text = "case_search_text(w.code, w.title, w.description)"
    return f"{text} LIKE {_PATTERN}"


def match_params(term: str) -> list[str]:
    return [term, "\\", "\\\\", "%", "\\%", "_", "\\_"]
