"""The database keeps the audit log append-only, on PostgreSQL and on SQLite (the demo).

UPDATE is refused, whoever asks. DELETE is refused too, except of entries up to the anchor of
a recorded purge: `purge_audit` first appends an `audit_purge` entry naming the last entry it
deletes (`changes.anchor_seq`), then deletes up to it. The guard reads that from the table
itself, so it depends on no setting and no session state. A forged purge entry (anyone who
may INSERT can write one) does not carry a valid seal, and `verify_history` names it; the
runtime role has no DELETE privilege on the table in the first place.

TRUNCATE is left to the table privilege, as for the case history (the test runner empties
tables with it). On SQLite, a later migration that alters this table makes Django rebuild it,
which drops these triggers: such a migration must create them again.
"""

from django.db import migrations

PG_CREATE = """
CREATE OR REPLACE FUNCTION audit_auditentry_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (
        SELECT 1 FROM audit_auditentry AS purge
        WHERE purge.action = 'audit_purge'
          AND purge.seq > OLD.seq
          AND (purge.changes ->> 'anchor_seq')::bigint >= OLD.seq
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit log is append-only: %% on audit_auditentry refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_auditentry_append_only
    BEFORE UPDATE OR DELETE ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_auditentry_append_only();
"""

PG_DROP = """
DROP TRIGGER IF EXISTS audit_auditentry_append_only ON audit_auditentry;
DROP FUNCTION IF EXISTS audit_auditentry_append_only();
"""

SQLITE_CREATE = [
    """
    CREATE TRIGGER audit_auditentry_no_update BEFORE UPDATE ON audit_auditentry
    BEGIN
        SELECT RAISE(ABORT, 'audit log is append-only: UPDATE on audit_auditentry refused');
    END
    """,
    """
    CREATE TRIGGER audit_auditentry_no_delete BEFORE DELETE ON audit_auditentry
    WHEN NOT EXISTS (
        SELECT 1 FROM audit_auditentry AS purge
        WHERE purge.action = 'audit_purge'
          AND purge.seq > OLD.seq
          AND CAST(json_extract(purge.changes, '$.anchor_seq') AS INTEGER) >= OLD.seq
    )
    BEGIN
        SELECT RAISE(ABORT, 'audit log is append-only: DELETE on audit_auditentry refused');
    END
    """,
]

SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS audit_auditentry_no_update",
    "DROP TRIGGER IF EXISTS audit_auditentry_no_delete",
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_CREATE)
    elif vendor == "sqlite":
        for statement in SQLITE_CREATE:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DROP)
    elif vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
