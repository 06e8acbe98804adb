"""Forgeries of the audit log done as the database superuser without HISTORY_SEAL_KEY: each
time the attacker recomputes everything that needs no key (numbering, times, a hash with a
guessed key), and the verifier names the entry. The untouched log passes; so does a log
shortened by `purge_audit`, and nothing else."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, InternalError, ProgrammingError, connection, transaction
from django.utils import timezone

from audit import integrity
from audit.integrity import audit_head, entry_payload, verify_audit
from audit.models import AuditEntry
from audit.services import audit_purge, audit_record
from cases import sealing
from tests.factories import make_unit

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="forgeries are written as a PostgreSQL superuser"
    ),
]

Action = AuditEntry.Action
REFUSED = (InternalError, ProgrammingError)  # the trigger's insufficient_privilege


def record(n: int = 5) -> list[AuditEntry]:
    return [
        audit_record(actor=None, action=Action.UNIT_UPDATE, note=f"entry {i}") for i in range(n)
    ]


def as_superuser(sql: str, params: list | None = None) -> None:
    """What someone with the database's superuser does: switch the triggers off and write."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params or [])


def reasons() -> set[str]:
    return {problem.reason for problem in verify_audit()}


def unkeyed_seal(prev: str, row: AuditEntry) -> str:
    """The seal an attacker computes: the algorithm is public, the key is not."""
    import hashlib
    import hmac

    values = {name: getattr(row, name) for name in integrity.SEALED_FIELDS}
    payload = entry_payload(values).encode()
    return hmac.new(b"guessed-key", prev.encode() + b"\n" + payload, hashlib.sha256).hexdigest()


def test_it_passes_an_untouched_log(world):
    record()
    assert verify_audit() == []
    seqs = list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


def test_it_seals_with_the_key(world, settings):
    record(2)
    settings.HISTORY_SEAL_KEY = "another-key"
    assert "edited" in reasons()


def test_it_refuses_update_and_delete_at_the_database(world):
    entry = record(1)[0]
    with pytest.raises(REFUSED), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(note="changed")
    with pytest.raises(REFUSED), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).note == entry.note


def test_it_catches_an_edited_entry(world):
    entry = record()[2]
    as_superuser("UPDATE audit_auditentry SET note = 'nothing happened' WHERE id = %s", [entry.pk])
    problems = verify_audit()
    assert [(p.seq, p.reason) for p in problems] == [(entry.seq, "edited")]
    assert f"#{entry.seq}" in str(problems[0])


def test_it_catches_an_edit_with_a_recomputed_seal(world):
    entries = record()
    target = entries[2]
    target.note = "nothing happened"
    forged = unkeyed_seal(entries[1].seal, target)
    as_superuser(
        "UPDATE audit_auditentry SET note = %s, seal = %s WHERE id = %s",
        [target.note, forged, target.pk],
    )
    assert (target.seq, "edited") in {(p.seq, p.reason) for p in verify_audit()}


def test_it_catches_a_back_dated_entry(world):
    entry = record()[3]
    earlier = entry.at - timedelta(days=30)
    as_superuser("UPDATE audit_auditentry SET at = %s WHERE id = %s", [earlier, entry.pk])
    found = {(p.seq, p.reason) for p in verify_audit()}
    assert (entry.seq, "edited") in found
    assert (entry.seq, "time") in found


def test_it_catches_a_deleted_entry_even_when_the_rest_is_renumbered(world):
    entries = record()
    gone = entries[1]
    as_superuser("DELETE FROM audit_auditentry WHERE id = %s", [gone.pk])
    assert (gone.seq + 1, "missing") in {(p.seq, p.reason) for p in verify_audit()}
    # The attacker closes the gap: every later entry moves down by one.
    as_superuser("UPDATE audit_auditentry SET seq = seq - 1 WHERE seq > %s", [gone.seq])
    found = {(p.seq, p.reason) for p in verify_audit()}
    assert (gone.seq, "edited") in found


def test_it_catches_an_inserted_copy(world):
    entries = record()
    copy = entries[-1]
    as_superuser(
        "INSERT INTO audit_auditentry (seq, at, actor_role, action, target_type, target_id, "
        "target_label, changes, ip_address, path, note, seal) "
        "SELECT seq + 1, at, actor_role, action, target_type, target_id, target_label, "
        "changes, ip_address, path, note, seal FROM audit_auditentry WHERE id = %s",
        [copy.pk],
    )
    assert (copy.seq + 1, "edited") in {(p.seq, p.reason) for p in verify_audit()}


def test_it_catches_an_entry_in_the_future(world):
    entry = record()[-1]
    later = timezone.now() + timedelta(days=2)
    as_superuser("UPDATE audit_auditentry SET at = %s WHERE id = %s", [later, entry.pk])
    assert (entry.seq, "time") in {(p.seq, p.reason) for p in verify_audit()}


def test_it_catches_a_deleted_tail_against_a_checkpoint(world):
    record()
    head = audit_head()
    assert head is not None
    as_superuser("DELETE FROM audit_auditentry WHERE seq = %s", [head[0]])
    # The shorter chain is whole: only the checkpoint kept outside the database tells.
    assert verify_audit() == []
    problems = verify_audit(checkpoint=head)
    assert [p.reason for p in problems] == ["checkpoint"]
    assert verify_audit(checkpoint=audit_head()) == []


def test_it_catches_a_deleted_beginning_without_a_purge(world):
    record()
    as_superuser("DELETE FROM audit_auditentry WHERE seq <= 2")
    assert (3, "missing") in {(p.seq, p.reason) for p in verify_audit()}


def test_it_purges_old_entries_and_logs_the_purge(world, settings):
    settings.AUDIT_RETENTION_DAYS = 30
    old = record(3)
    # The old entries were written 40 days ago (the superuser moves them back, and seals
    # them again with the key, as if time had passed).
    as_superuser("UPDATE audit_auditentry SET at = at - interval '40 days'")
    prev = ""
    for row in AuditEntry.objects.order_by("seq"):
        values = {name: getattr(row, name) for name in integrity.SEALED_FIELDS}
        prev = sealing.seal(prev, entry_payload(values))
        as_superuser("UPDATE audit_auditentry SET seal = %s WHERE id = %s", [prev, row.pk])
    assert verify_audit() == []
    last_old = AuditEntry.objects.get(pk=old[-1].pk)
    kept = AuditEntry.objects.filter(seq__gt=last_old.seq).count()
    assert kept == 0
    new = record(2)

    assert audit_purge() == last_old.seq
    remaining = list(AuditEntry.objects.order_by("seq"))
    assert [e.pk for e in remaining[:2]] == [e.pk for e in new]
    purge = remaining[-1]
    assert purge.action == Action.AUDIT_PURGE
    assert purge.changes["anchor_seq"] == last_old.seq
    assert purge.changes["anchor_seal"] == last_old.seal
    assert purge.changes["purged"] == last_old.seq
    assert verify_audit() == []
    assert audit_purge() == 0  # nothing older is left


def test_it_refuses_deleting_beyond_a_purge_anchor(world, settings):
    settings.AUDIT_RETENTION_DAYS = 0
    entries = record(3)
    purged = audit_purge()
    assert purged == entries[-1].seq
    survivor = record(1)[0]
    with pytest.raises(REFUSED), transaction.atomic():
        AuditEntry.objects.filter(pk=survivor.pk).delete()


def test_it_keeps_one_chain_under_concurrent_writers(transactional_db):
    make_unit("并发")
    errors: list[Exception] = []
    barrier = threading.Barrier(4)

    def write() -> None:
        try:
            barrier.wait()
            for _ in range(10):
                with transaction.atomic():
                    audit_record(actor=None, action=Action.UNIT_UPDATE)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert AuditEntry.objects.count() == 41
    assert verify_audit() == []


def test_it_refuses_two_entries_with_one_number(world):
    entry = record(1)[0]
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEntry.objects.create(seq=entry.seq, action=Action.UNIT_UPDATE, seal="x")
