from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PricingConfig(AppConfig):
    name = "pricing"
    verbose_name = "Model catalogue and prices"

    def ready(self) -> None:
        from pricing.catalogue import sync_after_migrate

        # The price file in the repository is the source; every migrate
        # brings the table in line with it.
        post_migrate.connect(sync_after_migrate, sender=self)
