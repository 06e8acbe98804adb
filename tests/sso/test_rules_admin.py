"""Claim rules are a superuser's, written in the admin through sso.services: a rule that could
not work as written (a broken pattern, a role a rule may not give) is refused with nothing
stored; nobody else opens them."""

from __future__ import annotations

import pytest

from cases.models import User
from sso.models import ClaimRule
from tests.factories import World, make_superuser

pytestmark = pytest.mark.django_db

ADD = "/admin/sso/claimrule/add/"


def _form(world: World, **fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "description": "市纪委监委监督检查人员",
        "source": "any",
        "claim": "groups",
        "match": "exact",
        "value": "jc-jiwei-supervisors",
        "unit": world.commission.pk,
        "role": "supervisor",
        "priority": "10",
        "active": "on",
    }
    data.update(fields)
    return data


def test_a_superuser_adds_a_rule(client, world):
    client.force_login(make_superuser("operator"))
    answer = client.post(ADD, _form(world, claim="  groups "))
    assert answer.status_code == 302
    rule = ClaimRule.objects.get()
    assert (rule.claim, rule.unit, rule.role) == ("groups", world.commission, "supervisor")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"match": "regex", "value": "jc-(unclosed"}, "正则表达式有误"),
        ({"role": "api_reader"}, "api_reader"),  # not among the choices: a program's account
        ({"value": ""}, "该字段是必填项"),
    ],
)
def test_it_refuses_a_rule_that_could_not_work_and_stores_nothing(client, world, fields, reason):
    client.force_login(make_superuser("operator"))
    answer = client.post(ADD, _form(world, **fields))
    assert answer.status_code == 200
    assert reason in answer.content.decode()
    assert not ClaimRule.objects.exists()


@pytest.mark.parametrize("who", ["supervisor", "county_a_supervisor"])
def test_nobody_but_a_superuser_opens_or_writes_the_rules(client, world, who):
    user = getattr(world, who)
    User.objects.filter(pk=user.pk).update(is_staff=True)
    client.force_login(user)
    assert client.get("/admin/sso/claimrule/").status_code == 302  # the admin's login page
    client.post(ADD, _form(world))
    assert not ClaimRule.objects.exists()


def test_the_service_refuses_anyone_but_a_superuser(world):
    from cases.errors import Forbidden
    from sso.services import claim_rule_save

    rule = ClaimRule(claim="groups", value="x", unit=world.commission, role="supervisor")
    with pytest.raises(Forbidden):
        claim_rule_save(actor=world.supervisor, rule=rule)
    assert not ClaimRule.objects.exists()
