# A job has a lease: the number of runs claimed (the fencing token) and when the lease runs out.
from django.db import migrations, models
from django.utils import timezone


def expire_active_jobs(apps, schema_editor):
    """Jobs queued or running before leases existed get one that has already run out: the
    recovery (beat, every minute) sends them again or, if a dead worker left them running,
    retries them, instead of leaving them waiting forever."""
    now = timezone.now()
    for name in ("ExportJob", "ImportJob"):
        apps.get_model("ledgers", name).objects.filter(status__in=("queued", "running")).update(
            lease_expires_at=now
        )


class Migration(migrations.Migration):
    dependencies = [("ledgers", "0002_import_costs")]

    operations = [
        *(
            migrations.AddField(
                model_name=model,
                name="attempts",
                field=models.PositiveSmallIntegerField(default=0, verbose_name="尝试次数"),
            )
            for model in ("exportjob", "importjob")
        ),
        *(
            migrations.AddField(
                model_name=model,
                name="lease_expires_at",
                field=models.DateTimeField(
                    blank=True, db_index=True, null=True, verbose_name="租约到期"
                ),
            )
            for model in ("exportjob", "importjob")
        ),
        migrations.RunPython(expire_active_jobs, migrations.RunPython.noop),
    ]
