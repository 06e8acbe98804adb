"""The deployment recipe (docker-compose.yml, Dockerfile, .env.example, Makefile) agrees with
the settings, and its health checks work: no Docker needed (the web check runs against
gunicorn on SQLite, the worker check against a Celery worker on REDIS_URL)."""

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat")
BACKING_SERVICES = ("postgres", "redis")

# ${NAME}, ${NAME:-default}, ${NAME:?error}, $NAME; "$$" is Compose's escaped dollar.
COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))")
SETTINGS_READS = re.compile(
    r"""(?:os\.environ\.get|os\.getenv|env_bool|env_int|env_list)\(\s*["']([A-Z0-9_]+)["']"""
    r"""|os\.environ\[\s*["']([A-Z0-9_]+)["']\s*\]"""
)


def settings_variables() -> set[str]:
    from sso.conf import VARIABLES  # read by sso_settings(os.environ, ...) in the settings

    source = (ROOT / "tracker" / "settings.py").read_text(encoding="utf-8")
    return {a or b for a, b in SETTINGS_READS.findall(source)} | set(VARIABLES)


def compose_text() -> str:
    return (ROOT / "docker-compose.yml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(compose_text())["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def command(service: dict) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def without_interpolation(value: str) -> str:
    """A Compose value with every ${...} replaced by a placeholder, so it parses as a URL."""
    return re.sub(r"\$\{[^}]*\}", "placeholder", value)


def env_example_assignments() -> dict[str, str]:
    """NAME -> value for NAME=value lines of .env.example, commented-out examples included."""
    found = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if match:
            found.setdefault(match.group(1), match.group(2))
    return found


def active_env_example_assignments() -> dict[str, str]:
    """Only the uncommented NAME=value lines, the ones Compose will actually read."""
    found = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


# --- docker-compose.yml ------------------------------------------------------------------------


def test_it_migrates_before_the_app_services_start(services):
    migrators = [
        name
        for name, service in services.items()
        if {"manage.py", "migrate"} <= set(command(service))
    ]
    assert migrators, "no service runs manage.py migrate"
    for name in APP_SERVICES:
        depends_on = services[name].get("depends_on") or {}
        assert any(
            depends_on.get(m, {}).get("condition") == "service_completed_successfully"
            for m in migrators
        ), f"{name} does not wait for {migrators}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_it_points_app_services_at_the_postgres_service(services, name):
    url = urlsplit(without_interpolation(environment(services[name])["DATABASE_URL"]))
    postgres_env = environment(services["postgres"])
    assert url.scheme in {"postgres", "postgresql"}
    assert url.hostname == "postgres"
    assert url.port == 5432
    # The runtime role, never the owner nor the image's superuser (POSTGRES_USER).
    assert url.username == "tracker_app" != postgres_env["POSTGRES_USER"]
    assert url.path.lstrip("/") == postgres_env["POSTGRES_DB"]
    assert "${POSTGRES_APP_PASSWORD" in environment(services[name])["DATABASE_URL"]


def test_it_migrates_and_grants_as_the_owner_and_no_role_is_a_superuser(services):
    for name in ("migrate", "grant-runtime-role"):
        url = urlsplit(without_interpolation(environment(services[name])["DATABASE_URL"]))
        assert url.username == "tracker_owner", name
    assert command(services["grant-runtime-role"])[-2:] == ["grant_runtime_role", "tracker_app"]
    for name in APP_SERVICES:
        assert (services[name]["depends_on"]["grant-runtime-role"]["condition"]) == (
            "service_completed_successfully"
        )
    init = (ROOT / "scripts" / "postgres-init-roles.sh").read_text(encoding="utf-8")
    mounts = " ".join(services["postgres"]["volumes"])
    assert "postgres-init-roles.sh:/docker-entrypoint-initdb.d/" in mounts
    for role in ("tracker_owner", "tracker_app"):
        created = re.search(rf"CREATE ROLE {role} ([^;]*);", init)
        assert created and "NOSUPERUSER" in created.group(1) and "NOCREATEROLE" in created.group(1)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_it_points_app_services_at_the_redis_service(services, name):
    url = urlsplit(environment(services[name])["REDIS_URL"])
    assert url.scheme == "redis"
    assert url.hostname == "redis"
    assert (url.port or 6379) == 6379


def test_it_keeps_postgres_data_on_a_named_volume(services):
    named_volumes = set(yaml.safe_load(compose_text()).get("volumes") or {})
    mounts = [str(v).split(":") for v in services["postgres"].get("volumes") or []]
    assert any(m[0] in named_volumes and m[1] == "/var/lib/postgresql/data" for m in mounts)


def test_it_reads_settings_variables_from_the_settings_source():
    # Guards the checks below against a pattern that silently finds nothing.
    found = settings_variables()
    assert {"DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DATABASE_URL", "REDIS_URL"} <= found
    assert {"DJANGO_ALLOWED_HOSTS", "EVIDENCE_MAX_MB", "TRACKER_DUE_SOON_DAYS"} <= found


def test_it_references_only_variables_the_settings_read_or_postgres_needs():
    referenced = {a or b for a, b in COMPOSE_VARIABLE.findall(compose_text())}
    assert "POSTGRES_PASSWORD" in referenced  # the pattern does find references
    unknown = {
        name
        for name in referenced
        if name not in settings_variables() and not name.startswith("POSTGRES_")
    }
    assert not unknown, f"docker-compose.yml references variables nothing reads: {unknown}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_it_sets_only_variables_the_settings_read_on_app_services(services, name):
    unknown = {
        var
        for var in environment(services[name])
        if var not in settings_variables() and not var.startswith("POSTGRES_")
    }
    assert not unknown, f"{name} sets variables the settings never read: {unknown}"


def test_it_documents_every_settings_variable_in_env_example():
    missing = settings_variables() - set(env_example_assignments())
    assert not missing, f".env.example does not mention {sorted(missing)}"


def test_it_documents_no_variable_that_nothing_reads_in_env_example():
    makefile_only = {"PORT"}
    unknown = {
        name
        for name in env_example_assignments()
        if name not in settings_variables()
        and not name.startswith("POSTGRES_")
        and name not in makefile_only
    }
    assert not unknown, f".env.example documents variables nothing reads: {unknown}"


def test_it_lists_in_env_example_what_compose_requires_from_env():
    # The app refuses to start without these when debug is off; Compose interpolates the password.
    active = active_env_example_assignments()
    required = {"DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "HISTORY_SEAL_KEY"}
    required |= {"POSTGRES_PASSWORD"}
    assert required | {"POSTGRES_OWNER_PASSWORD", "POSTGRES_APP_PASSWORD"} <= set(active)


def test_it_ships_no_real_secret_in_env_example():
    active = active_env_example_assignments()
    for name in (
        "DJANGO_SECRET_KEY",
        "POSTGRES_PASSWORD",
        "POSTGRES_OWNER_PASSWORD",
        "POSTGRES_APP_PASSWORD",
        "EMAIL_HOST_PASSWORD",
        "HISTORY_SEAL_KEY",
    ):
        assert active.get(name, "") in {"", "change-me"}, f"{name} has a value in .env.example"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_it_starts_app_services_after_healthy_backing_services(services, name):
    depends_on = services[name].get("depends_on")
    assert isinstance(depends_on, dict), f"{name}: depends_on needs the long form for conditions"
    for backing in BACKING_SERVICES:
        assert depends_on.get(backing, {}).get("condition") == "service_healthy", (name, backing)


# --- docker-compose.yml: production readiness ---------------------------------------------------

HEALTHCHECKED = ("web", "worker", "postgres", "redis")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY$")


def named_volumes() -> set[str]:
    return set(yaml.safe_load(compose_text()).get("volumes") or {})


def mounts(service: dict) -> dict[str, str]:
    """Container path -> source of each volume of the service."""
    found = {}
    for volume in service.get("volumes") or []:
        source, target = str(volume).split(":")[:2]
        found[target] = source
    return found


def healthcheck_text(service: dict) -> str:
    test = service.get("healthcheck", {}).get("test") or []
    return " ".join(test) if isinstance(test, list) else str(test)


def seconds(duration: str) -> int:
    """A Compose duration such as 90s, 5m or 1m30s, in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([hms])", str(duration))
    assert parts and "".join(n + u for n, u in parts) == str(duration), duration
    return sum(int(n) * units[u] for n, u in parts)


@pytest.mark.parametrize("name", HEALTHCHECKED)
def test_it_healthchecks_with_bounded_timings(services, name):
    check = services[name].get("healthcheck") or {}
    assert check.get("test"), f"{name} has no healthcheck"
    assert check["test"][0] in {"CMD", "CMD-SHELL"}, check["test"]
    assert int(check["retries"]) >= 3
    assert 0 < seconds(check["timeout"]) < seconds(check["interval"]), check


def test_it_runs_exactly_one_beat(services):
    beats = [name for name, service in services.items() if "beat" in command(service)[:4]]
    assert beats == ["beat"]
    for name, service in services.items():
        cmd = command(service)
        assert "-B" not in cmd and "--beat" not in cmd, f"{name} embeds a second scheduler"
    assert (services["beat"].get("deploy") or {}).get("replicas") == 1


def test_it_lets_the_worker_finish_running_tasks_when_stopped(services):
    # Compose's default is 10 s, then SIGKILL: a large import or export would be cut off.
    assert seconds(services["worker"].get("stop_grace_period", "10s")) >= 60


def test_it_publishes_only_the_proxy_on_the_host(services):
    # The proxy is the way in: nothing else is published on the host.
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}, published
    assert {str(port).split(":")[-2] for port in services["proxy"]["ports"]} == {"80", "443"}


def test_it_keeps_the_broker_durable_on_a_named_volume(services):
    redis = services["redis"]
    cmd = command(redis)
    assert cmd[0] == "redis-server"
    assert cmd[cmd.index("--appendonly") + 1] == "yes"
    assert cmd[cmd.index("--maxmemory-policy") + 1] == "noeviction"
    assert mounts(redis).get("/data") in named_volumes()


@pytest.mark.parametrize("variable", ["EVIDENCE_ROOT", "LEDGER_FILES_ROOT"])
def test_it_shares_files_between_web_and_worker_on_one_named_volume(services, variable):
    sources = set()
    for name in ("web", "worker"):
        root = environment(services[name])[variable]
        source = mounts(services[name]).get(root)
        assert source in named_volumes(), (name, variable, root)
        sources.add(source)
    assert len(sources) == 1, sources


def test_it_declares_every_volume_it_mounts_and_mounts_every_volume_it_declares(services):
    used = {
        source
        for service in services.values()
        for source in mounts(service).values()
        if not source.startswith((".", "/"))
    }
    assert used == named_volumes()


def test_it_gives_web_worker_and_beat_the_same_environment(services):
    web = environment(services["web"])
    assert environment(services["worker"]) == web == environment(services["beat"])
    for owner in ("migrate", "grant-runtime-role"):
        # The same, but as the tables' owner (test_it_migrates_and_grants_as_the_owner…).
        assert {**environment(services[owner]), "DATABASE_URL": web["DATABASE_URL"]} == web


def test_it_writes_no_secret_into_the_compose_file(services):
    for name, service in services.items():
        for variable, value in environment(service).items():
            if SECRET_NAME.search(variable):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), (name, variable, value)
        assert "DJANGO_SECRET_KEY" not in environment(service), name  # from .env only
    # The password reaches the app only inside DATABASE_URL, interpolated and required.
    for reference in re.findall(r"\$\{POSTGRES_PASSWORD[^}]*\}", compose_text()):
        assert reference.startswith("${POSTGRES_PASSWORD:?"), reference
    for name in APP_SERVICES:
        url = environment(services[name])["DATABASE_URL"]
        assert re.match(
            r"postgres://tracker_app:\$\{POSTGRES_APP_PASSWORD:\?[^}]+\}@postgres:", url
        ), url


# --- docker-compose.yml: the proxy, mail and debug (issue 14) ------------------------------------


def app_services(services: dict) -> dict[str, dict]:
    """Every service that runs the app: built from the repository's Dockerfile."""
    return {name: service for name, service in services.items() if "build" in service}


def caddyfile() -> str:
    return (ROOT / "Caddyfile").read_text(encoding="utf-8")


def proxies_in_front_of_web(services: dict) -> list[str]:
    """Services whose mounted Caddyfile forwards to the web service's gunicorn port."""
    cmd = command(services["web"])
    port = cmd[cmd.index("--bind") + 1].rsplit(":", 1)[1]
    found = []
    for name, service in services.items():
        for target, source in mounts(service).items():
            if target == "/etc/caddy/Caddyfile":
                config = (ROOT / source).read_text(encoding="utf-8")
                if re.search(rf"^\s*reverse_proxy\s+web:{port}\b", config, re.M):
                    found.append(name)
    return found


def test_it_runs_every_app_service_with_debug_off(services):
    assert set(app_services(services)) == {"migrate", "grant-runtime-role", *APP_SERVICES}
    for name, service in app_services(services).items():
        assert environment(service)["DJANGO_DEBUG"] == "false", name


def test_it_trusts_exactly_the_proxies_in_front_of_web(services):
    proxies = proxies_in_front_of_web(services)
    assert proxies == ["proxy"]
    for name, service in app_services(services).items():
        assert int(environment(service)["TRUSTED_PROXY_COUNT"]) == len(proxies), name


def test_it_lets_only_the_proxy_reach_web_and_the_proxy_reach_nothing_else(services):
    # The proxy shares one network with web and none with the database or the broker.
    proxy_networks = set(services["proxy"]["networks"])
    assert proxy_networks <= set(services["web"]["networks"])
    for name, service in services.items():
        if name not in ("proxy", "web"):
            assert not proxy_networks & set(service.get("networks") or ["default"]), name


def test_it_has_the_proxy_replace_any_forwarded_for_header_a_client_sends():
    # One address reaches the app whatever a client sends, so TRUSTED_PROXY_COUNT=1 is exact.
    assert re.search(r"^\s*header_up\s+X-Forwarded-For\s+\{remote_host\}\s*$", caddyfile(), re.M)


def test_it_serves_the_site_address_the_settings_link_to(services):
    assert re.search(r"^\{\$TRACKER_SITE_URL\}\s*\{", caddyfile(), re.M)
    assert environment(services["proxy"])["TRACKER_SITE_URL"].startswith("${TRACKER_SITE_URL:?")


def test_it_requires_a_mail_relay_unless_email_is_off(services):
    for name, service in app_services(services).items():
        env = environment(service)
        channels = env.get("REMINDER_CHANNELS", "email,webhook,in_app").split(",")
        if "email" in channels:
            assert re.fullmatch(r"\$\{EMAIL_HOST:\?[^}]+\}", env.get("EMAIL_HOST", "")), name


# --- Dockerfile, .dockerignore, Makefile -------------------------------------------------------


def test_it_has_a_dockerfile_that_runs_as_a_non_root_user():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in {"root", "0", "0:0"}, users


def test_it_keeps_env_and_venv_out_of_the_docker_build_context():
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", ".venv", ".git"} <= ignored


def test_it_has_the_makefile_targets_of_the_readme():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", makefile, re.M))
    assert {"demo", "test", "serve", "worker", "beat", "lint"} <= targets


# --- Production settings refuse to start half-configured ----------------------------------------


def start_django(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_DEBUG": "false",
        "HISTORY_SEAL_KEY": "y" * 50,
        "TRACKER_VAR_DIR": str(tmp_path / "var"),
        **variables,
    }
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'tracker.settings'; "
        "django.setup(); from django.conf import settings; print('DEBUG', settings.DEBUG)"
    )
    return subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def improperly_configured_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if "ImproperlyConfigured" in line]
    assert lines, f"no ImproperlyConfigured in stderr:\n{result.stderr}"
    return lines[-1]


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off(tmp_path):
    result = start_django(tmp_path, DJANGO_ALLOWED_HOSTS="tracker.example.org")
    assert result.returncode != 0
    message = improperly_configured_line(result)
    assert "DJANGO_SECRET_KEY" in message
    assert "DJANGO_ALLOWED_HOSTS" not in message.split("Example")[0]


def test_it_refuses_to_start_without_allowed_hosts_when_debug_is_off(tmp_path):
    result = start_django(tmp_path, DJANGO_SECRET_KEY="x" * 50)
    assert result.returncode != 0
    message = improperly_configured_line(result)
    assert "DJANGO_ALLOWED_HOSTS" in message
    assert "DJANGO_SECRET_KEY" not in message.split("Example")[0]


def test_it_names_both_variables_when_both_are_missing(tmp_path):
    result = start_django(tmp_path)
    assert result.returncode != 0
    message = improperly_configured_line(result).split("Example")[0]
    assert "DJANGO_SECRET_KEY" in message and "DJANGO_ALLOWED_HOSTS" in message


def test_it_starts_with_debug_off_when_secret_key_and_allowed_hosts_are_set(tmp_path):
    result = start_django(
        tmp_path, DJANGO_SECRET_KEY="x" * 50, DJANGO_ALLOWED_HOSTS="tracker.example.org"
    )
    assert result.returncode == 0, result.stderr
    assert "DEBUG False" in result.stdout


# --- The health checks, run for real --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def production_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    return {
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_ALLOWED_HOSTS": ".example.org,tracker.example.org",
        "HISTORY_SEAL_KEY": "y" * 50,
        # Required by docker-compose.yml; the worker refuses to start without it.
        "EMAIL_HOST": "smtp.example.org",
        "TRACKER_VAR_DIR": str(tmp_path / "var"),
        **variables,
    }


@contextmanager
def running(cmd: list[str], env: dict[str, str], log: Path, ready: bytes) -> Iterator[None]:
    """A server process, once its log says `ready`; stopped afterwards."""
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603 (commands written in these tests)
        try:
            deadline = time.monotonic() + 40
            while ready not in log.read_bytes():
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_healthcheck(test: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    argv = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
    if argv[0] == "python":
        argv[0] = sys.executable
    return subprocess.run(  # noqa: S603 (the compose file's own healthcheck command)
        argv, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def web_on(port: int, services: dict) -> tuple[list[str], list[str]]:
    """The web service's command (one worker, to spare the machine) and healthcheck, on
    `port` instead of 8000."""
    cmd = command(services["web"])
    cmd[cmd.index("--bind") + 1] = f"127.0.0.1:{port}"
    cmd[cmd.index("--workers") + 1] = "1"
    cmd[0] = str(Path(sys.executable).parent / "gunicorn")
    test = [part.replace(":8000/", f":{port}/") for part in services["web"]["healthcheck"]["test"]]
    assert test != services["web"]["healthcheck"]["test"]
    return cmd, test


def web_healthcheck(test: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """The check's result once the server answers at all (the first request loads Django, which
    can take longer than the check's own timeout on a busy machine)."""
    deadline = time.monotonic() + 40
    while True:
        result = run_healthcheck(test, env)
        if "HTTP Error" in result.stderr or result.returncode == 0:
            return result
        assert time.monotonic() < deadline, result.stderr
        time.sleep(0.5)


def test_the_web_healthcheck_passes_on_gunicorn_with_debug_off(services, tmp_path):
    # Debug off: HTTPS redirect on, hosts enforced. The probe is plain HTTP from inside.
    port = free_port()
    cmd, test = web_on(port, services)
    env = production_env(tmp_path)
    with running(cmd, env, tmp_path / "web.log", b"Booting worker"):
        result = web_healthcheck(test, env)
    assert result.returncode == 0, result.stderr


def test_the_web_healthcheck_fails_when_the_database_is_down(services, tmp_path):
    port = free_port()
    cmd, test = web_on(port, services)
    closed = f"postgres://tracker:x@127.0.0.1:{free_port()}/tracker"
    env = production_env(tmp_path, DATABASE_URL=closed)
    with running(cmd, env, tmp_path / "web.log", b"Booting worker"):
        result = web_healthcheck(test, env)
    assert result.returncode != 0
    assert "HTTP Error 503" in result.stderr, result.stderr


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (a real broker)")
def test_the_worker_healthcheck_pings_its_own_worker_only(services, tmp_path):
    node = f"healthcheck-{uuid.uuid4().hex[:12]}"
    env = production_env(tmp_path, REDIS_URL=os.environ["REDIS_URL"])
    # The service's command, on a queue of its own (the suite shares this Redis) and with the
    # node name a container gets from its hostname.
    cmd = [*command(services["worker"]), "-Q", f"{node}-queue", "-n", f"celery@{node}",
           "--concurrency", "1"]  # fmt: skip
    cmd[0] = str(Path(sys.executable).parent / "celery")
    test = services["worker"]["healthcheck"]["test"]
    # Docker kills a check at its own timeout: the ping's must end before it.
    ping_timeout = int(re.findall(r"--timeout (\d+)", test[1])[0])
    assert seconds(services["worker"]["healthcheck"]["timeout"]) > ping_timeout
    # Compose turns $$ into $; the container's shell then reads its HOSTNAME.
    test = [test[0], test[1].replace("$$", "$")]
    with running(cmd, env, tmp_path / "worker.log", b"ready."):
        result = run_healthcheck(test, {**env, "HOSTNAME": node})
        assert result.returncode == 0, result.stdout + result.stderr
        # Another container's name: nobody answers, the check fails (quicker, same command).
        quick = [test[0], test[1].replace("--timeout 10", "--timeout 2")]
        result = run_healthcheck(quick, {**env, "HOSTNAME": f"{node}-gone"})
        assert result.returncode != 0


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (a real broker)")
def test_the_beat_service_starts_and_keeps_its_schedule_where_it_may_write(services, tmp_path):
    # The service's command as written, with its schedule file moved from the image's
    # /app/var to a folder of the test.
    cmd = command(services["beat"])
    schedule = cmd.index("--schedule") + 1
    assert cmd[schedule].startswith("/app/var/"), cmd  # the image's writable folder
    cmd[schedule] = str(tmp_path / "var" / "celerybeat-schedule")
    (tmp_path / "var").mkdir()
    cmd[0] = str(Path(sys.executable).parent / "celery")
    env = production_env(tmp_path, REDIS_URL=os.environ["REDIS_URL"])
    with running(cmd, env, tmp_path / "beat.log", b"beat: Starting..."):
        deadline = time.monotonic() + 20
        while not list((tmp_path / "var").glob("celerybeat-schedule*")):
            assert time.monotonic() < deadline, (tmp_path / "beat.log").read_text()
            time.sleep(0.2)
