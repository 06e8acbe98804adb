"""Grant the application's runtime database role exactly what the app needs, nothing more.

    DATABASE_URL=<the owner's> python manage.py grant_runtime_role tracker_app

Two roles: the owner (owns the tables, runs `migrate`, this command and maintenance commands
such as `seal_history` and `generate_cases`) and the runtime role that web, worker and beat
connect as. Run it after every `migrate` (new tables get no privilege until it runs again);
PostgreSQL only. It creates nothing (the role must exist, created NOSUPERUSER by whoever
administers the cluster) and is idempotent: it first revokes everything the role holds on the
schema's tables and sequences, then grants:

- USAGE on the schema (not CREATE); USAGE on every sequence (ids of new rows);
- SELECT, INSERT, UPDATE, DELETE on ordinary tables (sessions, tokens, lockouts, jobs, the
  tally's tables, whose compaction deletes rows, in its triggers too);
- only SELECT and INSERT on the append-only history and audit tables (APPEND_ONLY);
- on the reminder, delivery and notification ledgers SELECT, INSERT and UPDATE of the
  delivery-state columns only (LEDGER_STATE): never DELETE, never an UPDATE of who, what or
  when was queued; likewise on the restricted grants, UPDATE of the revocation's columns only;
- only SELECT on Django's record of applied migrations.

Never TRUNCATE, REFERENCES, TRIGGER or ownership: the runtime role cannot alter a table,
disable a trigger or empty a ledger.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

# Tables whose rows are never changed once written.
APPEND_ONLY = ("cases_caseevent", "cases_evidence", "audit_auditentry")
# Ledgers of what was sent to whom and when: the columns a sender updates to record delivery.
LEDGER_STATE = {
    "reminders_reminder": ("status", "sent_at", "delivery_id"),
    "reminders_delivery": (
        "status",
        "attempts",
        "next_attempt_at",
        "claimed_until",
        "claim_token",
        "last_error",
        "errors",
        "sent_at",
    ),
    "reminders_notification": ("read_at",),
    # And the grants of restricted ledgers, a record too: only their revocation is written
    # (cases.record_guards; a session that asks django-pgtrigger to skip that trigger still
    # cannot rewrite who was granted what, or delete a grant).
    "cases_restrictedgrant": ("revoked_by_id", "revoked_at", "revoke_reason"),
}
READ_ONLY = ("django_migrations",)


class Command(BaseCommand):
    help = (
        "Grant ROLE (the runtime database role of web, worker and beat) only what the app "
        "needs: no DDL, no TRUNCATE, history append-only, ledgers without DELETE. Run as the "
        "tables' owner after every migrate. PostgreSQL only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", help="The runtime role (it must already exist).")

    def handle(self, *args: Any, role: str, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("grant_runtime_role works on PostgreSQL only.")
        quote = connection.ops.quote_name
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles "
                "WHERE rolname = %s",
                [role],
            )
            found = cursor.fetchone()
            if found is None:
                raise CommandError(f"No role {role!r}: create it first (NOSUPERUSER, LOGIN).")
            if any(found):
                raise CommandError(
                    f"Role {role!r} is a superuser or may create roles or databases or bypass "
                    "row security: the runtime role must be none of these."
                )
            cursor.execute("SELECT current_user, current_schema()")
            owner, schema = cursor.fetchone()
            if owner == role:
                raise CommandError("Run this as the tables' owner, for another (runtime) role.")
            cursor.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') "
                "AND pg_get_userbyid(c.relowner) = %s",
                [schema, role],
            )
            owned = [name for (name,) in cursor.fetchall()]
            if owned:
                raise CommandError(f"Role {role!r} owns tables ({', '.join(owned[:5])}).")
            tables = _tables(cursor, schema)
            statements = grants(quote, schema, role, tables)
            for statement in statements:
                cursor.execute(statement)
        append_only = sorted(set(APPEND_ONLY) & set(tables))
        self.stdout.write(
            self.style.SUCCESS(
                f"Granted {role} its runtime privileges on {len(tables)} tables of {schema} "
                f"(append-only: {', '.join(append_only)})."
            )
        )


def _tables(cursor: Any, schema: str) -> list[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname",
        [schema],
    )
    return [name for (name,) in cursor.fetchall()]


def grants(quote: Any, schema: str, role: str, tables: list[str]) -> list[str]:
    """The statements, in order: revoke everything, then grant exactly the runtime's needs."""
    r, s = quote(role), quote(schema)
    statements = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r}",
        f"REVOKE ALL ON SCHEMA {s} FROM {r}",
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
    ]
    for table in tables:
        t = f"{s}.{quote(table)}"
        if table in APPEND_ONLY:
            statements.append(f"GRANT SELECT, INSERT ON {t} TO {r}")
        elif table in LEDGER_STATE:
            columns = ", ".join(quote(column) for column in LEDGER_STATE[table])
            statements.append(f"GRANT SELECT, INSERT ON {t} TO {r}")
            statements.append(f"GRANT UPDATE ({columns}) ON {t} TO {r}")
        elif table in READ_ONLY:
            statements.append(f"GRANT SELECT ON {t} TO {r}")
        else:
            statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {t} TO {r}")
    return statements
