"""API tokens stored as SHA-256 hashes (cases.ApiToken), replacing DRF's authtoken app.

Existing plain-text tokens are not carried over: only their hash could be, and keeping the
plain keys in the database is the hole this closes. Their table is dropped (with the app's
migration records, so that re-installing the app would create it afresh); their holders ask
for a new token, which is then shown once.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

DROP_PLAIN_TOKENS = [
    "DROP TABLE IF EXISTS authtoken_token",
    "DELETE FROM django_migrations WHERE app = 'authtoken'",
]


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0007_case_deadline_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=50, verbose_name="名称")),
                ("key_prefix", models.CharField(max_length=8, verbose_name="前缀")),
                ("key_hash", models.CharField(max_length=64, unique=True)),
                ("password_fingerprint", models.CharField(max_length=64)),
                (
                    "created_at",
                    models.DateTimeField(
                        default=django.utils.timezone.now, verbose_name="创建时间"
                    ),
                ),
                ("expires_at", models.DateTimeField(verbose_name="到期时间")),
                (
                    "revoked_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="撤销时间"),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_tokens",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="用户",
                    ),
                ),
            ],
            options={
                "verbose_name": "API 令牌",
                "verbose_name_plural": "API 令牌",
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("revoked_at__isnull", True)),
                        fields=("user", "name"),
                        name="api_token_one_per_name",
                    )
                ],
            },
        ),
        # Irreversible on purpose: the plain keys are gone for good.
        migrations.RunSQL(DROP_PLAIN_TOKENS, reverse_sql=migrations.RunSQL.noop),
    ]
