"""Make the peer's database (PEER_DATABASE): migrate it and create one API key through
the library's manager; print the key, which is shown this once."""

import os

import django
from django.core.management import call_command

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
django.setup()

from rest_framework_api_key.models import APIKey  # noqa: E402 (needs the apps set up)

call_command("migrate", verbosity=0)
_, key = APIKey.objects.create_key(name="bench")
print(key)
