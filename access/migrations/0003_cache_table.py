"""Create the database cache's table, ``pipeworks_cache``, so it needs no manual step.

Without ``REDIS_URL`` the settings' default cache is the database cache on this table
(``pipeworks/settings.py``: one cache shared by every worker, for login lockouts and
throttles). Django leaves creating it to ``manage.py createcachetable``; this migration
runs that command's own code for the table, by name, whatever the cache settings are at
migrate time, so that switching from Redis to the database later finds the table there.
The name is copied from the settings, as a migration must not read code that may change.
"""

from django.core.management import call_command
from django.db import migrations

CACHE_TABLE = "pipeworks_cache"


def create_cache_table(apps, schema_editor):
    call_command(
        "createcachetable", CACHE_TABLE, database=schema_editor.connection.alias, verbosity=0
    )


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("access", "0002_roles")]

    operations = [migrations.RunPython(create_cache_table, drop_cache_table)]
