from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants and identity"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from tenants import checks  # noqa: F401  (registers the pgvector check)
        from tenants.models import Domain, Tenant, TenantQuota
        from tenants.quotas import forget_cached_quota

        # A change made in this process applies at once; others see it within
        # TENANT_CACHE_SECONDS.
        for model in (Tenant, Domain):
            post_save.connect(_forget_tenants, sender=model)
            post_delete.connect(_forget_tenants, sender=model)
        post_save.connect(forget_cached_quota, sender=TenantQuota)
        post_delete.connect(forget_cached_quota, sender=TenantQuota)


def _forget_tenants(**kwargs: object) -> None:
    from tenants.middleware import forget_cached_tenants

    forget_cached_tenants()
