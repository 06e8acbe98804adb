"""Formerly loaded the project's hand-kept holiday table (2025–2027) into CalendarDay by
importing application code. The national calendar now comes from the `chinesecalendar`
package (reminders/calendar.py) and CalendarDay holds only the site's own overrides, so this
migration does nothing; 0003 removes the rows it loaded on databases where it already ran."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("reminders", "0001_initial")]

    operations = []
