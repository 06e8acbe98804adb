"""What PostgreSQL itself refuses of the case records, whoever asks: the application, the
admin, or someone with a SQL prompt and the application's credentials. Declared here in
Python and named in the models' `Meta.triggers`; django-pgtrigger writes the migrations that
install them.

- The case history (`CaseEvent`) is append-only: UPDATE and DELETE of a row are refused.
- A restricted grant (`RestrictedGrant`) is a record: a row is never deleted, and the one
  change it may take is its revocation, once (revoked_by, revoked_at, revoke_reason set on a
  live row, nothing else touched).

TRUNCATE is left to the table privilege (the runtime role has none), because the test runner
empties tables with it. A session may ask django-pgtrigger to skip a trigger (its
`pgtrigger.ignore` setting); the runtime role's privileges (`grant_runtime_role`) stop that
session too: no UPDATE or DELETE of the history at all, and of a grant only an UPDATE of the
revocation's columns. The SQLite demo has its own guard of the history (`history_guard`).
"""

from __future__ import annotations

import pgtrigger

HISTORY_APPEND_ONLY = pgtrigger.Trigger(
    name="append_only",
    when=pgtrigger.Before,
    operation=pgtrigger.Update | pgtrigger.Delete,
    func="""
    RAISE EXCEPTION 'case history is append-only: % on cases_caseevent refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
    """,
)

GRANT_REVOKED_ONCE = pgtrigger.Trigger(
    name="record_only",
    when=pgtrigger.Before,
    operation=pgtrigger.Update | pgtrigger.Delete,
    func="""
    IF TG_OP = 'UPDATE'
        AND OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL AND NEW.revoked_by_id IS NOT NULL
        AND NEW.id = OLD.id AND NEW.inspection_id = OLD.inspection_id
        AND NEW.unit_id = OLD.unit_id AND NEW.reason = OLD.reason
        AND NEW.granted_by_id = OLD.granted_by_id AND NEW.granted_at = OLD.granted_at
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'restricted grants are a record: % on cases_restrictedgrant refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
    """,
)


def trigger_name(uri: str) -> str:
    """The name in the database of a declared trigger (`app_label.Model:name`), for an
    owner's `ALTER TABLE … DISABLE TRIGGER`."""
    ((model, trigger),) = pgtrigger.registered(uri)
    return trigger.get_pgid(model)
