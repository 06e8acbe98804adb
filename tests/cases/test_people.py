"""人员管理: a unit administrator lists, adds, moves, deactivates and resets the passwords of
the people of their unit's subtree, and manages its group bots, in the pages; never beyond
the subtree, never above their own reach, never on themselves. The Django admin is for
superusers only.

The world (tests/factories.py) with unit administrators:

    晋城市 ─┬─ 晋城市纪委监委 (commission_admin; supervisor, api_reader)
           ├─ 甲县 ─┬─ 甲县纪委监委 (county_sup)
           │        └─ 甲县局 (admin_a; inspector_a, dept_supervisor)
           │             └─ 甲县局股室 (inspector_a_child)
           └─ 乙县 ── 乙县局 (admin_b; inspector_b)
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditEntry
from cases import people
from cases.errors import Forbidden, InvalidInput, NotFound
from cases.models import User
from cases.selectors import visible_cases, visible_units
from cases.workflow import Role
from reminders.models import UnitWebhook
from tests.factories import PASSWORD, World, api_key, make_unit, make_user

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-42"


@pytest.fixture
def admin_a(world: World) -> User:
    return make_user(world.unit_a, Role.UNIT_ADMIN, "admin_a", full_name="甲管理员")


@pytest.fixture
def admin_b(world: World) -> User:
    return make_user(world.unit_b, Role.UNIT_ADMIN, "admin_b")


@pytest.fixture
def as_admin_a(client: Client, admin_a: User) -> Client:
    client.force_login(admin_a)
    return client


def _audit(action: str, target: User | UnitWebhook) -> AuditEntry | None:
    return AuditEntry.objects.filter(action=action, target_id=str(target.pk)).last()


def _link(response) -> str:
    text = response.content.decode()
    found = re.search(r'id="set-password-link"[^>]*value="http://testserver([^"]+)"', text)
    assert found, text
    return found.group(1)


def _set_password(client: Client, link: str, password: str = NEW_PASSWORD):
    """Follow a set-password link as its holder: Django moves the token into the session and
    shows the form; answers the form's POST."""
    page = client.get(link, follow=True)
    assert "new_password1" in page.content.decode(), "the link was refused"
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else link
    return client.post(form_url, {"new_password1": password, "new_password2": password})


def _can_log_in(username: str, password: str) -> bool:
    response = Client().post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR="10.0.0.9"
    )
    return response.status_code == 302


# --- The list ------------------------------------------------------------------------------


def test_it_lists_the_people_of_the_subtree_only(world, as_admin_a, admin_b):
    page = as_admin_a.get("/people/").content.decode()
    for username in ("inspector_a", "inspector_a_child", "dept_supervisor", "admin_a"):
        assert username in page
    for username in ("inspector_b", "admin_b", "county_sup", "supervisor", "api_reader", "admin"):
        assert f">{username}<" not in page, username


def test_it_searches_filters_and_says_when_nothing_matches(world, as_admin_a):
    User.objects.filter(pk=world.inspector_a_child.pk).update(full_name="王小明")
    page = as_admin_a.get("/people/", {"q": "王小"}).content.decode()
    assert "inspector_a_child" in page and ">inspector_a<" not in page
    page = as_admin_a.get("/people/", {"unit": world.unit_a_child.pk}).content.decode()
    assert "inspector_a_child" in page and ">inspector_a<" not in page
    page = as_admin_a.get("/people/", {"role": "supervisor"}).content.decode()
    assert "dept_supervisor" in page and ">inspector_a<" not in page
    page = as_admin_a.get("/people/", {"q": "没有这个人"}).content.decode()
    assert "没有符合筛选条件的人员" in page
    # A unit outside the subtree is a filter error, never its people.
    response = as_admin_a.get("/people/", {"unit": world.unit_b.pk})
    assert "inspector_b" not in response.content.decode()
    assert "请选择您管理范围内的单位" in response.content.decode()


def test_it_pages_the_list(world, as_admin_a):
    for n in range(31):
        make_user(world.unit_a_child, Role.INSPECTOR, f"many{n:02}")
    page = as_admin_a.get("/people/").content.decode()
    assert "第 1 / 2 页" in page
    assert "第 2 / 2 页" in as_admin_a.get("/people/", {"page": 2}).content.decode()


def test_a_unit_without_other_people_shows_the_empty_state(world, client):
    admin = make_user(make_unit("空单位", parent=world.county_b), Role.UNIT_ADMIN, "lonely")
    client.force_login(admin)
    page = client.get("/people/", {"role": "inspector"}).content.decode()
    assert "没有符合筛选条件的人员" in page and "清除筛选条件" in page


# --- Adding a person ---------------------------------------------------------------------------


def _new_person(**fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "username": "newcomer",
        "full_name": "新同志",
        "email": "new@example.org",
        "role": "inspector",
    }
    data.update(fields)
    return data


def test_it_adds_a_person_with_a_one_time_link_to_choose_a_password(world, as_admin_a, admin_a):
    response = as_admin_a.post("/people/new/", _new_person(unit=world.unit_a_child.pk))
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    person = User.objects.get(username="newcomer")
    assert (person.unit_id, person.role, person.full_name) == (
        world.unit_a_child.pk,
        "inspector",
        "新同志",
    )
    assert not person.is_superuser and not person.is_staff and not person.has_usable_password()
    entry = _audit("user_create", person)
    assert entry is not None and entry.actor_id == admin_a.pk
    link = _link(response)
    holder = Client()
    assert _set_password(holder, link).status_code == 302
    assert _can_log_in("newcomer", NEW_PASSWORD)
    # The link served once.
    assert "new_password1" not in Client().get(link, follow=True).content.decode()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"unit": "unit_b"}, "unit", "请选择您管理范围内的单位"),
        ({"unit": "county_a"}, "unit", "请选择您管理范围内的单位"),  # their own parent
        ({"role": "supervisor"}, "role", "选择一个有效的选项"),
        ({"role": "api_reader"}, "role", "选择一个有效的选项"),
        ({"username": "inspector_a"}, "username", "已被使用"),
        ({"username": "INSPECTOR_A"}, "username", "已被使用"),
        ({"username": "bad name!"}, "username", "用户名"),
    ],
)
def test_it_refuses_a_person_beyond_the_admins_reach(world, as_admin_a, fields, field, message):
    count = User.objects.count()
    data = _new_person(unit=world.unit_a.pk)
    for key, value in fields.items():
        data[key] = getattr(world, value).pk if key == "unit" else value
    response = as_admin_a.post("/people/new/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert User.objects.count() == count


def test_no_superuser_or_staff_account_comes_from_the_pages(world, as_admin_a):
    data = _new_person(unit=world.unit_a.pk, is_superuser="on", is_staff="on")
    assert as_admin_a.post("/people/new/", data).status_code == 200
    person = User.objects.get(username="newcomer")
    assert not person.is_superuser and not person.is_staff


def test_the_services_refuse_roles_beyond_reach(world, admin_a):
    with pytest.raises(Forbidden):
        people.person_create(
            actor=admin_a, username="x1", full_name="", email="", unit_id=world.unit_a.pk,
            role="supervisor",
        )  # fmt: skip
    with pytest.raises(InvalidInput):
        people.person_create(
            actor=admin_a, username="x2", full_name="", email="", unit_id=world.unit_b.pk,
            role="inspector",
        )  # fmt: skip
    with pytest.raises(Forbidden):
        people.person_create(
            actor=world.supervisor, username="x3", full_name="", email="",
            unit_id=world.commission.pk, role="inspector",
        )  # fmt: skip
    assert not User.objects.filter(username__in=["x1", "x2", "x3"]).exists()


def test_a_commissions_admin_staffs_its_supervisors(world, client):
    admin = make_user(world.commission, Role.UNIT_ADMIN, "commission_admin")
    assert Role.SUPERVISOR in people.grantable_roles(admin)
    client.force_login(admin)
    response = client.post("/people/new/", _new_person(unit=world.commission.pk, role="supervisor"))
    assert response.status_code == 200
    assert User.objects.get(username="newcomer").role == "supervisor"
    # A government department's admin does not appoint supervisors.
    assert Role.SUPERVISOR not in people.grantable_roles(
        make_user(world.unit_b, Role.UNIT_ADMIN, "dept_admin")
    )


# --- Editing, moving ---------------------------------------------------------------------------


def _edit(person: User, **fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "full_name": person.full_name,
        "email": person.email,
        "unit": person.unit_id,
        "role": person.role,
    }
    data.update(fields)
    return data


def test_it_moves_a_person_within_the_subtree(world, as_admin_a, admin_a):
    person = world.inspector_a
    response = as_admin_a.post(f"/people/{person.pk}/", _edit(person, unit=world.unit_a_child.pk))
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.unit_id == world.unit_a_child.pk
    entry = _audit("role_change", person)
    assert entry is not None and entry.changes["unit"] == [world.unit_a.pk, world.unit_a_child.pk]
    assert entry.actor_id == admin_a.pk


def test_it_refuses_moves_and_roles_beyond_reach(world, as_admin_a):
    person = world.inspector_a
    for fields in (
        {"unit": world.unit_b.pk},
        {"unit": world.county_a.pk},
        {"role": "supervisor"},
        {"role": "api_reader"},
    ):
        response = as_admin_a.post(f"/people/{person.pk}/", _edit(person, **fields))
        assert response.status_code == 400, fields
    person.refresh_from_db()
    assert (person.unit_id, person.role) == (world.unit_a.pk, "inspector")


def test_a_role_beyond_reach_is_kept_but_not_given(world, as_admin_a):
    # dept_supervisor was appointed by a system administrator: the unit admin may rename them,
    # not move them (a supervisor elsewhere would be a grant of theirs).
    person = world.dept_supervisor
    response = as_admin_a.post(f"/people/{person.pk}/", _edit(person, full_name="改名"))
    assert response.status_code == 302
    response = as_admin_a.post(f"/people/{person.pk}/", _edit(person, unit=world.unit_a_child.pk))
    assert response.status_code == 400
    person.refresh_from_db()
    assert (person.full_name, person.unit_id) == ("改名", world.unit_a.pk)


def test_an_admin_cannot_change_their_own_place(world, as_admin_a, admin_a):
    response = as_admin_a.post(f"/people/{admin_a.pk}/", _edit(admin_a, unit=world.unit_a_child.pk))
    assert response.status_code == 400
    assert "不能调整自己的单位或角色" in response.content.decode()
    response = as_admin_a.post(f"/people/{admin_a.pk}/", _edit(admin_a, role="inspector"))
    assert response.status_code == 400
    admin_a.refresh_from_db()
    assert (admin_a.unit_id, admin_a.role) == (world.unit_a.pk, "unit_admin")


def test_people_outside_the_subtree_are_missing(world, as_admin_a, admin_a, admin_b):
    superuser_here = make_user(world.unit_a, Role.SUPERVISOR, "root_here", is_superuser=True)
    parent_person = make_user(world.county_a, Role.UNIT_ADMIN, "county_admin")  # above them
    for person in (
        world.inspector_b,
        admin_b,
        world.county_a_supervisor,
        superuser_here,
        parent_person,
    ):
        before = (person.unit_id, person.role, person.is_active, person.password)
        assert as_admin_a.get(f"/people/{person.pk}/").status_code == 404
        assert as_admin_a.post(f"/people/{person.pk}/", _edit(person)).status_code == 404
        assert as_admin_a.post(f"/people/{person.pk}/", {"action": "deactivate"}).status_code == 404
        assert as_admin_a.get(f"/people/{person.pk}/password/").status_code == 404
        assert as_admin_a.post(f"/people/{person.pk}/password/").status_code == 404
        person.refresh_from_db()
        assert (person.unit_id, person.role, person.is_active, person.password) == before
    with pytest.raises(NotFound):
        people.person_set_active(actor=admin_a, person_id=world.inspector_b.pk, active=False)
    with pytest.raises(Forbidden):
        people.person_set_active(actor=world.inspector_a, person_id=world.inspector_a_child.pk,
                                 active=False)  # fmt: skip


# --- Deactivating ------------------------------------------------------------------------------


def test_a_deactivated_person_cannot_log_in_and_their_tokens_stop(world, as_admin_a, admin_a):
    person = world.inspector_a
    key = api_key(person)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/cases/").status_code == 200
    session = Client()
    session.force_login(person)
    response = as_admin_a.post(f"/people/{person.pk}/", {"action": "deactivate"})
    assert response.status_code == 302
    person.refresh_from_db()
    assert not person.is_active
    assert _audit("user_disable", person).actor_id == admin_a.pk
    assert api.get("/api/v1/cases/").status_code == 401
    assert not _can_log_in("inspector_a", PASSWORD)
    assert session.get("/cases/").status_code == 302  # the open session ends too
    # Enabled again: they log in, their old token stays dead.
    assert as_admin_a.post(f"/people/{person.pk}/", {"action": "activate"}).status_code == 302
    assert _can_log_in("inspector_a", PASSWORD)
    assert api.get("/api/v1/cases/").status_code == 401


def test_an_admin_cannot_deactivate_themselves(world, as_admin_a, admin_a):
    response = as_admin_a.post(f"/people/{admin_a.pk}/", {"action": "deactivate"}, follow=True)
    assert "不能停用或启用自己的账户" in response.content.decode()
    admin_a.refresh_from_db()
    assert admin_a.is_active


# --- Password reset -----------------------------------------------------------------------------


def test_a_reset_ends_the_password_sessions_and_tokens_and_the_link_works_once(
    world, as_admin_a, admin_a
):
    person = world.inspector_a
    key = api_key(person)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    session = Client()
    session.force_login(person)
    page = as_admin_a.get(f"/people/{person.pk}/password/")
    assert page.status_code == 200
    person.refresh_from_db()
    assert person.check_password(PASSWORD)  # the GET changed nothing
    response = as_admin_a.post(f"/people/{person.pk}/password/")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    link = _link(response)
    entry = _audit("user_password_reset", person)
    assert entry is not None and entry.actor_id == admin_a.pk
    assert PASSWORD not in str(entry.changes) and link not in str(entry.changes)
    assert not _can_log_in("inspector_a", PASSWORD)
    assert api.get("/api/v1/cases/").status_code == 401
    assert session.get("/cases/").status_code == 302
    holder = Client()
    # The site's password rules apply to the chosen password.
    assert "new_password2" in _set_password(holder, link, "short").content.decode()
    assert _set_password(holder, link).status_code == 302
    assert _can_log_in("inspector_a", NEW_PASSWORD)
    assert "new_password1" not in Client().get(link, follow=True).content.decode()


def test_a_second_reset_ends_the_first_link(world, as_admin_a):
    person = world.inspector_a
    first = _link(as_admin_a.post(f"/people/{person.pk}/password/"))
    second = _link(as_admin_a.post(f"/people/{person.pk}/password/"))
    assert "new_password1" not in Client().get(first, follow=True).content.decode()
    assert _set_password(Client(), second).status_code == 302


def test_no_reset_of_oneself_or_of_a_deactivated_account(world, as_admin_a, admin_a):
    response = as_admin_a.post(f"/people/{admin_a.pk}/password/")
    assert response.status_code == 400
    admin_a.refresh_from_db()
    assert admin_a.check_password(PASSWORD)
    people.person_set_active(actor=admin_a, person_id=world.inspector_a.pk, active=False)
    assert as_admin_a.post(f"/people/{world.inspector_a.pk}/password/").status_code == 400


def test_no_set_password_link_for_a_signed_on_account(world, as_admin_a):
    from sso.models import ExternalIdentity, Source

    person = world.inspector_a
    person.set_unusable_password()
    person.save(update_fields=["password"])
    ExternalIdentity.objects.create(
        user=person, source=Source.OIDC, issuer="https://idp.example", subject="sub-1"
    )
    response = as_admin_a.post(f"/people/{person.pk}/password/")
    assert response.status_code == 400
    assert "统一身份认证" in response.content.decode()
    assert "set-password-link" not in response.content.decode()
    assert _audit("user_password_reset", person) is None


# --- Group bots ---------------------------------------------------------------------------------


def _bot(**fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "flavour": "wecom",
        "url": "https://1.1.1.1/cgi-bin/webhook/send?key=abc",
        "secret": "",
        "timeout_seconds": 5,
        "max_attempts": 5,
        "enabled": "on",
    }
    data.update(fields)
    return data


def test_it_adds_edits_and_removes_a_bot_of_the_subtree(world, as_admin_a, admin_a):
    response = as_admin_a.post("/people/bots/new/", _bot(unit=world.unit_a_child.pk))
    assert response.status_code == 302
    bot = UnitWebhook.objects.get(unit=world.unit_a_child)
    assert _audit("webhook_create", bot).actor_id == admin_a.pk
    page = as_admin_a.get(f"/people/bots/{bot.pk}/").content.decode()
    assert "key=abc" not in page  # the bot's key is not shown again
    # The address left empty stays; the unit stays whatever is posted.
    response = as_admin_a.post(
        f"/people/bots/{bot.pk}/", _bot(url="", max_attempts=3, unit=world.unit_b.pk)
    )
    assert response.status_code == 302
    bot.refresh_from_db()
    assert (bot.url, bot.max_attempts, bot.unit_id) == (
        "https://1.1.1.1/cgi-bin/webhook/send?key=abc",
        3,
        world.unit_a_child.pk,
    )
    assert "甲县局股室" in as_admin_a.get("/people/bots/").content.decode()
    response = as_admin_a.post(f"/people/bots/{bot.pk}/", {"action": "delete"})
    assert response.status_code == 302
    assert not UnitWebhook.objects.filter(pk=bot.pk).exists()
    assert AuditEntry.objects.filter(action="webhook_delete", target_id=str(bot.pk)).exists()


def test_it_refuses_bots_outside_the_subtree_or_against_the_egress_policy(world, as_admin_a):
    theirs = UnitWebhook.objects.create(unit=world.unit_b, url="https://1.1.1.1/theirs")
    assert "乙县局" not in as_admin_a.get("/people/bots/").content.decode()
    assert as_admin_a.get(f"/people/bots/{theirs.pk}/").status_code == 404
    assert as_admin_a.post(f"/people/bots/{theirs.pk}/", _bot()).status_code == 404
    assert as_admin_a.post(f"/people/bots/{theirs.pk}/", {"action": "delete"}).status_code == 404
    response = as_admin_a.post("/people/bots/new/", _bot(unit=world.unit_b.pk))
    assert response.status_code == 400
    response = as_admin_a.post(
        "/people/bots/new/", _bot(unit=world.unit_a.pk, url="http://127.0.0.1:8000/x")
    )
    assert response.status_code == 400
    UnitWebhook.objects.create(unit=world.unit_a, url="https://1.1.1.1/mine")
    response = as_admin_a.post("/people/bots/new/", _bot(unit=world.unit_a.pk))
    assert response.status_code == 400 and "已有群机器人" in response.content.decode()
    theirs.refresh_from_db()
    assert theirs.url == "https://1.1.1.1/theirs"
    assert UnitWebhook.objects.count() == 2


def test_the_empty_bot_list_says_so(world, as_admin_a):
    assert "还没有群机器人" in as_admin_a.get("/people/bots/").content.decode()


# --- Who gets in ---------------------------------------------------------------------------------

PAGES = ["/people/", "/people/new/", "/people/bots/", "/people/bots/new/"]


@pytest.mark.parametrize(
    "username", ["inspector_a", "supervisor", "county_sup", "api_reader", "no_unit"]
)
def test_other_roles_get_no_access(world, client, username):
    user = User.objects.get(username=username)
    client.force_login(user)
    bot = UnitWebhook.objects.create(unit=world.unit_a, url="https://1.1.1.1/x")
    target = world.inspector_a_child
    for path in [*PAGES, f"/people/{target.pk}/", f"/people/{target.pk}/password/",
                 f"/people/bots/{bot.pk}/"]:  # fmt: skip
        assert client.get(path).status_code == 403, path
    assert client.post("/people/new/", _new_person(unit=world.unit_a.pk)).status_code == 403
    assert client.post(f"/people/{target.pk}/", {"action": "deactivate"}).status_code == 403
    assert client.post(f"/people/{target.pk}/password/").status_code == 403
    assert client.post(f"/people/bots/{bot.pk}/", {"action": "delete"}).status_code == 403
    target.refresh_from_db()
    assert target.is_active and target.check_password(PASSWORD)
    assert not User.objects.filter(username="newcomer").exists()
    assert UnitWebhook.objects.filter(pk=bot.pk).exists()


def test_anonymous_callers_and_tokens_are_sent_to_log_in(world, client):
    key = api_key(world.api_reader)
    for path in PAGES:
        response = client.get(path, HTTP_AUTHORIZATION=f"Token {key}")
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    response = client.post("/people/new/", _new_person(unit=world.unit_a.pk))
    assert response.status_code == 302
    assert not User.objects.filter(username="newcomer").exists()


def test_a_superuser_manages_every_unit(world, client):
    client.force_login(world.admin)
    page = client.get("/people/").content.decode()
    assert "inspector_a" in page and "inspector_b" in page
    response = client.post("/people/new/", _new_person(unit=world.unit_b.pk, role="api_reader"))
    assert response.status_code == 200


def test_get_writes_nothing(world, as_admin_a):
    bot = UnitWebhook.objects.create(unit=world.unit_a, url="https://1.1.1.1/x")
    person = world.inspector_a
    before = (
        AuditEntry.objects.count(),
        list(User.objects.order_by("pk").values_list("password", "is_active", "unit_id", "role")),
        list(UnitWebhook.objects.values_list("pk", "url", "enabled")),
    )
    for path in [*PAGES, f"/people/{person.pk}/", f"/people/{person.pk}/password/",
                 f"/people/bots/{bot.pk}/", "/people/?q=甲&role=inspector"]:  # fmt: skip
        assert as_admin_a.get(path).status_code == 200, path
    after = (
        AuditEntry.objects.count(),
        list(User.objects.order_by("pk").values_list("password", "is_active", "unit_id", "role")),
        list(UnitWebhook.objects.values_list("pk", "url", "enabled")),
    )
    assert after == before


# --- What a unit administrator reads elsewhere, and the admin ------------------------------


def test_a_unit_admin_reads_their_subtree_only(world, admin_a):
    mine, theirs = world.case(world.unit_a_child), world.case(world.unit_b)
    assert set(visible_units(admin_a)) == {world.unit_a, world.unit_a_child}
    assert mine in visible_cases(admin_a) and theirs not in visible_cases(admin_a)


def test_the_nav_shows_people_to_admins_and_the_admin_to_superusers_only(world, client, admin_a):
    client.force_login(admin_a)
    page = client.get("/cases/").content.decode()
    assert "人员管理" in page and "管理后台" not in page
    staff = world.supervisor
    User.objects.filter(pk=staff.pk).update(is_staff=True)
    client.force_login(staff)
    page = client.get("/cases/").content.decode()
    assert "人员管理" not in page and "管理后台" not in page
    client.force_login(world.admin)
    page = client.get("/cases/").content.decode()
    assert "人员管理" in page and "管理后台" in page


def test_the_django_admin_refuses_staff_who_are_not_superusers(world, client):
    staff = world.supervisor
    User.objects.filter(pk=staff.pk).update(is_staff=True)
    staff.refresh_from_db()
    client.force_login(staff)
    for path in ("/admin/", "/admin/cases/user/", "/admin/reminders/unitwebhook/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/admin/login/"), path
    client.force_login(world.admin)
    assert client.get("/admin/").status_code == 200


def test_the_people_pages_read_in_english(world, as_admin_a):
    as_admin_a.post("/i18n/setlang/", {"language": "en"})
    page = as_admin_a.get("/people/").content.decode()
    assert "Add a person" in page and "People" in page and "新增人员" not in page
