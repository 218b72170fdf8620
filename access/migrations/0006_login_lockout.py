"""Add LoginLockout: the admin login lockouts operators see and lift (access.throttle)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('access', '0005_hash_drf_tokens'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='LoginLockout',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('username', 'username'), ('address', 'client address')], help_text='What was locked out: a username or an address.', max_length=16)),
                ('value', models.CharField(help_text='The username (lower-cased) or the client address (an IPv6 /64 network).', max_length=255)),
                ('failures', models.PositiveIntegerField(help_text='Failed logins counted in the window when the lockout was last recorded.')),
                ('locked_at', models.DateTimeField(default=django.utils.timezone.now, editable=False, help_text='When the limit was reached.')),
                ('locked_until', models.DateTimeField(help_text='When the lockout ends by itself: the end of the counting window.')),
                ('lifted_at', models.DateTimeField(blank=True, editable=False, help_text='When an operator lifted it, if one did.', null=True)),
                ('lifted_by', models.ForeignKey(blank=True, editable=False, help_text='The operator who lifted it.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'db_table': 'login_lockout',
                'ordering': ['-locked_at', '-id'],
                'permissions': [('lift_loginlockout', 'Can lift login lockouts')],
                'indexes': [models.Index(fields=['kind', 'value'], name='login_lockout_kind_value')],
            },
        ),
    ]
