"""A tenant's Dify app and which Dify objects belong to which of its users."""

from django.db import models

from portal.encryption import EncryptedSecretField, decrypt, encrypt, mask


class AppMode(models.TextChoices):
    CHAT = "chat", "Chatbot"
    AGENT_CHAT = "agent-chat", "Agent"
    ADVANCED_CHAT = "advanced-chat", "Chatflow"


class DifyConnection(models.Model):
    """One row: the Dify app this tenant's users chat with."""

    base_url = models.URLField(max_length=500)
    api_key_encrypted = EncryptedSecretField()
    app_mode = models.CharField(
        max_length=16, choices=AppMode.choices, default=AppMode.CHAT
    )
    connect_timeout = models.FloatField(default=5.0)
    # Dify pings every 10 s while a stream is open, so a read waits longer.
    read_timeout = models.FloatField(default=60.0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Dify app at {self.base_url}"

    @property
    def api_key(self) -> str:
        return decrypt(self.api_key_encrypted) if self.api_key_encrypted else ""

    @api_key.setter
    def api_key(self, value: str) -> None:
        self.api_key_encrypted = encrypt(value) if value else ""

    @property
    def masked_api_key(self) -> str:
        return mask(self.api_key) if self.api_key_encrypted else ""


class DifyObjectKind(models.TextChoices):
    CONVERSATION = "conversation"
    TASK = "task"
    MESSAGE = "message"


class DifyObject(models.Model):
    """A Dify conversation, task or message and the platform user it belongs to.

    Dify scopes objects by the `user` string the platform sends; this table
    lets the platform answer 404 before asking Dify at all.
    """

    kind = models.CharField(max_length=16, choices=DifyObjectKind.choices)
    dify_id = models.CharField(max_length=64)
    # Users live in the public schema; their id is kept, not a cross-schema key.
    user_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "dify_id"], name="one_owner_per_dify_object"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.dify_id} of user {self.user_id}"
