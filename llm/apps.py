from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class LlmConfig(AppConfig):
    name = "llm"
    verbose_name = "Language model providers, routing and usage"

    def ready(self) -> None:
        from waffle import get_waffle_switch_model

        from llm.config import forget_stored_settings
        from llm.models import LLMSettings, ProviderSetting

        for model in (LLMSettings, ProviderSetting, get_waffle_switch_model()):
            post_save.connect(forget_stored_settings, sender=model)
            post_delete.connect(forget_stored_settings, sender=model)
