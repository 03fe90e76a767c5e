from django.db import migrations


class Migration(migrations.Migration):
    """Appends serialise on an advisory lock in audit_append(); the head row goes."""

    dependencies = [
        ("audit", "0002_chain_head"),
        ("audit", "0004_append_function"),
    ]

    operations = [migrations.DeleteModel(name="ChainHead")]
