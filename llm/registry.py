"""Choose the answer generator for a tenant."""

from llm.base import AnswerGenerator
from llm.extractive import ExtractiveAnswerGenerator
from tenants.models import Tenant


def answer_generator_for(tenant: Tenant) -> AnswerGenerator:
    # Only the offline generator exists so far; provider selection per tenant
    # plugs in here.
    return ExtractiveAnswerGenerator()
