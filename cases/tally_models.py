"""The tables of the completion roll-ups (`cases.tally`), imported by `cases.models`.

Kept by the triggers declared on `Case` and `CaseEvent` (their SQL: `cases.tally_sql`) in the
same transaction as every case write, so the completion figures of a province's million cases
are sums over a few thousand rows.
"""

from __future__ import annotations

from django.db import models

from .tally_sql import FIGURE_COLUMNS


class _Figures(models.Model):
    """Counts of one group of cases; a row is a delta until compaction adds rows up."""

    inspection = models.ForeignKey(
        "cases.Inspection", models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    responsible_unit = models.ForeignKey(
        "cases.Unit", models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    supervising_unit = models.ForeignKey(
        "cases.Unit", models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    region = models.ForeignKey(
        "cases.Unit", models.DO_NOTHING, db_constraint=False, null=True, related_name="+"
    )

    class Meta:
        abstract = True


for _column in FIGURE_COLUMNS:
    _Figures.add_to_class(_column, models.IntegerField(default=0))


class CompletionTally(_Figures):
    """The figures now: lights are relative to `TallyDay.day`."""

    class Meta:
        indexes = [models.Index(fields=["inspection"], name="tally_inspection")]

    def __str__(self) -> str:
        return f"tally {self.inspection_id}/{self.responsible_unit_id}"


class CompletionSnapshot(_Figures):
    """The figures as of the end of a past day, rebuilt once from the history."""

    day = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["day", "inspection"], name="snapshot_day")]

    def __str__(self) -> str:
        return f"snapshot {self.day} {self.inspection_id}/{self.responsible_unit_id}"


class TallyDay(models.Model):
    """One row: the day and due-soon window the live tally's lights are computed for, the time
    zone of its days, and the day's working-day boundaries (`cases.lights.Bounds`) with the key
    of the calendar they were computed from (`tally_sql.CALENDAR_KEY_SQL`). Written by
    `tally.refresh` from the settings and the calendar; the triggers read it (so a changed
    setting, calendar day or inspection's working-day flag reaches them when beat rebuilds the
    tally, not at migrate time)."""

    day = models.DateField()
    due_soon_days = models.PositiveIntegerField()
    time_zone = models.CharField(max_length=64)
    # Working-day inspections: the latest red and the latest yellow deadline on `day`.
    work_red = models.DateField(null=True)
    work_soon = models.DateField(null=True)
    calendar_key = models.CharField(max_length=64, blank=True, default="", db_default="")

    def __str__(self) -> str:
        return f"tally day {self.day}"
