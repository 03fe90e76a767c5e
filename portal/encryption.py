"""Secrets at rest: provider keys, Dify app keys and other credentials.

Values are encrypted with Fernet (AES-128-CBC + HMAC) from `cryptography`.
SECRETS_ENCRYPTION_KEYS lists the keys, newest first: the first encrypts,
all of them decrypt, so a key can be rotated by putting a new one in front
and running `manage.py rotate_secrets`. Without the variable a random key is
made once per installation and kept in the data folder.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

from portal.lazy import made_once

VISIBLE_TAIL = 4


class SecretUnreadable(Exception):
    """The stored value was encrypted with a key that is no longer configured."""


@made_once
def _cipher() -> MultiFernet:
    return MultiFernet(
        [Fernet(key.encode()) for key in settings.SECRETS_ENCRYPTION_KEYS]
    )


def encrypt(plaintext: str) -> str:
    return _cipher().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with the configured "
            "SECRETS_ENCRYPTION_KEYS; set it again or restore the old key."
        ) from None


def reencrypt(token: str) -> str:
    """The same secret under the newest key."""
    return _cipher().rotate(token.encode()).decode()


def mask(plaintext: str) -> str:
    """Enough of a secret to recognise it, never enough to use it."""
    if len(plaintext) <= VISIBLE_TAIL * 3:
        return "…" * 3
    return "…" + plaintext[-VISIBLE_TAIL:]


class EncryptedSecretField(models.TextField):  # type: ignore[type-arg]
    """Holds a Fernet token; `rotate_secrets` finds columns by this type.

    The field stores and returns ciphertext: code decrypts explicitly, so a
    model printed or serialised by accident shows nothing usable.
    """
