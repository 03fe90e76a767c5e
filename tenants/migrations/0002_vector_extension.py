"""Create pgvector once per database, in public, before any tenant schema needs it.

Tenant schemas find the `vector` type through their search path
("<tenant>, public"); creating the extension from a tenant migration would put
it inside that one tenant's schema and break every other tenant.
"""

from django.db import migrations

from tenants.checks import PGVECTOR_MISSING, pgvector_available


def create_vector_extension(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        if not pgvector_available(cursor):
            raise RuntimeError(PGVECTOR_MISSING)
        cursor.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [
        migrations.RunPython(create_vector_extension, migrations.RunPython.noop),
    ]
