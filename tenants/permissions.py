"""Role checks for tenant API views."""

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from tenants.models import Role


class HasTenantRole(BasePermission):
    """Allow members whose role is in `allowed_roles`; subclasses set the roles."""

    allowed_roles: frozenset[str] = frozenset()
    message = "Your role in this tenant does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        membership = getattr(request, "membership", None)
        return membership is not None and membership.role in self.allowed_roles


class IsTenantAdmin(HasTenantRole):
    allowed_roles = frozenset({Role.ADMIN})


class CanUseKnowledge(HasTenantRole):
    """Read knowledge bases and chat: admins and members, not auditors."""

    allowed_roles = frozenset({Role.ADMIN, Role.MEMBER})


class KnowledgeAccess(BasePermission):
    """Admins and members read knowledge; only admins change it."""

    message = HasTenantRole.message

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return CanUseKnowledge().has_permission(request, view)
        return IsTenantAdmin().has_permission(request, view)


class CanReadUsage(HasTenantRole):
    """Spend and usage: admins and auditors."""

    allowed_roles = frozenset({Role.ADMIN, Role.AUDITOR})


class CanReadAudit(HasTenantRole):
    """The audit trail: auditors and admins read it; nobody writes it by API."""

    allowed_roles = frozenset({Role.ADMIN, Role.AUDITOR})
