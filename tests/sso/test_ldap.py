"""LDAP sign-on against a real slapd started for the test (its own port, configuration and
database in a temporary folder; the machine's own slapd, if any, is never used): the password
form signs directory users in, placed by the same claim rules (attributes and group DNs)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import override_settings

from cases.models import User
from cases.workflow import Role
from sso.models import ClaimRule, ExternalIdentity
from tests.factories import PASSWORD, World

SLAPD = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else None)
LDAPADD = shutil.which("ldapadd")
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        SLAPD is None or LDAPADD is None,
        reason="slapd and ldapadd not installed (Debian: slapd ldap-utils; .ci/run installs them)",
    ),
]
pytest.importorskip("django_auth_ldap", reason="django-auth-ldap (and python-ldap) not installed")

SUFFIX = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "directory-admin"
DIRECTORY_PASSWORD = "directory-password"
SUPERVISORS = f"cn=jc-supervisors,ou=groups,{SUFFIX}"
SCHEMA = Path("/etc/ldap/schema")

PEOPLE = {
    # uid: (cn, departmentNumber)
    "zhao": ("赵监督", "JC-JW"),
    "qian": ("钱联络", "JX-A-01"),
    "sun": ("孙无规则", "VISITORS"),
    "admin": ("同名者", "JC-JW"),  # the tracker's local superuser's name
}


def _ldif() -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: example\ndc: example",
        f"dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people",
        f"dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups",
    ]
    for uid, (cn, department) in PEOPLE.items():
        entries.append(
            f"dn: uid={uid},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
            f"cn: {cn}\nsn: {cn[0]}\nmail: {uid}@example.org\n"
            f"departmentNumber: {department}\nuserPassword: {DIRECTORY_PASSWORD}"
        )
    members = ["zhao", "admin"]
    entries.append(
        f"dn: {SUPERVISORS}\nobjectClass: groupOfNames\ncn: jc-supervisors\n"
        + "\n".join(f"member: uid={uid},ou=people,{SUFFIX}" for uid in members)
    )
    return "\n\n".join(entries) + "\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("slapd")
    (folder / "db").mkdir()
    schemas = "\n".join(
        f"include {SCHEMA / name}.schema" for name in ("core", "cosine", "inetorgperson", "nis")
    )
    (folder / "slapd.conf").write_text(
        f"{schemas}\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\n"
        f"pidfile {folder / 'slapd.pid'}\n"
        f'database mdb\nmaxsize 10485760\nsuffix "{SUFFIX}"\nrootdn "{ADMIN_DN}"\n'
        f"rootpw {ADMIN_PASSWORD}\ndirectory {folder / 'db'}\n"
        # Binding as a user checks the password; nobody reads another's password.
        "access to attrs=userPassword by anonymous auth by * none\n"
        "access to * by * read\n"
    )
    port = _free_port()
    uri = f"ldap://127.0.0.1:{port}"
    log = (folder / "slapd.log").open("w")
    process = subprocess.Popen(  # noqa: S603
        [SLAPD, "-f", str(folder / "slapd.conf"), "-h", f"{uri}/", "-d", "0"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        (folder / "data.ldif").write_text(_ldif(), encoding="utf-8")
        add = [LDAPADD, "-x", "-H", uri, "-D", ADMIN_DN, "-w", ADMIN_PASSWORD]
        deadline = time.monotonic() + 30
        while True:
            loaded = subprocess.run(  # noqa: S603
                [*add, "-f", str(folder / "data.ldif")], capture_output=True, text=True
            )
            if loaded.returncode == 0:
                break
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(
                    f"slapd did not take the entries: {loaded.stderr}\n"
                    f"{(folder / 'slapd.log').read_text()}"
                )
            time.sleep(0.3)
        yield uri
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def ldap_on(directory: str) -> Iterator[str]:
    from django.conf import settings

    from sso.conf import sso_settings

    environ = {
        "LDAP_SERVER_URI": directory,
        "LDAP_BIND_DN": ADMIN_DN,
        "LDAP_BIND_PASSWORD": ADMIN_PASSWORD,
        "LDAP_USER_SEARCH_BASE": f"ou=people,{SUFFIX}",
        "LDAP_GROUP_SEARCH_BASE": f"ou=groups,{SUFFIX}",
    }
    with override_settings(**sso_settings(environ, list(settings.AUTHENTICATION_BACKENDS))):
        yield directory


@pytest.fixture
def rules(world: World) -> None:
    ClaimRule.objects.create(
        claim="groups", value=SUPERVISORS, unit=world.commission, role=Role.SUPERVISOR, priority=1
    )
    ClaimRule.objects.create(
        source=ClaimRule.SourceFilter.LDAP,
        claim="departmentNumber",
        value="JX-A-01",
        unit=world.unit_a,
        role=Role.INSPECTOR,
        priority=2,
    )


def login(client, username: str, password: str = DIRECTORY_PASSWORD):
    return client.post("/accounts/login/", {"username": username, "password": password})


def signed_in(client) -> User | None:
    user_id = client.session.get(SESSION_KEY)
    return User.objects.select_related("unit").get(pk=user_id) if user_id else None


def test_a_group_member_signs_in_with_the_groups_unit_and_role(client, ldap_on, world, rules):
    answer = login(client, "zhao")
    assert answer.status_code == 302, answer.content.decode()
    user = signed_in(client)
    assert (user.username, user.unit, user.role) == ("zhao", world.commission, "supervisor")
    assert user.full_name == "赵监督" and not user.has_usable_password()
    assert not user.is_superuser and not user.is_staff
    assert client.session["_auth_user_backend"] == "sso.directory.DirectoryBackend"
    identity = ExternalIdentity.objects.get(user=user)
    assert (identity.source, identity.issuer, identity.subject) == ("ldap", ldap_on, "zhao")
    assert client.get("/cases/").status_code == 200


def test_an_attribute_places_a_user_and_a_later_login_follows_the_rules(
    client, ldap_on, world, rules
):
    assert login(client, "qian").status_code == 302
    user = signed_in(client)
    assert (user.unit, user.role) == (world.unit_a, "inspector")
    client.logout()
    ClaimRule.objects.filter(claim="departmentNumber").update(unit=world.unit_b)
    assert login(client, "qian").status_code == 302
    again = signed_in(client)
    assert again.pk == user.pk and again.unit == world.unit_b


def test_a_directory_user_without_a_rule_is_refused(client, ldap_on, world, rules):
    users = User.objects.count()
    page = login(client, "sun")
    assert page.status_code == 200
    assert "您的身份信息未匹配任何单位和角色规则" in page.content.decode()
    assert signed_in(client) is None and User.objects.count() == users


def test_a_wrong_directory_password_signs_nobody_in(client, ldap_on, world, rules):
    assert login(client, "zhao", "wrong-password").status_code == 200
    assert signed_in(client) is None
    assert not User.objects.filter(username="zhao").exists()


def test_a_directory_namesake_never_takes_over_a_local_account(client, ldap_on, world, rules):
    """The directory's "admin" (a supervisors' group member) with the directory password:
    refused; the local superuser untouched, signing in with its own password (break-glass)."""
    assert login(client, "admin").status_code == 200
    assert signed_in(client) is None
    world.admin.refresh_from_db()
    assert world.admin.is_superuser and world.admin.unit is None
    assert not ExternalIdentity.objects.exists()
    assert login(client, "admin", PASSWORD).status_code == 302
    assert signed_in(client) == world.admin


def test_a_directory_session_reads_its_user_like_a_password_session(client, ldap_on, world, rules):
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    world.case(world.unit_a)
    assert login(client, "zhao").status_code == 302
    password = Client()
    assert login(password, world.supervisor.username, PASSWORD).status_code == 302
    assert password.session["_auth_user_backend"] == "cases.accounts.UnitBackend"
    counts = []
    for browser in (client, password):
        browser.get("/cases/")  # the session's idle stamp, written at most once a minute
        with CaptureQueriesContext(connection) as queries:
            assert browser.get("/cases/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
