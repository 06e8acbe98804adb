"""The public holidays and make-up working days of 2025–2027 (see reminders/holidays.py for
the sources, and for 2027 being an assumption until the State Council's notice)."""

from django.db import migrations


def load(apps, schema_editor):
    from reminders.holidays import load_calendar

    load_calendar(apps.get_model("reminders", "CalendarDay"))


def unload(apps, schema_editor):
    from reminders.holidays import calendar_days

    model = apps.get_model("reminders", "CalendarDay")
    model.objects.filter(date__in=[day["date"] for day in calendar_days()]).delete()


class Migration(migrations.Migration):
    dependencies = [("reminders", "0001_initial")]

    operations = [migrations.RunPython(load, unload)]
