"""Public holidays and make-up working days (调休) of mainland China, as shipped with the
project. Loaded into `CalendarDay` by a data migration; admins correct and extend it there.

Sources:
- 2025: 国务院办公厅关于2025年部分节假日安排的通知（国办发明电〔2024〕12号, 2024-11-12）.
- 2026: 国务院办公厅关于2026年部分节假日安排的通知（国办发明电〔2025〕7号, 2025-11）.
- 2027: ASSUMPTION. The 2027 notice was not available when this was written. The days below
  are only what the law fixes by itself: the statutory holidays of the 《全国年节及纪念日放假
  办法》 as revised in November 2024 (New Year 1 day, Spring Festival 4 days from New Year's
  Eve, Qingming 1, Labour Day 2, Dragon Boat 1, Mid-Autumn 1, National Day 3) on their 2027
  dates, plus the weekday given in lieu when one falls on a weekend (补休). The bridging days
  the State Council adds and the weekend days worked in exchange are NOT included: replace the
  year in the admin when the notice is published (usually in November).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

SOURCE_2025 = "国务院办公厅关于2025年部分节假日安排的通知（国办发明电〔2024〕12号）"
SOURCE_2026 = "国务院办公厅关于2026年部分节假日安排的通知（国办发明电〔2025〕7号）"
SOURCE_2027 = (
    "推定：2027年通知未发布前，仅按《全国年节及纪念日放假办法》法定假日及周末补休推定，"
    "未含调休；通知发布后请按通知修改"
)

# (name, first day off, last day off, weekend days worked in exchange, source)
ARRANGEMENTS: list[tuple[str, date, date, tuple[date, ...], str]] = [
    # 2025
    ("元旦", date(2025, 1, 1), date(2025, 1, 1), (), SOURCE_2025),
    ("春节", date(2025, 1, 28), date(2025, 2, 4), (date(2025, 1, 26), date(2025, 2, 8)),
     SOURCE_2025),
    ("清明节", date(2025, 4, 4), date(2025, 4, 6), (), SOURCE_2025),
    ("劳动节", date(2025, 5, 1), date(2025, 5, 5), (date(2025, 4, 27),), SOURCE_2025),
    ("端午节", date(2025, 5, 31), date(2025, 6, 2), (), SOURCE_2025),
    ("国庆节、中秋节", date(2025, 10, 1), date(2025, 10, 8),
     (date(2025, 9, 28), date(2025, 10, 11)), SOURCE_2025),
    # 2026
    ("元旦", date(2026, 1, 1), date(2026, 1, 3), (date(2026, 1, 4),), SOURCE_2026),
    ("春节", date(2026, 2, 15), date(2026, 2, 23), (date(2026, 2, 14), date(2026, 2, 28)),
     SOURCE_2026),
    ("清明节", date(2026, 4, 4), date(2026, 4, 6), (), SOURCE_2026),
    ("劳动节", date(2026, 5, 1), date(2026, 5, 5), (date(2026, 5, 9),), SOURCE_2026),
    ("端午节", date(2026, 6, 19), date(2026, 6, 21), (), SOURCE_2026),
    ("中秋节", date(2026, 9, 25), date(2026, 9, 27), (), SOURCE_2026),
    ("国庆节", date(2026, 10, 1), date(2026, 10, 7), (date(2026, 9, 20), date(2026, 10, 10)),
     SOURCE_2026),
    # 2027 (assumption, see above): New Year's Day is a Friday; New Year's Eve 2027-02-05
    # (Fri) to the third day 02-08, with 02-06/07 (weekend) given back on 02-09/10; Qingming
    # 04-05 (Mon) joins the weekend; Labour Day 05-01/02 (weekend) given back on 05-03/04;
    # Dragon Boat 06-09 and Mid-Autumn 09-15 are Wednesdays (one day only, by the 2025 rule);
    # National Day 10-01 to 03 with 10-02/03 (weekend) given back on 10-04/05.
    ("元旦", date(2027, 1, 1), date(2027, 1, 3), (), SOURCE_2027),
    ("春节", date(2027, 2, 5), date(2027, 2, 10), (), SOURCE_2027),
    ("清明节", date(2027, 4, 3), date(2027, 4, 5), (), SOURCE_2027),
    ("劳动节", date(2027, 5, 1), date(2027, 5, 4), (), SOURCE_2027),
    ("端午节", date(2027, 6, 9), date(2027, 6, 9), (), SOURCE_2027),
    ("中秋节", date(2027, 9, 15), date(2027, 9, 15), (), SOURCE_2027),
    ("国庆节", date(2027, 10, 1), date(2027, 10, 5), (), SOURCE_2027),
]  # fmt: skip


def calendar_days() -> list[dict[str, Any]]:
    """Every shipped day as CalendarDay field values."""
    days: list[dict[str, Any]] = []
    for name, first, last, worked, source in ARRANGEMENTS:
        day = first
        while day <= last:
            days.append({"date": day, "kind": "holiday", "name": name, "source": source})
            day += timedelta(days=1)
        days += [
            {"date": day, "kind": "workday", "name": f"{name}调休", "source": source}
            for day in worked
        ]
    return days


def load_calendar(model: Any) -> int:
    """Insert the shipped days that are missing; a day an admin already edited is kept.

    `model` is CalendarDay, or its historical version inside a migration."""
    existing = set(model.objects.values_list("date", flat=True))
    missing = [model(**values) for values in calendar_days() if values["date"] not in existing]
    model.objects.bulk_create(missing, ignore_conflicts=True)
    return len(missing)
