"""`__any`: the rows `__in` gives, with the list sent as one array parameter."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import Case

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_any_finds_what_in_finds_with_one_parameter(world):
    first, second, third = (world.case(title=f"问题{i}") for i in range(3))
    wanted = [third.pk, first.pk, None, third.pk]
    with CaptureQueriesContext(connection) as queries:
        found = set(Case.objects.filter(pk__any=wanted).values_list("pk", flat=True))
    assert found == set(Case.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    assert found == {first.pk, third.pk}
    assert second.pk not in found
    sql = queries.captured_queries[0]["sql"]
    assert '"cases_case"."id" = ANY(' in sql
    assert "IN (" not in sql


def test_any_of_nothing_is_nothing(world):
    world.case(title="问题")
    assert not Case.objects.filter(pk__any=[]).exists()
    assert not Case.objects.filter(pk__any=[None]).exists()
    assert Case.objects.exclude(pk__any=[]).count() == Case.objects.count()


def test_any_of_a_subquery_is_in_of_it(world):
    kept = world.case(title="保留")
    world.case(title="其他")
    chosen = Case.objects.filter(title="保留").values("pk")
    with CaptureQueriesContext(connection) as queries:
        found = list(Case.objects.filter(pk__any=chosen).values_list("pk", flat=True))
    assert found == [kept.pk]
    assert "IN (SELECT" in queries.captured_queries[0]["sql"]
