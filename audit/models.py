"""The audit trail of one tenant, kept in the tenant's own schema.

Entries are only ever appended. Each one stores the hash of the entry before
it, so changing, removing or slipping in a row breaks the chain from there on.
"""

from django.db import models


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    DENIED = "denied", "Denied"
    ERROR = "error", "Error"


class AuditEntry(models.Model):
    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField()
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=80)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    request_id = models.CharField(max_length=64, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict)
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["action", "created_at"]),
            models.Index(fields=["actor_id", "created_at"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.action} {self.outcome}"


class ChainHead(models.Model):
    """The one row holding the hash of the trail's last entry (id = 1)."""

    id = models.PositiveSmallIntegerField(primary_key=True)
    previous_hash = models.CharField(max_length=64)
    last_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return self.last_hash
