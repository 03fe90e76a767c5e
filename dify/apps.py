from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class DifyConfig(AppConfig):
    name = "dify"
    verbose_name = "Dify bridge"

    def ready(self) -> None:
        from dify.actions import forget_cached_connection
        from dify.models import DifyConnection

        post_save.connect(forget_cached_connection, sender=DifyConnection)
        post_delete.connect(forget_cached_connection, sender=DifyConnection)
