"""Choose the answer generator for a tenant: a configured model, else extractive."""

from llm.base import AnswerGenerator
from llm.config import config_for_current_tenant
from llm.extractive import ExtractiveAnswerGenerator
from llm.gateway import Caller, Gateway
from llm.grounded import GroundedAnswerGenerator
from tenants.models import Tenant


def answer_generator_for(
    tenant: Tenant, caller: Caller | None = None
) -> AnswerGenerator:
    config = config_for_current_tenant()
    if not config.configured:
        return ExtractiveAnswerGenerator()
    return GroundedAnswerGenerator(Gateway(tenant, config), caller or Caller())
