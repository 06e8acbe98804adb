import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="DocumentTemplate",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("progress", "整改进展情况报告"), ("notice", "整改情况通报")], max_length=16, verbose_name="公文类型")),
                ("title", models.CharField(max_length=300, verbose_name="标题模板")),
                ("body", models.TextField(verbose_name="正文模板")),
                ("copy_to", models.CharField(blank=True, max_length=500, verbose_name="抄送")),
                ("issuer", models.CharField(blank=True, max_length=200, verbose_name="印发机关")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="修改时间")),
                ("created_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL, verbose_name="修改人")),
            ],
            options={
                "verbose_name": "公文模板",
                "verbose_name_plural": "公文模板",
                "ordering": ["kind", "-created_at", "-id"],
                "indexes": [models.Index(fields=["kind", "-created_at", "-id"], name="doc_template_latest")],
            },
        ),
    ]
