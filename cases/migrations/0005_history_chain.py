"""Hash-chain the case history (see `cases.history_chain`).

Adds `seq`, `prev_hash` and `hash` to the events and the chain's head to the cases, then
chains the existing history of every case in its timeline order (created_at, id), in batches
of cases, so that `manage.py verify_history` passes right after the upgrade. The append-only
trigger is disabled for that one fill, within this migration's transaction.
"""

from django.db import migrations, models

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


def chain_existing(apps, schema_editor):
    from cases.history_chain import event_hash

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
