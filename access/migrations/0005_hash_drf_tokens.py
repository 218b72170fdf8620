"""Replace the plain-text DRF tokens of earlier versions by hashed legacy API keys.

Every ``authtoken_token`` row becomes an ``ApiKey`` (``legacy``, may apply and reverse, as
the token could; the owner's permissions still apply) holding only a SHA-512 hash of the
token, and the plain-text row is deleted. Clients keep sending ``Authorization: Token
<key>`` until they move to a new key. The table is read with SQL, only if it exists, so
this migration needs no ``rest_framework.authtoken`` app: new installations never have
one.
"""

from django.db import migrations
from rest_framework_api_key.crypto import KeyGenerator, concatenate

TOKEN_TABLE = "authtoken_token"
PREFIX_LENGTH = 8  # access.authentication.LEGACY_PREFIX_LENGTH, frozen here


def hash_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if TOKEN_TABLE not in connection.introspection.table_names():
        return
    ApiKey = apps.get_model("access", "ApiKey")
    generator = KeyGenerator()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id, created FROM {TOKEN_TABLE} ORDER BY created")
        tokens = cursor.fetchall()
        for key, user_id, created in tokens:
            prefix = key[:PREFIX_LENGTH]
            hashed = generator.hash(key)
            ApiKey.objects.create(
                id=concatenate(prefix, hashed),
                prefix=prefix,
                hashed_key=hashed,
                name="DRF token (migrated)",
                owner_id=user_id,
                may_apply=True,
                may_reverse=True,
                legacy=True,
            )
        cursor.execute(f"DELETE FROM {TOKEN_TABLE}")


class Migration(migrations.Migration):
    dependencies = [("access", "0004_api_keys")]

    # Irreversible by design: the plain-text tokens are gone.
    operations = [migrations.RunPython(hash_tokens, migrations.RunPython.noop)]
