"""A tenant's model configuration and metered usage, in the tenant's schema."""

from django.db import models

from portal.encryption import EncryptedSecretField, decrypt, encrypt, mask

PROVIDERS = ("openai", "anthropic", "gemini", "openai_compatible")


class Provider(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic Claude"
    GEMINI = "gemini", "Google Gemini"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible server"


class LLMSettings(models.Model):
    """One row: which provider answers and which take over when it fails.

    Empty values mean "the platform's default from the environment".
    """

    provider = models.CharField(max_length=32, choices=Provider.choices, blank=True)
    fallbacks = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    @classmethod
    def current(cls) -> "LLMSettings":
        settings = cls.objects.first()
        return settings if settings is not None else cls()


class ProviderSetting(models.Model):
    """The tenant's own account with one provider, overriding the platform's."""

    provider = models.CharField(max_length=32, choices=Provider.choices, unique=True)
    api_key_encrypted = EncryptedSecretField(blank=True)
    base_url = models.URLField(max_length=500, blank=True)
    light_model = models.CharField(max_length=120, blank=True)
    heavy_model = models.CharField(max_length=120, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.provider} settings"

    @property
    def api_key(self) -> str:
        return decrypt(self.api_key_encrypted) if self.api_key_encrypted else ""

    @api_key.setter
    def api_key(self, value: str) -> None:
        self.api_key_encrypted = encrypt(value) if value else ""

    @property
    def masked_api_key(self) -> str:
        return mask(self.api_key) if self.api_key_encrypted else ""


class UsageRecord(models.Model):
    """Calls, tokens and spend of one model on one day (the tenant's local day)."""

    day = models.DateField()
    provider = models.CharField(max_length=32)
    model = models.CharField(max_length=120)
    tier = models.CharField(max_length=8)
    requests = models.PositiveIntegerField(default=0)
    failed_requests = models.PositiveIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    cached_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    latency_ms_total = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["day", "provider", "model"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "provider", "model", "tier"],
                name="one_usage_row_per_day_model_tier",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.provider}:{self.model} ({self.tier})"
