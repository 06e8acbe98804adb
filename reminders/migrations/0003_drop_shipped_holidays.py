"""Remove the holiday rows that 0002 used to load (the project's hand-kept 2025–2027 table):
the national calendar now comes from the `chinesecalendar` package, and CalendarDay keeps only
the site's own overrides. Only rows exactly as shipped are removed: a row an admin edited (or
added) stays and keeps overriding the library.

The shipped rows are frozen here, so the migration means the same thing forever.
"""

from django.db import migrations

SOURCES = {
    2025: '国务院办公厅关于2025年部分节假日安排的通知（国办发明电〔2024〕12号）',
    2026: '国务院办公厅关于2026年部分节假日安排的通知（国办发明电〔2025〕7号）',
    2027: '推定：2027年通知未发布前，仅按《全国年节及纪念日放假办法》法定假日及周末补休推定，未含调休；通知发布后请按通知修改',
}
# (date, kind, name, year of its source)
SHIPPED = [
    ('2025-01-01', 'holiday', '元旦', 2025),
    ('2025-01-28', 'holiday', '春节', 2025),
    ('2025-01-29', 'holiday', '春节', 2025),
    ('2025-01-30', 'holiday', '春节', 2025),
    ('2025-01-31', 'holiday', '春节', 2025),
    ('2025-02-01', 'holiday', '春节', 2025),
    ('2025-02-02', 'holiday', '春节', 2025),
    ('2025-02-03', 'holiday', '春节', 2025),
    ('2025-02-04', 'holiday', '春节', 2025),
    ('2025-01-26', 'workday', '春节调休', 2025),
    ('2025-02-08', 'workday', '春节调休', 2025),
    ('2025-04-04', 'holiday', '清明节', 2025),
    ('2025-04-05', 'holiday', '清明节', 2025),
    ('2025-04-06', 'holiday', '清明节', 2025),
    ('2025-05-01', 'holiday', '劳动节', 2025),
    ('2025-05-02', 'holiday', '劳动节', 2025),
    ('2025-05-03', 'holiday', '劳动节', 2025),
    ('2025-05-04', 'holiday', '劳动节', 2025),
    ('2025-05-05', 'holiday', '劳动节', 2025),
    ('2025-04-27', 'workday', '劳动节调休', 2025),
    ('2025-05-31', 'holiday', '端午节', 2025),
    ('2025-06-01', 'holiday', '端午节', 2025),
    ('2025-06-02', 'holiday', '端午节', 2025),
    ('2025-10-01', 'holiday', '国庆节、中秋节', 2025),
    ('2025-10-02', 'holiday', '国庆节、中秋节', 2025),
    ('2025-10-03', 'holiday', '国庆节、中秋节', 2025),
    ('2025-10-04', 'holiday', '国庆节、中秋节', 2025),
    ('2025-10-05', 'holiday', '国庆节、中秋节', 2025),
    ('2025-10-06', 'holiday', '国庆节、中秋节', 2025),
    ('2025-10-07', 'holiday', '国庆节、中秋节', 2025),
    ('2025-10-08', 'holiday', '国庆节、中秋节', 2025),
    ('2025-09-28', 'workday', '国庆节、中秋节调休', 2025),
    ('2025-10-11', 'workday', '国庆节、中秋节调休', 2025),
    ('2026-01-01', 'holiday', '元旦', 2026),
    ('2026-01-02', 'holiday', '元旦', 2026),
    ('2026-01-03', 'holiday', '元旦', 2026),
    ('2026-01-04', 'workday', '元旦调休', 2026),
    ('2026-02-15', 'holiday', '春节', 2026),
    ('2026-02-16', 'holiday', '春节', 2026),
    ('2026-02-17', 'holiday', '春节', 2026),
    ('2026-02-18', 'holiday', '春节', 2026),
    ('2026-02-19', 'holiday', '春节', 2026),
    ('2026-02-20', 'holiday', '春节', 2026),
    ('2026-02-21', 'holiday', '春节', 2026),
    ('2026-02-22', 'holiday', '春节', 2026),
    ('2026-02-23', 'holiday', '春节', 2026),
    ('2026-02-14', 'workday', '春节调休', 2026),
    ('2026-02-28', 'workday', '春节调休', 2026),
    ('2026-04-04', 'holiday', '清明节', 2026),
    ('2026-04-05', 'holiday', '清明节', 2026),
    ('2026-04-06', 'holiday', '清明节', 2026),
    ('2026-05-01', 'holiday', '劳动节', 2026),
    ('2026-05-02', 'holiday', '劳动节', 2026),
    ('2026-05-03', 'holiday', '劳动节', 2026),
    ('2026-05-04', 'holiday', '劳动节', 2026),
    ('2026-05-05', 'holiday', '劳动节', 2026),
    ('2026-05-09', 'workday', '劳动节调休', 2026),
    ('2026-06-19', 'holiday', '端午节', 2026),
    ('2026-06-20', 'holiday', '端午节', 2026),
    ('2026-06-21', 'holiday', '端午节', 2026),
    ('2026-09-25', 'holiday', '中秋节', 2026),
    ('2026-09-26', 'holiday', '中秋节', 2026),
    ('2026-09-27', 'holiday', '中秋节', 2026),
    ('2026-10-01', 'holiday', '国庆节', 2026),
    ('2026-10-02', 'holiday', '国庆节', 2026),
    ('2026-10-03', 'holiday', '国庆节', 2026),
    ('2026-10-04', 'holiday', '国庆节', 2026),
    ('2026-10-05', 'holiday', '国庆节', 2026),
    ('2026-10-06', 'holiday', '国庆节', 2026),
    ('2026-10-07', 'holiday', '国庆节', 2026),
    ('2026-09-20', 'workday', '国庆节调休', 2026),
    ('2026-10-10', 'workday', '国庆节调休', 2026),
    ('2027-01-01', 'holiday', '元旦', 2027),
    ('2027-01-02', 'holiday', '元旦', 2027),
    ('2027-01-03', 'holiday', '元旦', 2027),
    ('2027-02-05', 'holiday', '春节', 2027),
    ('2027-02-06', 'holiday', '春节', 2027),
    ('2027-02-07', 'holiday', '春节', 2027),
    ('2027-02-08', 'holiday', '春节', 2027),
    ('2027-02-09', 'holiday', '春节', 2027),
    ('2027-02-10', 'holiday', '春节', 2027),
    ('2027-04-03', 'holiday', '清明节', 2027),
    ('2027-04-04', 'holiday', '清明节', 2027),
    ('2027-04-05', 'holiday', '清明节', 2027),
    ('2027-05-01', 'holiday', '劳动节', 2027),
    ('2027-05-02', 'holiday', '劳动节', 2027),
    ('2027-05-03', 'holiday', '劳动节', 2027),
    ('2027-05-04', 'holiday', '劳动节', 2027),
    ('2027-06-09', 'holiday', '端午节', 2027),
    ('2027-09-15', 'holiday', '中秋节', 2027),
    ('2027-10-01', 'holiday', '国庆节', 2027),
    ('2027-10-02', 'holiday', '国庆节', 2027),
    ('2027-10-03', 'holiday', '国庆节', 2027),
    ('2027-10-04', 'holiday', '国庆节', 2027),
    ('2027-10-05', 'holiday', '国庆节', 2027),
]


def remove_shipped(apps, schema_editor):
    CalendarDay = apps.get_model("reminders", "CalendarDay")
    shipped = {(day, kind, name, SOURCES[year]) for day, kind, name, year in SHIPPED}
    rows = CalendarDay.objects.filter(date__in=[day for day, *_ in SHIPPED])
    ids = [
        row.pk
        for row in rows
        if (row.date.isoformat(), row.kind, row.name, row.source) in shipped
    ]
    CalendarDay.objects.filter(pk__in=ids).delete()


class Migration(migrations.Migration):
    dependencies = [("reminders", "0002_holiday_calendar")]

    # Going back leaves the table as it is: the library answers for those days either way.
    operations = [migrations.RunPython(remove_shipped, migrations.RunPython.noop)]
