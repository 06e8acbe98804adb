# The uploaded ledger waits on disk for the worker to parse it (never parsed in the request).
import uuid

from django.db import migrations, models
from django.utils import timezone


def upload_path(instance, filename):
    # A copy of ledgers.models.upload_path: a migration never imports application code.
    return f"uploads/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class Migration(migrations.Migration):
    dependencies = [("ledgers", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="upload",
            field=models.FileField(blank=True, max_length=200, upload_to=upload_path),
        ),
    ]
