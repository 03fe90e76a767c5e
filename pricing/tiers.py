from django.db import models


class Tier(models.TextChoices):
    LIGHT = "light", "Light (cheap model)"
    HEAVY = "heavy", "Heavy (strong model)"
