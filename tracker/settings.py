"""Settings for the rectification tracker, all from the environment.

With nothing configured the project runs as a demo: SQLite under var/, Celery on a filesystem
broker under var/, mail written to files. Production sets DATABASE_URL, REDIS_URL and turns
DJANGO_DEBUG off, which makes DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS mandatory.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import django
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from sso.conf import sso_settings
from tracker.env import env_bool, env_int, env_list
from tracker.logging import log_settings

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TRACKER_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


# Off unless asked for: a deployment that forgets the variable must not run with debug pages,
# the public development keys and the demo's mail folder. Only `make demo` and `make test`
# turn it on (README: "Running manage.py against the demo").
DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")
if not DEBUG:
    missing = [
        name
        for name, value in (
            ("DJANGO_SECRET_KEY", SECRET_KEY),
            ("DJANGO_ALLOWED_HOSTS", ALLOWED_HOSTS),
            ("HISTORY_SEAL_KEY", os.environ.get("HISTORY_SEAL_KEY", "")),
        )
        if not value
    ]
    if missing:
        raise ImproperlyConfigured(
            "DJANGO_DEBUG is off, so these must be set: "
            + ", ".join(missing)
            + ". Example: DJANGO_SECRET_KEY=$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))') DJANGO_ALLOWED_HOSTS=tracker.example.org"
            " (For the local demo instead: DJANGO_DEBUG=true, as `make demo` sets it.)"
        )
else:
    SECRET_KEY = SECRET_KEY or "insecure-dev-key-only-for-debug-mode"
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]", "testserver"]

# The key that seals the case history and the audit log (cases.sealing). It lives outside the
# database, so someone with the database's credentials cannot forge a sealed row; in debug a
# fixed, public development key stands in.
HISTORY_SEAL_KEY = os.environ.get("HISTORY_SEAL_KEY", "") or (
    "insecure-development-seal-key" if DEBUG else ""
)

# Where `manage.py checkpoint_history` (beat, daily) writes the signed heads of every case's
# history chain: outside the database (a volume, better another machine's or write-once
# storage), so that a rollback done inside the database is caught by `verify_history`.
HISTORY_CHECKPOINT_DIR = Path(
    os.environ.get("HISTORY_CHECKPOINT_DIR", "") or VAR_DIR / "checkpoints"
)

# On SQLite (the demo) the history's append-only triggers are installed after every migrate
# (cases.history_guard). Only the test runner turns this off: it empties SQLite tables with
# DELETE between tests (as PostgreSQL's guard leaves TRUNCATE to the privileges).
HISTORY_SQLITE_GUARD = True

CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # Django's admin, for superusers only (tracker.admin_site).
    "tracker.admin_site.SuperuserAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "pgtrigger",  # triggers declared in models' Meta.triggers, installed by migrations
    "cases",
    "reminders",
    "ledgers",
    "audit",
    "sso",
    "documents",
    "lookback",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Records every 403/404 a logged-in user gets from a view (audit/middleware.py).
    "audit.middleware.RefusedAccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tracker.urls"
WSGI_APPLICATION = "tracker.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "") or f"sqlite:///{VAR_DIR / 'tracker.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT compiling: it pays off for long analytical queries, not a request's, and a search
    # whose estimated cost crossed jit_above_cost spent 30 ms compiling to run in 40.
    _default_options = DATABASES["default"].setdefault("OPTIONS", {})
    _default_options["options"] = (_default_options.get("options", "") + " -c jit=off").strip()
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo runs web and worker processes on one file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
# --- Read replica (tracker/db_router.py) ---
# Optional PostgreSQL streaming replica for dashboard, statistics and export reads; writes and
# reads after a write stay on the primary. Unset: everything on DATABASE_URL.
_replica_url = os.environ.get("DATABASE_REPLICA_URL", "").strip()
if _replica_url:
    DATABASES["replica"] = dj_database_url.parse(
        _replica_url,
        conn_max_age=DATABASES["default"]["CONN_MAX_AGE"],
        conn_health_checks=True,
    )
    if DATABASES["replica"]["ENGINE"] == "django.db.backends.postgresql":
        _replica_options = DATABASES["replica"].setdefault("OPTIONS", {})
        # As the primary's (see "Faults and logs" below): a replica that does not answer
        # fails the page in seconds.
        _replica_options.setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5))
        # No JIT, as on the primary; and, belt and braces, a replica connection refuses
        # writes even if pointed at a primary.
        _replica_options["options"] = (
            _replica_options.get("options", "") + " -c jit=off -c default_transaction_read_only=on"
        ).strip()
    # Tests have no replication: the test "replica" is the test primary.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["tracker.db_router.ReplicaRouter"]
# A user reads their own writes on the next page even while the replica lags: the request's
# changes are recorded per user in the cache (does nothing without a replica).
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "tracker.db_router.ReadYourWritesMiddleware",
)
# --- end read replica ---
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery ----------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # Its own database: clearing the cache (FLUSHDB) must never drop queued tasks.
            "LOCATION": os.environ.get("REDIS_CACHE_URL", "").strip() or REDIS_URL,
            # Redis down or hung must never hang a page: fail fast and let callers degrade.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "socket_connect_timeout": 2,
        "socket_timeout": 2,
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # Embedded broker for the demo: messages are files under var/broker, no service needed.
    _broker_dir = VAR_DIR / "broker"
    (_broker_dir / "out").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the message to be redelivered
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# CELERY_BEAT_SCHEDULE is set with the reminder settings below.

# --- Auth ----------------------------------------------------------------------------------
AUTH_USER_MODEL = "cases.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# --- Login hardening: lockout (django-axes) and session lifetime ----------------------------
# Failed logins are counted in the database (AccessAttempt, visible in the admin; a lockout is
# lifted there or with `manage.py axes_reset`), never in Redis: a cache flush or outage must not
# reset the count. 5 failures for one username from one address lock that pair out for
# LOGIN_LOCKOUT_MINUTES, even with the right password; another address is not affected. The
# answer is 429 Too Many Requests with Retry-After: the login page with the lockout message,
# or the API's error shape (code "locked_out") at /api/v1/auth/token/. Unknown usernames are
# counted and answered exactly like known ones.
INSTALLED_APPS.append("axes")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out pairs before any check
    # Django's ModelBackend, reading the user with their unit (one query, not three).
    "cases.accounts.UnitBackend",
]
MIDDLEWARE.append("axes.middleware.AxesMiddleware")  # last, as axes requires
# Single sign-on (sso/conf.py): OIDC and LDAP backends, each only when its variables are set.
globals().update(sso_settings(os.environ, AUTHENTICATION_BACKENDS))
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = 5
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_RESET_ON_SUCCESS = True  # a successful login clears that pair's failures
AXES_LOCKOUT_CALLABLE = "cases.accounts.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_CLIENT_IP_CALLABLE = "cases.accounts.client_address"
# Reverse proxies in front that append the client's address to X-Forwarded-For (1 behind the
# TLS proxy of docker-compose.yml); 0 takes REMOTE_ADDR. Too high lets clients pick their
# address; too low makes the proxy the "address" of everybody. The one setting for the client's
# address (cases.accounts.client_address): the lockout, the API's throttles and the password
# reset's throttle all count by it.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
# Password reset requests (cases.accounts.password_reset_refusal): at most this many per
# client address and per submitted email within the window, then 429 until it ends.
PASSWORD_RESET_WINDOW_MINUTES = env_int("PASSWORD_RESET_WINDOW_MINUTES", 15)
PASSWORD_RESET_PER_ADDRESS = env_int("PASSWORD_RESET_PER_ADDRESS", 5)
PASSWORD_RESET_PER_EMAIL = env_int("PASSWORD_RESET_PER_EMAIL", 3)
# API tokens (cases.tokens): stored hashed, valid this many days, at most this many usable
# ones per user (one per name).
API_TOKEN_TTL_DAYS = env_int("API_TOKEN_TTL_DAYS", 30)
API_TOKEN_MAX_PER_USER = env_int("API_TOKEN_MAX_PER_USER", 5)
# Logged-in sessions end after SESSION_IDLE_MINUTES without a request and SESSION_MAX_HOURS
# after login, whichever comes first (tracker/session_policy.py). The cookie and the session
# row do not outlive the absolute lifetime either.
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 30)
SESSION_MAX_HOURS = env_int("SESSION_MAX_HOURS", 12)
SESSION_COOKIE_AGE = SESSION_MAX_HOURS * 3600
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.messages.middleware.MessageMiddleware") + 1,
    "tracker.session_policy.SessionPolicyMiddleware",  # after auth and messages
)

# --- Language and time ---------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static files and evidence --------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns at start-up about a missing folder
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Evidence is stored outside any served directory and only leaves through a view that checks
# the user may see the case.
EVIDENCE_ROOT = Path(os.environ.get("EVIDENCE_ROOT", VAR_DIR / "evidence"))
EVIDENCE_MAX_BYTES = env_int("EVIDENCE_MAX_MB", 20) * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Email -------------------------------------------------------------------------------
_email_host = os.environ.get("EMAIL_HOST", "").strip()
if _email_host:
    _mail_backend = "django.core.mail.backends.smtp.EmailBackend"
    _mail_options: dict[str, object] = {
        "host": _email_host,
        "port": env_int("EMAIL_PORT", 587),
        "username": os.environ.get("EMAIL_HOST_USER", ""),
        "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", True),
        "timeout": 10,
    }
elif DEBUG:
    # The demo keeps mail as files so that reminders can be read without a mail server.
    _mail_backend = "django.core.mail.backends.filebased.EmailBackend"
    _mail_options = {"file_path": str(VAR_DIR / "mail")}
else:
    # Production without a relay: every send fails (and a reminder is retried, never marked
    # sent) instead of going to a localhost:25 that is not there. The worker refuses to start
    # in this state while email is a reminder channel (reminders.checks).
    _mail_backend = "tracker.mail.NoRelayEmailBackend"
    _mail_options = {}
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": _mail_backend, "OPTIONS": _mail_options}}
else:  # Django 5.2 (Python 3.11) still reads the EMAIL_* settings.
    EMAIL_BACKEND = _mail_backend
    _names = {
        "host": "EMAIL_HOST",
        "port": "EMAIL_PORT",
        "username": "EMAIL_HOST_USER",
        "password": "EMAIL_HOST_PASSWORD",
        "use_tls": "EMAIL_USE_TLS",
        "timeout": "EMAIL_TIMEOUT",
        "file_path": "EMAIL_FILE_PATH",
    }
    globals().update({_names[key]: value for key, value in _mail_options.items()})
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "tracker@localhost")

# --- Domain settings -------------------------------------------------------------------------
# A case is "yellow" when its deadline falls within this many days.
DUE_SOON_DAYS = env_int("TRACKER_DUE_SOON_DAYS", 7)

# --- Reminders (reminders/) -------------------------------------------------------------------
# Days before the deadline at which a due-soon reminder goes out (each once).
try:
    REMINDER_DUE_SOON_DAYS = sorted(
        {int(days) for days in env_list("REMINDER_DUE_SOON_DAYS") or ["7", "1"]}, reverse=True
    )
except ValueError:
    raise ImproperlyConfigured("REMINDER_DUE_SOON_DAYS: comma-separated integers.") from None
# Overdue: on the first day past the deadline, then every this many days.
REMINDER_OVERDUE_EVERY_DAYS = env_int("REMINDER_OVERDUE_EVERY_DAYS", 7)
# Overdue by more than this many days: the supervising unit's supervisors are reminded too.
REMINDER_ESCALATION_DAYS = env_int("REMINDER_ESCALATION_DAYS", 14)
# Count days as working days (reminders.calendar: chinesecalendar, the admin's overrides).
REMINDER_WORKING_DAYS = env_bool("REMINDER_WORKING_DAYS", False)
# Remind cases waiting for higher-level coordination (待上级协调) as well.
REMINDER_REMIND_ESCALATED = env_bool("REMINDER_REMIND_ESCALATED", False)
REMINDER_CHANNELS = env_list("REMINDER_CHANNELS") or ["email", "webhook", "in_app"]
# Delivery: a sender's lease on a message, attempts before giving up, back-off between them.
REMINDER_LEASE_SECONDS = env_int("REMINDER_LEASE_SECONDS", 300)
REMINDER_MAX_ATTEMPTS = env_int("REMINDER_MAX_ATTEMPTS", 6)
REMINDER_RETRY_BASE_SECONDS = env_int("REMINDER_RETRY_BASE_SECONDS", 60)
REMINDER_RETRY_MAX_SECONDS = env_int("REMINDER_RETRY_MAX_SECONDS", 3600)
# Group bots (reminders.egress): https to public addresses only. WEBHOOK_ALLOW_HTTP lets a
# developer use plain http; WEBHOOK_TEST_ALLOW_ADDRESSES (networks, e.g. 127.0.0.1/32) lets the
# test suite reach its own local servers. Neither is accepted when debug is off.
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", False)
WEBHOOK_TEST_ALLOW_ADDRESSES = env_list("WEBHOOK_TEST_ALLOW_ADDRESSES")
if not DEBUG and (WEBHOOK_ALLOW_HTTP or WEBHOOK_TEST_ALLOW_ADDRESSES):
    raise ImproperlyConfigured(
        "WEBHOOK_ALLOW_HTTP and WEBHOOK_TEST_ALLOW_ADDRESSES are for development and tests: "
        "unset them when DJANGO_DEBUG is off."
    )
# One deadline for a whole send to a group bot (name lookup, connect, TLS, request, answer):
# at most half the lease, so a slow bot can never hold a message until its lease runs out and
# another sender sends it a second time. Default: a third of the lease, at most 30 s.
WEBHOOK_SEND_DEADLINE_SECONDS = env_int("WEBHOOK_SEND_DEADLINE_SECONDS", 0) or min(
    30, REMINDER_LEASE_SECONDS / 3
)
if not 0 < WEBHOOK_SEND_DEADLINE_SECONDS * 2 <= REMINDER_LEASE_SECONDS:
    raise ImproperlyConfigured(
        f"WEBHOOK_SEND_DEADLINE_SECONDS ({WEBHOOK_SEND_DEADLINE_SECONDS}) must be positive and "
        f"at most half of REMINDER_LEASE_SECONDS ({REMINDER_LEASE_SECONDS})."
    )
# Publishing a task from a web request waits at most this long for the broker.
REMINDER_PUBLISH_TIMEOUT_SECONDS = env_int("REMINDER_PUBLISH_TIMEOUT_SECONDS", 1)
# The site's address, for links in emails and group messages.
TRACKER_SITE_URL = os.environ.get("TRACKER_SITE_URL", "http://127.0.0.1:8000")
# Beat: the sweep (idempotent: running it often only catches up sooner) and the delivery of
# follow-ups whose task was lost and of retries. `expires` drops runs a stopped worker missed.
_sweep_seconds = env_int("REMINDER_SWEEP_MINUTES", 30) * 60
_delivery_seconds = env_int("REMINDER_DELIVERY_SECONDS", 60)
# Completion roll-ups (cases.tally): only beat builds them, never a request. Past figures
# (`as_of`) are kept for the last TALLY_SNAPSHOT_DAYS days: an older or future date is refused
# with a 400. Each run builds at most TALLY_SNAPSHOT_BUILD_PER_RUN missing snapshots (yesterday
# and the dashboard's month ends first), so a first backfill spreads over several runs.
TALLY_MAINTAIN_SECONDS = env_int("TALLY_MAINTAIN_SECONDS", 600)
TALLY_SNAPSHOT_DAYS = env_int("TALLY_SNAPSHOT_DAYS", 400)
TALLY_SNAPSHOT_BUILD_PER_RUN = env_int("TALLY_SNAPSHOT_BUILD_PER_RUN", 31)
# A past day whose snapshot is not built yet is counted from the history in the request only
# for selections of at most this many cases (a bounded query); larger ones are told to wait.
TALLY_LIVE_AS_OF_MAX_CASES = env_int("TALLY_LIVE_AS_OF_MAX_CASES", 5000)
CELERY_BEAT_SCHEDULE: dict = {
    # Completion roll-ups: new day's lights, compaction, the kept days' snapshots.
    "cases-maintain-tally": {"task": "cases.maintain_tally", "schedule": TALLY_MAINTAIN_SECONDS,
                             "options": {"expires": TALLY_MAINTAIN_SECONDS}},
    # Signed chain heads of every case's history, outside the database (cases.history_checkpoint).
    "cases-checkpoint-history": {"task": "cases.checkpoint_history", "schedule": 24 * 3600,
                                 "options": {"expires": 3600}},
    "reminders-sweep": {"task": "reminders.send_due_reminders", "schedule": _sweep_seconds,
                        "options": {"expires": _sweep_seconds}},
    "reminders-deliver": {"task": "reminders.deliver_reminders", "schedule": _delivery_seconds,
                          "options": {"expires": _delivery_seconds}},
}  # fmt: skip

# --- Ledgers (ledgers/): Excel import and export ----------------------------------------------
# Generated workbooks (and nothing else) live here, outside any served directory; they leave
# only through a view that checks the job is the user's. The web and worker processes must
# share it: the worker writes a large export, the web serves it.
LEDGER_FILES_ROOT = Path(os.environ.get("LEDGER_FILES_ROOT", VAR_DIR / "exports"))
# Up to this many rows an export is built in the request (a second or two); more runs as a
# background job with a progress bar. The API answers up to LEDGER_API_EXPORT_MAX_ROWS
# (about 10 s of openpyxl) and asks for narrower filters beyond.
LEDGER_EXPORT_INLINE_ROWS = 5000
LEDGER_API_EXPORT_MAX_ROWS = 30000
# Imports: largest upload and most rows accepted; up to LEDGER_IMPORT_INLINE_ROWS changed rows
# are written in the request, more by the worker.
LEDGER_IMPORT_MAX_MB = env_int("LEDGER_IMPORT_MAX_MB", 10)
LEDGER_IMPORT_MAX_ROWS = env_int("LEDGER_IMPORT_MAX_ROWS", 20000)
# The worker parses an upload (never the request), within these bounds, checked on the zip's
# central directory before openpyxl opens it: a cell's length (below Excel's 32767, at which
# openpyxl silently cuts a longer cell: a longer one is refused, never truncated), the
# decompressed size of all members together and of each, and each member's compression ratio
# (a sharedStrings.xml of one repeated string compresses a thousandfold; real ledgers ~10x).
LEDGER_IMPORT_MAX_CELL_CHARS = env_int("LEDGER_IMPORT_MAX_CELL_CHARS", 32000)
LEDGER_IMPORT_MAX_UNZIPPED_MB = env_int("LEDGER_IMPORT_MAX_UNZIPPED_MB", 100)
LEDGER_IMPORT_MAX_MEMBER_MB = env_int("LEDGER_IMPORT_MAX_MEMBER_MB", 60)
LEDGER_IMPORT_MAX_RATIO = env_int("LEDGER_IMPORT_MAX_RATIO", 100)
# Background exports and imports queued or running at once: per user and for the whole site
# (more is refused with 429). A job's lease: a worker renews it while it runs; beat retakes
# (or, after 3 runs, fails) a job whose lease ran out, a minute later at most (ledgers.jobs).
LEDGER_JOBS_PER_USER = env_int("LEDGER_JOBS_PER_USER", 2)
LEDGER_JOBS_GLOBAL = env_int("LEDGER_JOBS_GLOBAL", 20)
LEDGER_JOB_LEASE_SECONDS = env_int("LEDGER_JOB_LEASE_SECONDS", 300)
CELERY_BEAT_SCHEDULE["ledgers-recover-jobs"] = {
    "task": "ledgers.recover_jobs", "schedule": 60, "options": {"expires": 60}
}  # fmt: skip
LEDGER_IMPORT_INLINE_ROWS = 100
# Jobs and their files are deleted this many days after they were created (checked whenever
# a new job starts).
LEDGER_KEEP_DAYS = env_int("LEDGER_KEEP_DAYS", 7)

# Documents (公文, documents/): the 版记's 抄送 line and 印发机关 where the drafting template
# (admin: 公文模板) leaves them empty (印发机关 empty: the downloading user's unit), and the most
# cases the three lists read within a request (a table to read, not an export).
DOCUMENT_COPY_TO = os.environ.get("DOCUMENT_COPY_TO", "")
DOCUMENT_ISSUER = os.environ.get("DOCUMENT_ISSUER", "")
DOCUMENT_MAX_ROWS = env_int("DOCUMENT_MAX_ROWS", 3000)

# --- Audit log (audit/) ----------------------------------------------------------------------
# Entries older than this many days are deleted by `manage.py purge_audit` (run with the
# owner's DATABASE_URL: the runtime role cannot delete from the log). Three years by default.
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 1095)

# --- Security -----------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if django.VERSION >= (6, 0):
    # Pages carry no inline script or style (htmx, ECharts and the app's code are files), so
    # the policy needs no 'unsafe-inline'. (Django 5.2 on Python 3.11 has no CSP middleware.)
    from django.utils.csp import CSP

    MIDDLEWARE.insert(1, "django.middleware.csp.ContentSecurityPolicyMiddleware")
    SECURE_CSP = {
        "default-src": [CSP.SELF],
        "script-src": [CSP.SELF],
        "style-src": [CSP.SELF],
        "img-src": [CSP.SELF, "data:"],
        "font-src": [CSP.SELF, "data:"],
        "connect-src": [CSP.SELF],
        "object-src": [CSP.NONE],
        "base-uri": [CSP.SELF],
        "form-action": [CSP.SELF],
        "frame-ancestors": [CSP.NONE],
    }
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    # Load balancers probe /healthz over plain HTTP from inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cases.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # the browser, with CSRF
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "cases.api.permissions.ReadOnlyForApiReaders",
    ],
    "DEFAULT_PAGINATION_CLASS": "cases.api.pagination.PageNumberPagination",
    "DEFAULT_FILTER_BACKENDS": [],
    "DEFAULT_SCHEMA_CLASS": "cases.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "cases.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "cases.api.throttling.UserRateThrottle",
        "cases.api.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": os.environ.get("API_THROTTLE_USER", "1200/minute"),
        "anon": os.environ.get("API_THROTTLE_ANON", "120/minute"),
        "token": os.environ.get("API_THROTTLE_TOKEN", "20/minute"),
    },
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": True,
    # Our throttles read the address through cases.accounts.client_address; this keeps any
    # other DRF throttle from trusting X-Forwarded-For beyond the same proxies.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "整改台账 API · Rectification tracker API",
    "DESCRIPTION": (
        "Cases, workflow, history, evidence and completion figures for discipline inspection "
        "bodies. Authenticate with `Authorization: Token <token>` from `POST /api/v1/auth/token/` "
        "or the web page /accounts/tokens/ (shown once; valid API_TOKEN_TTL_DAYS days)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",  # vendored: no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "cases.workflow.Status",
        "JobStatusEnum": "ledgers.models.Job.Status",
    },
}

# --- Faults and logs (tracker/faults.py, tracker/logging.py) --------------------------------
# Every request gets an id for its log lines; a database outage answers 503, not 500.
MIDDLEWARE.insert(0, "tracker.logging.RequestContextMiddleware")
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware"),
    "tracker.faults.DatabaseUnavailableMiddleware",  # before anything that queries
)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database that does not answer a connection attempt fails the request in seconds.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5)
    )
# Celery: short broker timeouts (the worker reconnects by itself; beat retries briefly), and a
# task whose worker died is delivered again: a killed child (OOM) is re-queued at once, a
# killed worker's unacknowledged message after the visibility timeout. Every task is
# idempotent (work is claimed in the database), so a repeated delivery does it once.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_TASK_REJECT_ON_WORKER_LOST = True
if REDIS_URL:
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        {
            # Longer than any task runs, or a running task is handed to a second worker.
            "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
            # Seconds between a worker's checks for such messages (kombu: 10 s × 10 calls).
            "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_SECONDS", 60),
            "unacked_restore_throttle": 1,
            # A worker killed during such a check leaves its lock behind: held this long, not
            # kombu's 5 minutes (a restore is a transaction on the message: never done twice).
            "unacked_mutex_expire": 10,
        }
    )
# LOG_FORMAT=json (one JSON object per line, python-json-logger; the default with debug off)
# or text; the LOGGING dict for it (tracker/logging.py).
LOG_FORMAT, LOGGING = log_settings(
    os.environ.get("LOG_FORMAT", ""), debug=DEBUG, level=os.environ.get("DJANGO_LOG_LEVEL", "INFO")
)
# JSON: the worker logs through the handler above instead of installing Celery's text format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"
