"""Hash-chain the case history (see `cases.history_chain`).

Adds `seq`, `prev_hash` and `hash` to the events and the chain's head to the cases, then
chains the existing history of every case in its timeline order (created_at, id), in batches
of cases, so that `manage.py verify_history` passes right after the upgrade. The append-only
trigger is disabled for that one fill, within this migration's transaction.

The hash is version 1 of the chain (unkeyed SHA-256), copied here so that this migration
means the same thing forever; `manage.py seal_history` later verifies these chains and seals
them with the key (version 2, `cases.history_chain`).
"""

import hashlib
import json
from datetime import UTC, date, datetime

from django.db import migrations, models
from django.utils import timezone

BATCH = 1000  # cases per batch

EVENT_COLUMNS = (
    "id",
    "case_id",
    "kind",
    "from_status",
    "to_status",
    "deadline",
    "was_overdue",
    "note",
    "actor_id",
    "actor_unit_id",
    "created_at",
    "changes",
)

UPDATE_EVENTS = """
UPDATE cases_caseevent AS e SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash
FROM unnest(%s::bigint[], %s::integer[], %s::varchar[], %s::varchar[])
    AS v(id, seq, prev_hash, hash)
WHERE e.id = v.id
"""
UPDATE_CASES = """
UPDATE cases_case AS c SET history_head = v.head, history_length = v.length
FROM unnest(%s::bigint[], %s::varchar[], %s::integer[]) AS v(id, head, length)
WHERE c.id = v.id
"""


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


def _normal(value):
    if isinstance(value, dict):
        return {str(key): _normal(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(item) for item in value]
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def _date_text(value):
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        value = value.date()
    return value.isoformat()


def _moment_text(value):
    offset = value.utcoffset()
    if offset is None:
        value = timezone.make_aware(value, timezone.get_default_timezone()).astimezone(UTC)
    elif offset:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def event_hash(
    *, case_id, seq, prev_hash, kind, from_status, to_status, deadline, was_overdue, note,
    actor_id, actor_unit_id, created_at, changes,
):  # fmt: skip
    """Version 1: SHA-256 of [1, case_id, seq, prev_hash, kind, …, created_at, changes]."""
    head = _encode(
        [1, case_id, seq, prev_hash, kind, from_status, to_status, _date_text(deadline)]
        + [bool(was_overdue), note, actor_id, actor_unit_id, _moment_text(created_at)]
    )
    body = _encode(_normal(changes if changes is not None else {}))
    return hashlib.sha256(f"{head[:-1]},{body}]".encode()).hexdigest()


def chain_existing(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    CaseEvent = apps.get_model("cases", "CaseEvent")
    db = schema_editor.connection.alias
    postgres = schema_editor.connection.vendor == "postgresql"
    if not CaseEvent.objects.using(db).exists():
        return
    if postgres:
        schema_editor.execute(
            "ALTER TABLE cases_caseevent DISABLE TRIGGER cases_caseevent_append_only"
        )
    last = 0
    while True:
        ids = list(
            Case.objects.using(db)
            .filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH]
        )
        if not ids:
            break
        first, last = ids[0], ids[-1]
        rows = (
            CaseEvent.objects.using(db)
            .filter(case_id__gte=first, case_id__lte=last)
            .order_by("case_id", "created_at", "pk")
            .values_list(*EVENT_COLUMNS)
        )
        heads: dict[int, tuple[str, int]] = {}
        events: list[tuple[int, int, str, str]] = []
        for row in rows.iterator(chunk_size=5000):
            values = dict(zip(EVENT_COLUMNS, row, strict=True))
            event_id, case_id = values.pop("id"), values["case_id"]
            prev, seq = heads.get(case_id, ("", 0))
            seq += 1
            digest = event_hash(seq=seq, prev_hash=prev, **values)
            heads[case_id] = (digest, seq)
            events.append((event_id, seq, prev, digest))
        if not events:
            continue
        if postgres:
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(
                    UPDATE_EVENTS, [list(column) for column in zip(*events, strict=True)]
                )
                cursor.execute(
                    UPDATE_CASES,
                    [
                        list(heads),
                        [head for head, _ in heads.values()],
                        [length for _, length in heads.values()],
                    ],
                )
        else:
            CaseEvent.objects.using(db).bulk_update(
                [
                    CaseEvent(pk=event_id, seq=seq, prev_hash=prev, hash=digest)
                    for event_id, seq, prev, digest in events
                ],
                ["seq", "prev_hash", "hash"],
                batch_size=500,
            )
            Case.objects.using(db).bulk_update(
                [
                    Case(pk=case_id, history_head=head, history_length=length)
                    for case_id, (head, length) in heads.items()
                ],
                ["history_head", "history_length"],
                batch_size=500,
            )
    if postgres:
        schema_editor.execute(
            "ALTER TABLE cases_caseevent ENABLE TRIGGER cases_caseevent_append_only"
        )


class Migration(migrations.Migration):
    dependencies = [("cases", "0004_leaner_indexes_unique_root_units")]

    operations = [
        migrations.AddField(
            model_name="case",
            name="history_head",
            field=models.CharField(blank=True, default="", editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="case",
            name="history_length",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="caseevent",
            name="seq",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="caseevent",
            name="prev_hash",
            field=models.CharField(blank=True, default="", editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="caseevent",
            name="hash",
            field=models.CharField(blank=True, default="", editable=False, max_length=64),
        ),
        migrations.RunPython(chain_existing, migrations.RunPython.noop),
    ]
