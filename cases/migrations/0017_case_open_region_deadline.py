from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0016_tally_working_day_bounds"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=models.Q(
                    models.Q(("status", "completed"), _negated=True),
                    models.Q(("status", "exempted"), _negated=True),
                ),
                fields=["region", "deadline", "id"],
                name="case_open_region_deadline",
            ),
        ),
    ]
