"""Time in a generated province: every moment is an offset in seconds from the start of
`today` (local time), every date an ordinal; the writers turn them into values or text."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

from django.utils import timezone

DAY = 86400


class Clock:
    """Offsets (seconds from the start of `today`, local time) to dates and moments."""

    def __init__(self, today: date) -> None:
        self.today = today
        self.today_ord = today.toordinal()
        self.base = timezone.make_aware(datetime.combine(today, dtime.min))
        self.base_utc = self.base.astimezone(UTC).replace(tzinfo=None)
        self._dates: dict[int, date] = {}
        self._isos: dict[int, str] = {}
        self._utc_day0 = self.base_utc.date().toordinal()
        self._utc_shift = (
            self.base_utc - datetime.combine(self.base_utc.date(), dtime.min)
        ).seconds
        self._utc_days: dict[int, tuple[str, str]] = {}
        seconds = [
            f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)
        ]
        self._clock_texts = [f"{hms}+00" for hms in seconds]
        self._chain_texts = [f"{hms}.000000Z" for hms in seconds]

    def at(self, offset: int) -> datetime:
        """The moment, in UTC (offsets count real seconds, as `utc_text` does)."""
        return (self.base_utc + timedelta(seconds=offset)).replace(tzinfo=UTC)

    def _day_prefixes(self, day: int) -> tuple[str, str]:
        prefixes = self._utc_days.get(day)
        if prefixes is None:
            iso = date.fromordinal(self._utc_day0 + day).isoformat()
            prefixes = self._utc_days[day] = (f"{iso} ", f"{iso}T")
        return prefixes

    def utc_text(self, offset: int) -> str:
        """The moment as PostgreSQL timestamptz text, in UTC ("2025-06-01 02:03:04+00")."""
        day, second = divmod(offset + self._utc_shift, DAY)
        return self._day_prefixes(day)[0] + self._clock_texts[second]

    def moment_texts(self, offset: int) -> tuple[str, str]:
        """The moment as `utc_text` gives it and as the history's seal takes it
        (`history_chain.moment_text`: "2025-06-01T02:03:04.000000Z")."""
        day, second = divmod(offset + self._utc_shift, DAY)
        prefixes = self._day_prefixes(day)
        return prefixes[0] + self._clock_texts[second], prefixes[1] + self._chain_texts[second]

    def day_of(self, offset: int) -> int:
        """The local date (ordinal) of a moment. `base` is a local midnight and no DST shift
        is assumed within the generated span (true of China Standard Time)."""
        return self.today_ord + offset // DAY

    def date(self, ordinal: int) -> date:
        value = self._dates.get(ordinal)
        if value is None:
            value = self._dates[ordinal] = date.fromordinal(ordinal)
        return value

    def iso(self, ordinal: int) -> str:
        value = self._isos.get(ordinal)
        if value is None:
            value = self._isos[ordinal] = date.fromordinal(ordinal).isoformat()
        return value
