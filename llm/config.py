"""Which providers and models serve a tenant, resolved fresh for every request.

The environment gives the platform's defaults; the tenant's LLMSettings and
ProviderSetting rows (in its own schema) override them, and the tenant's
feature switches (django-waffle, in the tenant's schema) forbid providers or
turn routing off. The rows are cached per tenant and dropped from the cache
whenever one of them is saved, so a change applies to the next call.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from waffle import get_waffle_switch_model

from llm.models import PROVIDERS, LLMSettings, ProviderSetting
from pricing.catalogue import default_model, price_of

SETTINGS_CACHE_KEY = "llm:stored-settings"
SETTINGS_CACHE_SECONDS = 300
ROUTING_SWITCH = "llm_routing"
SWITCH_DEFAULTS = {ROUTING_SWITCH: True} | {
    f"llm_provider_{name}": True for name in PROVIDERS
}


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    api_key: str
    base_url: str
    light_model: str
    heavy_model: str
    # "tenant" when the tenant brought its own key, else "platform".
    credentials_from: str

    def model_for(self, tier: str) -> str:
        return self.light_model if tier == "light" else self.heavy_model

    def __repr__(self) -> str:
        # Never print the key, even in a traceback.
        return f"ProviderConfig({self.name!r}, base_url={self.base_url!r})"


@dataclass(frozen=True)
class TenantLLMConfig:
    #: Providers to try in order: the chosen one, then its fallbacks.
    chain: tuple[ProviderConfig, ...]
    routing_enabled: bool

    @property
    def configured(self) -> bool:
        return bool(self.chain)


@dataclass(frozen=True)
class StoredSettings:
    """The tenant's rows as stored; keys stay encrypted, also in the cache."""

    settings: LLMSettings
    providers: dict[str, ProviderSetting]
    switches: dict[str, bool]


def stored_settings() -> StoredSettings:
    """The tenant's settings rows, from the cache when they have not changed.

    The cache key carries the tenant's schema; every save of these rows
    drops the entry (see llm/apps.py), so a change applies to the next call.
    """
    stored: StoredSettings | None = cache.get(SETTINGS_CACHE_KEY)
    if stored is None:
        stored = StoredSettings(
            settings=LLMSettings.current(),
            providers={row.provider: row for row in ProviderSetting.objects.all()},
            switches=_read_switches(),
        )
        cache.set(SETTINGS_CACHE_KEY, stored, SETTINGS_CACHE_SECONDS)
    return stored


def forget_stored_settings(**kwargs: object) -> None:
    cache.delete(SETTINGS_CACHE_KEY)
    # A reader in another process may have cached the old rows before commit.
    transaction.on_commit(lambda: cache.delete(SETTINGS_CACHE_KEY))


def switches() -> dict[str, bool]:
    return stored_settings().switches


def switch_is_on(name: str) -> bool:
    return switches().get(name, False)


def config_for_current_tenant() -> TenantLLMConfig:
    """Resolve the configuration in the tenant schema the connection is on."""
    stored = stored_settings()
    defaults = settings.LLM

    flags = stored.switches
    primary = stored.settings.provider or defaults["PROVIDER"]
    fallbacks = (
        stored.settings.fallbacks if stored.settings.pk else defaults["FALLBACKS"]
    )
    chain: list[ProviderConfig] = []
    for name in _unique([primary, *fallbacks]):
        if name not in PROVIDERS or not flags[f"llm_provider_{name}"]:
            continue
        provider = _provider_config(
            name, stored.providers.get(name), defaults["PROVIDERS"][name]
        )
        if provider is not None:
            chain.append(provider)
    return TenantLLMConfig(chain=tuple(chain), routing_enabled=flags[ROUTING_SWITCH])


def _read_switches() -> dict[str, bool]:
    found = get_waffle_switch_model().objects.filter(name__in=SWITCH_DEFAULTS)
    return SWITCH_DEFAULTS | {switch.name: bool(switch.active) for switch in found}


def _provider_config(
    name: str, own: ProviderSetting | None, platform: dict[str, str]
) -> ProviderConfig | None:
    own_key = own.api_key if own else ""
    own_url = own.base_url if own else ""
    if own_url and not own_key and name != "openai_compatible":
        # The platform's key is never sent to an address a tenant chose.
        return None
    uses_own = bool(own_key or own_url)
    api_key = own_key if uses_own else platform["API_KEY"]
    base_url = own_url if uses_own else platform["BASE_URL"]
    if not _usable(name, api_key, base_url):
        return None

    light = _chosen_model(name, own.light_model if own else "", uses_own)
    heavy = _chosen_model(name, own.heavy_model if own else "", uses_own)
    light = light or platform["LIGHT_MODEL"]
    heavy = heavy or platform["HEAVY_MODEL"]
    light = light or default_model(name, "light") or heavy
    heavy = heavy or default_model(name, "heavy") or light
    if not light:
        return None
    return ProviderConfig(
        name=name,
        api_key=api_key,
        base_url=base_url,
        light_model=light,
        heavy_model=heavy,
        credentials_from="tenant" if uses_own else "platform",
    )


def _chosen_model(provider: str, model: str, own_account: bool) -> str:
    """The tenant's model, unless it would run unpriced on the platform's account."""
    if own_account or not model or price_of(provider, model) is not None:
        return model
    return ""


def _usable(name: str, api_key: str, base_url: str) -> bool:
    if name == "openai_compatible":
        return bool(base_url)
    return bool(api_key)


def _unique(names: list[str]) -> list[str]:
    seen: list[str] = []
    for name in names:
        if name and name not in seen:
            seen.append(name)
    return seen
