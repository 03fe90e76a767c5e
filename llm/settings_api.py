"""Read and change a tenant's language model settings and switches.

Keys are write-only: they are stored encrypted and shown masked. Every
change goes to the audit trail with the before and after views (masked).
"""

from typing import Any

from django.db import transaction
from waffle import get_waffle_switch_model

from audit.trail import record
from llm.config import ROUTING_SWITCH, config_for_current_tenant, switches
from llm.models import PROVIDERS, LLMSettings, ProviderSetting
from portal.errors import ApiError
from pricing.catalogue import models_of, price_of


def describe_settings() -> dict[str, Any]:
    tenant_settings = LLMSettings.current()
    own = {row.provider: row for row in ProviderSetting.objects.all()}
    config = config_for_current_tenant()
    flags = switches()
    return {
        "provider": tenant_settings.provider,
        "fallbacks": list(tenant_settings.fallbacks),
        "routing": flags[ROUTING_SWITCH],
        "allowed_providers": {
            name: flags[f"llm_provider_{name}"] for name in PROVIDERS
        },
        "providers": {name: _describe_provider(own.get(name)) for name in PROVIDERS},
        "effective": {
            "answers_with": "model" if config.configured else "extractive",
            "warnings": _warnings(tenant_settings, flags, config),
            "routing_enabled": config.routing_enabled,
            "chain": [
                {
                    "provider": provider.name,
                    "light_model": provider.light_model,
                    "heavy_model": provider.heavy_model,
                    "credentials_from": provider.credentials_from,
                }
                for provider in config.chain
            ],
        },
    }


@transaction.atomic
def update_settings(
    changes: dict[str, Any], actor_id: int | None, actor: str
) -> dict[str, Any]:
    """Apply validated changes; values left out stay as they are."""
    before = describe_settings()
    tenant_settings = LLMSettings.current()
    if "provider" in changes:
        tenant_settings.provider = changes["provider"]
    if "fallbacks" in changes:
        tenant_settings.fallbacks = changes["fallbacks"]
    tenant_settings.save()

    for name, fields in changes.get("providers", {}).items():
        _update_provider(name, fields)
    if "routing" in changes:
        _set_switch(ROUTING_SWITCH, changes["routing"])
    for name, allowed in changes.get("allowed_providers", {}).items():
        _set_switch(f"llm_provider_{name}", allowed)

    after = describe_settings()
    record(
        "settings.llm.update",
        actor_id=actor_id,
        actor=actor,
        details={
            "before": _without_effective(before),
            "after": _without_effective(after),
        },
    )
    return after


def _warnings(
    tenant_settings: LLMSettings, flags: dict[str, bool], config: Any
) -> list[str]:
    """Why a provider the tenant chose will not answer."""
    serving = {provider.name for provider in config.chain}
    warnings = []
    for name in [tenant_settings.provider, *tenant_settings.fallbacks]:
        if not name or name in serving:
            continue
        if not flags.get(f"llm_provider_{name}", True):
            warnings.append(f"{name} is chosen but not allowed (allowed_providers).")
        else:
            warnings.append(
                f"{name} is chosen but has no usable account: give it an api_key "
                "(and base_url for openai_compatible), or rely on the platform's."
            )
    return warnings


def _describe_provider(row: ProviderSetting | None) -> dict[str, str]:
    if row is None:
        return {"api_key": "", "base_url": "", "light_model": "", "heavy_model": ""}
    return {
        "api_key": row.masked_api_key,
        "base_url": row.base_url,
        "light_model": row.light_model,
        "heavy_model": row.heavy_model,
    }


def _update_provider(name: str, fields: dict[str, Any]) -> None:
    row = ProviderSetting.objects.filter(provider=name).first() or ProviderSetting(
        provider=name
    )
    for field in ("base_url", "light_model", "heavy_model"):
        if field in fields:
            setattr(row, field, fields[field] or "")
    if "api_key" in fields:
        row.api_key = fields["api_key"] or ""
    _check_models_on_platform_account(row)
    row.save()


def _check_models_on_platform_account(row: ProviderSetting) -> None:
    """On the platform's account a tenant may pick only priced models.

    Any other model would be billed to the platform and metered at $0.
    """
    if row.api_key_encrypted or row.base_url:
        return
    unpriced = [
        model
        for model in (row.light_model, row.heavy_model)
        if model and price_of(row.provider, model) is None
    ]
    if unpriced:
        offered = ", ".join(price.model for price in models_of(row.provider))
        raise ApiError(
            400,
            "model_not_in_catalogue",
            f"{', '.join(unpriced)} is not in the price list for {row.provider}. "
            f"On the platform's account choose one of: {offered}; "
            "with the tenant's own key any model may be used.",
        )


def _set_switch(name: str, active: bool) -> None:
    switch_model = get_waffle_switch_model()
    switch, _ = switch_model.objects.get_or_create(
        name=name, defaults={"active": active}
    )
    if switch.active != active:
        switch.active = active
        # save() also clears waffle's cached copy of the switch.
        switch.save()


def _without_effective(described: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in described.items() if key != "effective"}
