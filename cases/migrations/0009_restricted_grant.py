"""Grants of restricted ledgers to units (cases.RestrictedGrant).

On PostgreSQL a trigger keeps the grants a record: a row is never deleted, and the one
change it may take is its revocation, once (revoked_by, revoked_at, revoke_reason set on a
live row, nothing else touched). As with the history (0002) TRUNCATE is left to the table
privilege, because the test runner empties tables with it.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

GUARD = """
CREATE OR REPLACE FUNCTION cases_restrictedgrant_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL AND NEW.revoked_by_id IS NOT NULL
        AND NEW.id = OLD.id AND NEW.inspection_id = OLD.inspection_id
        AND NEW.unit_id = OLD.unit_id AND NEW.reason = OLD.reason
        AND NEW.granted_by_id = OLD.granted_by_id AND NEW.granted_at = OLD.granted_at
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'restricted grants are a record: %% on cases_restrictedgrant refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER cases_restrictedgrant_guard
    BEFORE UPDATE OR DELETE ON cases_restrictedgrant
    FOR EACH ROW EXECUTE FUNCTION cases_restrictedgrant_guard();
"""

UNGUARD = """
DROP TRIGGER IF EXISTS cases_restrictedgrant_guard ON cases_restrictedgrant;
DROP FUNCTION IF EXISTS cases_restrictedgrant_guard();
"""


def guard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD)


def unguard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNGUARD)


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0008_api_token'),
    ]

    operations = [
        migrations.CreateModel(
            name='RestrictedGrant',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('reason', models.TextField(verbose_name='授权理由')),
                ('granted_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='授权时间')),
                ('revoked_at', models.DateTimeField(blank=True, null=True, verbose_name='撤销时间')),
                ('revoke_reason', models.TextField(blank=True, verbose_name='撤销理由')),
                ('granted_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='授权人')),
                ('inspection', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='grants', to='cases.inspection', verbose_name='检查/台账')),
                ('revoked_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='撤销人')),
                ('unit', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='restricted_grants', to='cases.unit', verbose_name='授权单位')),
            ],
            options={
                'verbose_name': '限定台账授权',
                'verbose_name_plural': '限定台账授权',
                'ordering': ['-granted_at', '-id'],
                'indexes': [models.Index(condition=models.Q(('revoked_at__isnull', True)), fields=['unit'], name='restricted_grant_live_unit')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('revoked_at__isnull', True)), fields=('inspection', 'unit'), name='restricted_grant_one_live')],
            },
        ),
        migrations.RunPython(guard, unguard),
    ]
