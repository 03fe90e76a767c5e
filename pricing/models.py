"""Models the platform can call and what they cost, shared by every tenant."""

from django.db import models

from pricing.tiers import Tier


class ModelPrice(models.Model):
    """Prices in US dollars per million tokens, as taken on `prices_taken_on`."""

    provider = models.CharField(max_length=32)
    model = models.CharField(max_length=120)
    default_tier = models.CharField(max_length=8, choices=Tier.choices, blank=True)
    input_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    cached_input_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    cache_write_per_mtok = models.DecimalField(
        max_digits=10, decimal_places=4, null=True, blank=True
    )
    output_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    # Some models charge more for every token once a prompt is this long.
    long_context_above = models.PositiveIntegerField(null=True, blank=True)
    long_input_per_mtok = models.DecimalField(
        max_digits=10, decimal_places=4, null=True, blank=True
    )
    long_output_per_mtok = models.DecimalField(
        max_digits=10, decimal_places=4, null=True, blank=True
    )
    prices_taken_on = models.DateField()
    source = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["provider", "model"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "model"], name="one_price_per_model"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"
