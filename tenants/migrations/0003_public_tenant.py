"""django-tenants serves paths outside /t/ from the tenant whose schema is public."""

from django.db import migrations


def create_public_tenant(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    Tenant.objects.get_or_create(
        schema_name="public", defaults={"slug": "public", "name": "Platform"}
    )


class Migration(migrations.Migration):
    dependencies = [("tenants", "0002_vector_extension")]

    operations = [
        migrations.RunPython(create_public_tenant, migrations.RunPython.noop),
    ]
