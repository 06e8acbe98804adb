from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0017_inbox_index_covers_the_count"),
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
