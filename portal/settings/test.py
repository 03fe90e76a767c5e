"""Test settings: the same stack, with ingestion run before the upload call returns."""

import os

os.environ.setdefault("EMBEDDED_DB_NAME", "portal")

from portal.settings.base import *  # noqa: E402,F403
from portal.settings.base import RAG  # noqa: E402

RAG["INGESTION_BACKEND"] = "inline"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SIGN_IN_RATE = "1000/min"

# Tests configure providers per tenant; nothing leaks in from the machine.
from portal.settings.base import LLM  # noqa: E402

LLM["PROVIDER"] = ""
LLM["FALLBACKS"] = []
LLM["BACKOFF_SECONDS"] = 0.01
LLM["TIMEOUT_SECONDS"] = 5.0
for _provider in LLM["PROVIDERS"].values():
    for _name in _provider:
        _provider[_name] = ""

# The local servers that speak the providers' and Dify's protocols.
OUTBOUND_ALLOWED_HOSTS = ["127.0.0.0/8", "localhost"]
