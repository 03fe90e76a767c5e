from django.apps import AppConfig


class DifyConfig(AppConfig):
    name = "dify"
    verbose_name = "Dify bridge"
