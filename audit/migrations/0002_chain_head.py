from django.db import migrations, models

GENESIS_HASH = "0" * 64


class Migration(migrations.Migration):
    """The chain's last hash in a one-row table that appends lock and advance."""

    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="ChainHead",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(primary_key=True, serialize=False),
                ),
                ("previous_hash", models.CharField(max_length=64)),
                ("last_hash", models.CharField(max_length=64)),
            ],
        ),
        migrations.RunSQL(
            sql=f"""
                INSERT INTO audit_chainhead (id, previous_hash, last_hash)
                SELECT 1, '{GENESIS_HASH}', coalesce(
                    (SELECT entry_hash FROM audit_auditentry ORDER BY id DESC LIMIT 1),
                    '{GENESIS_HASH}'
                )
            """,
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
