"""Secrets at rest: provider keys, Dify app keys and other credentials.

Values are encrypted with Fernet (AES-128-CBC + HMAC) from `cryptography`.
SECRETS_ENCRYPTION_KEYS lists the keys, newest first: the first encrypts,
all of them decrypt, so a key can be rotated by putting a new one in front
and running `manage.py rotate_secrets`. Without the variable a random key is
made once per installation and kept in the data folder.
"""

import threading

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

VISIBLE_TAIL = 4
# What stands in for the hidden part of a masked secret; no key holds it.
MASK_MARK = "…"


class SecretUnreadable(Exception):
    """The stored value was encrypted with a key that is no longer configured."""


_ciphers: dict[tuple[str, ...], MultiFernet] = {}
_ciphers_lock = threading.Lock()


def _cipher() -> MultiFernet:
    # One per key list, so a changed setting (a rotation, a test) takes effect.
    keys = tuple(settings.SECRETS_ENCRYPTION_KEYS)
    with _ciphers_lock:
        if keys not in _ciphers:
            _ciphers[keys] = MultiFernet([Fernet(key.encode()) for key in keys])
        return _ciphers[keys]


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
    try:
        return _cipher().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with any configured key."
        ) from None


def under_newest_key(token: str) -> bool:
    """True when the newest key alone decrypts the token (nothing to rotate)."""
    newest = Fernet(settings.SECRETS_ENCRYPTION_KEYS[0].encode())
    try:
        newest.decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def mask(plaintext: str) -> str:
    """Enough of a secret to recognise it, never enough to use it."""
    if len(plaintext) <= VISIBLE_TAIL * 3:
        return MASK_MARK * 3
    return MASK_MARK + plaintext[-VISIBLE_TAIL:]


class EncryptedSecretField(models.TextField):  # type: ignore[type-arg]
    """Holds a Fernet token; `rotate_secrets` finds columns by this type.

    The field stores and returns ciphertext: code decrypts explicitly, so a
    model printed or serialised by accident shows nothing usable.
    """
