from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0018_case_open_region_deadline"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="not_for_publication",
            field=models.BooleanField(db_default=False, default=False, verbose_name="不宜公开"),
        ),
    ]
