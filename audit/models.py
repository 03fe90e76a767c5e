"""The audit trail of one tenant, kept in the tenant's own schema.

Entries are only ever appended. Each one stores the hash of the entry before
it, so changing, removing or slipping in a row breaks the chain from there on.
"""

from typing import Any, NoReturn

from django.db import models


class AppendOnly(Exception):
    """Audit entries are written by audit.trail.record and never changed."""


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnly("audit entries cannot be updated")

    def delete(self) -> NoReturn:
        raise AppendOnly("audit entries cannot be deleted")


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

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["action", "created_at"]),
            models.Index(fields=["actor_id", "created_at"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.action} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> NoReturn:
        # Appending goes through audit.trail.record, which chains the hash.
        raise AppendOnly("audit entries are appended with audit.trail.record()")

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnly("audit entries cannot be deleted")


class AuditSettings(models.Model):
    """What the tenant lets its trail keep; one row per tenant schema."""

    # Off: chat entries keep the lengths of the question and the answer only.
    record_chat_text = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "audit settings"

    def __str__(self) -> str:
        return f"audit settings (chat text {'on' if self.record_chat_text else 'off'})"

    @classmethod
    def current(cls) -> "AuditSettings":
        found, _ = cls.objects.get_or_create(pk=1)
        return found
