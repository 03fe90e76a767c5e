"""Attack every tenant-scoped route, as found in the URL configuration.

Routes are walked from portal.urls_tenant, so a new endpoint is attacked
without editing this module. For each method a view allows, the suite tries
another tenant's token or API key, a mismatched X-Tenant-ID, the tenant
swapped in the path, the other tenant's object ids in the path and body, a
member's token on admin routes, an auditor's token on writes and outside the
audit log, and forged, expired and `alg: none` tokens.

A leak is a 2xx (or any answer but a refusal) to a refused actor, a change
to either tenant's stored state (read back after each route and method), or
the other tenant's names, ids or text in a response body. The count must be
zero; the summary line is printed at the end of the test run.

Roles need a policy the URL configuration cannot give: ROLE_POLICY below
says which writes members may make and what auditors may read. A route it
does not name is treated strictly (writes are for admins, auditors read
nothing), so a new member-facing endpoint fails here until it is named.
"""

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import connection
from django.urls import URLPattern, URLResolver
from django.utils import timezone
from django_tenants.utils import schema_context
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from dify.models import DifyObject, DifyObjectKind
from portal import urls_tenant
from tenants.api_keys import ApiKeyAuthentication, issue_api_key
from tenants.models import Membership, Tenant
from tenants.tokens import tokens_for
from tests.conftest import ATTACK_SUMMARY, PASSWORD
from tests.rag.conftest import ask, create_knowledge_base, text_file, uploaded_documents

SAFE = {"GET", "HEAD", "OPTIONS"}
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
REFUSED = {401, 403, 404, 405}
ANY_STATUS = frozenset(range(100, 600))
# Audit entry ids count per tenant: the other tenant's number may well be
# one of the attacker's own entries, which it may read. Its content is
# still checked: none of the victim's entry may come back.
PER_TENANT_NUMBERS = {"entry_id"}


@dataclass(frozen=True)
class RolePolicy:
    # url names whose writes members may make (chat, their own conversations)
    member_writes: frozenset[str]
    # url names members may not even read
    admin_reads: frozenset[str]
    # url names auditors may read; everything else is refused to them
    auditor_reads: frozenset[str]


ROLE_POLICY = RolePolicy(
    member_writes=frozenset(
        {
            "chat",
            "dify-chat-messages",
            "dify-stop",
            "dify-conversation",
            "dify-conversation-name",
            "dify-feedbacks",
        }
    ),
    admin_reads=frozenset(
        {"api-keys", "llm-settings", "dify-settings", "audit-settings", "usage"}
        | {"audit", "audit-export", "audit-entry", "quotas"}
    ),
    # Quotas are the operator's limits beside the usage they bound.
    auditor_reads=frozenset(
        {"audit", "audit-export", "audit-entry", "usage", "quotas"}
    ),
)


# Routes


@dataclass(frozen=True)
class Route:
    name: str
    template: str  # below /t/<slug>/, with <param> placeholders
    params: tuple[str, ...]
    methods: tuple[str, ...]
    auth: str  # "jwt", "api_key" or "anonymous"


def tenant_routes() -> list[Route]:
    return list(_walk(urls_tenant.urlpatterns, ""))


def _walk(patterns: list[Any], prefix: str) -> Iterator[Route]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield _describe(pattern, route)


def _describe(pattern: URLPattern, route: str) -> Route:
    params = tuple(re.findall(r"<(?:\w+:)?(\w+)>", route))
    template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
    view_class = getattr(pattern.callback, "view_class", None)
    if view_class is None:
        # A plain function view: its allowed methods are not declared, so
        # every method is tried (a 405 is a refusal too). Only Dify's
        # retrieval endpoint is one; it takes API keys.
        return Route(
            pattern.name or route, template, params, tuple(ALL_METHODS), "api_key"
        )
    methods = tuple(m for m in ALL_METHODS if hasattr(view_class, m.lower()))
    authentication = getattr(view_class, "authentication_classes", None)
    if authentication == []:
        auth = "anonymous"
    elif authentication and ApiKeyAuthentication in authentication:
        auth = "api_key"
    else:
        auth = "jwt"
    return Route(pattern.name or route, template, params, methods, auth)


# The two tenants' objects


@dataclass
class Holdings:
    tenant: Tenant
    ids: dict[str, list[str]]  # path parameter name -> real ids
    markers: set[str]  # strings that must never reach the other tenant
    api_key: str
    scopeless_key: str
    refresh: str


def make_holdings(tenant: Tenant) -> Holdings:
    slug = tenant.slug
    secret = uuid.uuid4().hex[:10]
    admin = f"{slug}_admin"
    member = "hr_member" if slug == "hr" else "support_member"
    admin_client = _client(tenant, admin)

    kb_name = f"{slug} secret base {secret}"
    kb_id = create_knowledge_base(admin_client, tenant, kb_name)
    filename = f"{slug}-secret-{secret}.txt"
    [document] = uploaded_documents(
        admin_client,
        tenant,
        kb_id,
        [text_file(filename, f"The {slug} vault code is {secret}. Parking is free.")],
    )
    question = f"What is the {slug} vault code {secret}?"
    answer = ask(_client(tenant, member), tenant, question).json()

    member_user = Membership.objects.get(tenant=tenant, user__username=member).user
    admin_user = Membership.objects.get(tenant=tenant, user__username=admin).user
    api_key, plaintext = issue_api_key(
        tenant, f"{slug} key", ["llm", "retrieval"], admin_user
    )
    _, scopeless = issue_api_key(tenant, f"{slug} no scope", [], admin_user)
    dify = {kind: f"{slug}-{kind}-{secret}" for kind in DifyObjectKind.values}
    with schema_context(tenant.schema_name):
        for kind, dify_id in dify.items():
            DifyObject.objects.create(
                kind=kind, dify_id=dify_id, user_id=member_user.pk
            )
        from audit.models import AuditEntry

        last_entry = AuditEntry.objects.order_by("-id").first()
        assert last_entry is not None
    connection.set_schema_to_public()

    ids = {
        "knowledge_base_id": [kb_id],
        "document_id": [document["id"]],
        "conversation_id": [answer["conversation_id"], dify["conversation"]],
        "message_id": [answer["message_id"], dify["message"]],
        "task_id": [dify["task"]],
        "key_id": [str(api_key.id)],
        "entry_id": [str(last_entry.id)],
    }
    markers = {
        kb_id,
        kb_name,
        document["id"],
        filename,
        secret,
        answer["conversation_id"],
        answer["message_id"],
        last_entry.entry_hash,
        str(tenant.id),
        plaintext,
        *dify.values(),
    }
    membership = Membership.objects.select_related("user", "tenant").get(
        tenant=tenant, user=member_user
    )
    return Holdings(
        tenant, ids, markers, plaintext, scopeless, str(tokens_for(membership))
    )


# Requests


@dataclass(frozen=True)
class Attempt:
    kind: str
    route: Route
    method: str
    path_tenant: Tenant
    params: dict[str, str]
    credentials: dict[str, str]
    body: dict[str, Any]
    expected: frozenset[int] = frozenset(REFUSED)
    # The caller is entitled at home (foreign ids in a body): its own
    # tenant may change, the victim's may not.
    home_may_change: bool = False


@dataclass
class Tally:
    routes: int = 0
    attempts: int = 0
    leaks: list[str] = field(default_factory=list)


def send(attempt: Attempt) -> Any:
    path = f"/t/{attempt.path_tenant.slug}/" + attempt.route.template.format(
        **attempt.params
    )
    client = APIClient()
    body = json.dumps(attempt.body) if attempt.method not in SAFE else None
    return client.generic(
        attempt.method,
        path,
        data=body or "",
        content_type="application/json",
        **attempt.credentials,
    )


def _client(tenant: Tenant, username: str) -> APIClient:
    client = APIClient()
    client.credentials(**_jwt(tenant, username))
    return client


def _jwt(tenant: Tenant, username: str, header: str | None = None) -> dict[str, str]:
    membership = Membership.objects.select_related("user", "tenant").get(
        tenant=tenant, user__username=username
    )
    token = str(tokens_for(membership).access_token)
    return _bearer(token, header or tenant.slug)


def _bearer(token: str, header: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_X_TENANT_ID": header}


def forged_tokens(tenant: Tenant) -> dict[str, str]:
    """Tokens for the tenant's admin that no honest signer issued."""
    membership = Membership.objects.select_related("user", "tenant").get(
        tenant=tenant, user__username=f"{tenant.slug}_admin"
    )
    good = tokens_for(membership).access_token
    claims = dict(good.payload)

    expired = AccessToken(str(good))
    expired.set_exp(
        from_time=timezone.now() - timedelta(hours=2), lifetime=timedelta(hours=1)
    )
    return {
        "forged_signature": _sign(claims, "HS256", b"not-the-signing-key"),
        "expired": str(expired),
        "alg_none": _sign(claims, "none", b""),
        "garbage": "not.a.token",
    }


def _sign(claims: dict[str, Any], alg: str, key: bytes) -> str:
    def part(data: dict[str, Any]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    unsigned = f"{part({'alg': alg, 'typ': 'JWT'})}.{part(claims)}"
    if alg == "none":
        return unsigned + "."
    signature = hmac.new(key, unsigned.encode(), hashlib.sha256).digest()
    return unsigned + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


# What to try


def attacks(
    route: Route, method: str, target: Holdings, other: Holdings
) -> Iterator[Attempt]:
    """Everything that must be refused, against `target` (and `other` for swaps)."""
    own = {name: target.ids.get(name, ["0"])[0] for name in route.params}
    other_own = {name: other.ids.get(name, ["0"])[0] for name in route.params}
    body = _body(other)
    t, o = target.tenant, other.tenant

    def attempt(
        kind: str,
        tenant: Tenant,
        params: dict[str, str],
        creds: dict[str, str],
        **kw: Any,
    ) -> Attempt:
        return Attempt(
            kind, route, method, tenant, params, creds, kw.pop("body", body), **kw
        )

    if route.auth == "anonymous":
        yield from _anonymous_attacks(route, method, target, other, own, other_own)
        return
    if route.auth == "api_key":
        yield attempt("other_tenant_key", t, own, _bearer(other.api_key, t.slug))
        yield attempt("header_mismatch", t, own, _bearer(target.api_key, o.slug))
        yield attempt(
            "tenant_swapped_in_path", o, other_own, _bearer(target.api_key, t.slug)
        )
        yield attempt("jwt_instead_of_key", t, own, _jwt(t, f"{t.slug}_admin"))
        yield attempt("scopeless_key", t, own, _bearer(target.scopeless_key, t.slug))
        yield attempt("made_up_key", t, own, _bearer("pk_deadbeef_" + "x" * 43, t.slug))
        yield attempt("no_credentials", t, own, {})
        yield from _foreign_ids(
            route, method, other, target, _bearer(other.api_key, o.slug)
        )
        yield from _foreign_body(
            route, method, other, target, _bearer(other.api_key, o.slug)
        )
        return

    admin = f"{t.slug}_admin"
    yield attempt(
        "other_tenant_token", t, own, _jwt(o, f"{o.slug}_admin", header=t.slug)
    )
    yield attempt("other_tenant_token_and_header", t, own, _jwt(o, f"{o.slug}_admin"))
    yield attempt("header_mismatch", t, own, _jwt(t, admin, header=o.slug))
    yield attempt(
        "header_missing",
        t,
        own,
        {"HTTP_AUTHORIZATION": _jwt(t, admin)["HTTP_AUTHORIZATION"]},
    )
    yield attempt("tenant_swapped_in_path", o, other_own, _jwt(t, admin))
    for kind, token in forged_tokens(t).items():
        yield attempt(kind, t, own, _bearer(token, t.slug), expected=frozenset({401}))
    yield attempt(
        "no_credentials",
        t,
        own,
        {"HTTP_X_TENANT_ID": t.slug},
        expected=frozenset({401}),
    )
    yield from _role_attacks(route, method, target, own, attempt)
    yield from _foreign_ids(route, method, other, target, _jwt(o, f"{o.slug}_admin"))
    yield from _foreign_body(route, method, other, target, _jwt(o, f"{o.slug}_admin"))


def _role_attacks(
    route: Route,
    method: str,
    target: Holdings,
    own: dict[str, str],
    attempt: Callable[..., Attempt],
) -> Iterator[Attempt]:
    t = target.tenant
    member = "hr_member" if t.slug == "hr" else "support_member"
    auditor_reads = method in SAFE and route.name in ROLE_POLICY.auditor_reads
    member_may = (
        route.name in ROLE_POLICY.member_writes
        if method not in SAFE
        else route.name not in ROLE_POLICY.admin_reads
    )
    forbidden = frozenset({403})
    if not member_may:
        yield attempt(
            "member_on_admin_route", t, own, _jwt(t, member), expected=forbidden
        )
    if t.slug == "hr" and not auditor_reads:
        kind = "auditor_on_write" if method not in SAFE else "auditor_outside_audit"
        yield attempt(kind, t, own, _jwt(t, "hr_auditor"), expected=forbidden)


def _foreign_ids(
    route: Route,
    method: str,
    attacker: Holdings,
    victim: Holdings,
    creds: dict[str, str],
) -> Iterator[Attempt]:
    """The attacker, fully entitled at home, names the victim's objects."""
    if not route.params:
        return
    for name in route.params:
        for foreign in victim.ids.get(
            name, [i for ids in victim.ids.values() for i in ids]
        ):
            params = {p: attacker.ids.get(p, ["0"])[0] for p in route.params}
            params[name] = foreign
            yield Attempt(
                f"foreign_{name}",
                route,
                method,
                attacker.tenant,
                params,
                creds,
                _body(victim),
                expected=ANY_STATUS
                if name in PER_TENANT_NUMBERS
                else frozenset({404, 405}),
                home_may_change=name in PER_TENANT_NUMBERS,
            )


def _foreign_body(
    route: Route,
    method: str,
    attacker: Holdings,
    victim: Holdings,
    creds: dict[str, str],
) -> Iterator[Attempt]:
    """Writes without ids in the path, at home, with the victim's ids in the body.

    The endpoint may well succeed on the caller's own data; judged by what
    comes back and by the victim's state only.
    """
    if route.params or method in SAFE:
        return
    yield Attempt(
        "foreign_ids_in_body",
        route,
        method,
        attacker.tenant,
        {},
        creds,
        _body(victim),
        expected=ANY_STATUS,
        home_may_change=True,
    )


def _anonymous_attacks(
    route: Route,
    method: str,
    target: Holdings,
    other: Holdings,
    own: dict[str, str],
    other_own: dict[str, str],
) -> Iterator[Attempt]:
    t, o = target.tenant, other.tenant
    outsider = f"{o.slug}_admin"
    foreign_login = {
        "username": outsider,
        "password": PASSWORD,
        "refresh": other.refresh,
    }
    own_login = {
        "username": f"{t.slug}_admin",
        "password": PASSWORD,
        "refresh": target.refresh,
    }
    header = {"HTTP_X_TENANT_ID": t.slug}
    yield Attempt(
        "other_tenant_credentials", route, method, t, own, header, foreign_login
    )
    yield Attempt(
        "header_mismatch",
        route,
        method,
        t,
        own,
        {"HTTP_X_TENANT_ID": o.slug},
        own_login,
    )
    yield Attempt(
        "tenant_swapped_in_path", route, method, o, other_own, header, own_login
    )
    for kind, token in forged_tokens(t).items():
        yield Attempt(
            kind,
            route,
            method,
            t,
            own,
            header,
            {"username": "x", "password": "y", "refresh": token},
        )


def _body(holder: Holdings) -> dict[str, Any]:
    """A body naming the holder's objects wherever an endpoint might read an id."""
    ids = holder.ids
    return {
        "name": "attack",
        "query": "attack",
        "knowledge_base_ids": ids["knowledge_base_id"],
        "knowledge_id": ids["knowledge_base_id"][0],
        "conversation_id": ids["conversation_id"][1],
        "document_id": ids["document_id"][0],
        "message_id": ids["message_id"][0],
        "retrieval_setting": {"top_k": 3, "score_threshold": 0},
        "messages": [{"role": "user", "content": "attack"}],
        "model": "auto",
        "rating": "like",
        "record_chat_text": True,
    }


# State


def state_of(tenant: Tenant) -> dict[str, str]:
    """A digest of every table in the tenant's schema and its public rows."""
    schema = tenant.schema_name
    digests: dict[str, str] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            [schema],
        )
        for (table,) in cursor.fetchall():
            # Refusals append to the trail; what was there must stay as it was.
            column = "entry_hash" if table == "audit_auditentry" else "t::text"
            where = "WHERE outcome <> 'denied'" if table == "audit_auditentry" else ""
            cursor.execute(
                f"SELECT md5(coalesce(string_agg({column}, ',' ORDER BY {column}), '')) "
                f'FROM "{schema}"."{table}" t {where}'
            )
            digests[table] = cursor.fetchone()[0]
        for table, key in (
            ("tenants_membership", "tenant_id"),
            ("tenants_apikey", "tenant_id"),
        ):
            cursor.execute(
                f"SELECT md5(coalesce(string_agg(row_to_json(t)::jsonb - 'last_used_at' #>> '{{}}', ',' ORDER BY t.id), '')) "
                f"FROM public.{table} t WHERE {key} = %s",
                [tenant.id],
            )
            digests[table] = cursor.fetchone()[0]
    return digests


# The suite


def test_every_tenant_route_refuses_every_attack(hr, support, pytestconfig):
    # given
    routes = tenant_routes()
    holdings = {"hr": make_holdings(hr), "support": make_holdings(support)}
    target, other = holdings["hr"], holdings["support"]
    _controls_pass(routes, target)
    before = {slug: state_of(h.tenant) for slug, h in holdings.items()}
    tally = Tally(routes=len(routes))

    # when
    for route in routes:
        for method in route.methods:
            may_change: set[str] = set()
            for attempt in attacks(route, method, target, other):
                tally.attempts += 1
                _judge(attempt, send(attempt), holdings, tally)
                if attempt.home_may_change:
                    may_change.add(attempt.path_tenant.slug)
            for slug, h in holdings.items():
                now = state_of(h.tenant)
                if now != before[slug] and slug not in may_change:
                    changed = sorted(k for k in now if now[k] != before[slug].get(k))
                    tally.leaks.append(
                        f"{method} {route.name}: {slug}'s {changed} changed"
                    )
                before[slug] = now

    # then
    line = f"attack suite: routes {tally.routes}, attempts {tally.attempts}, leaks {len(tally.leaks)}"
    pytestconfig.stash[ATTACK_SUMMARY] = line
    print(line)
    assert tally.leaks == [], "\n".join(tally.leaks)
    assert tally.routes >= 20
    assert {"audit-entry", "document", "knowledge-base-documents"} <= {
        r.name for r in routes
    }


def _judge(
    attempt: Attempt, response: Any, holdings: dict[str, Holdings], tally: Tally
) -> None:
    label = f"{attempt.method} {attempt.route.name} [{attempt.kind}]"
    if response.status_code not in attempt.expected:
        tally.leaks.append(
            f"{label}: answered {response.status_code}, expected {sorted(attempt.expected)}"
        )
    body = _content(response)
    victims = [h for h in holdings.values() if _is_victim(h, attempt)]
    for victim in victims:
        found = sorted(m for m in victim.markers if m in body)
        if found:
            tally.leaks.append(
                f"{label}: response shows {victim.tenant.slug}'s {found}"
            )


def _is_victim(holder: Holdings, attempt: Attempt) -> bool:
    # The attacker's own tenant may show its own data; every other may not.
    if attempt.kind.startswith(("member_", "auditor_")):
        return True  # refused outright: nothing at all may come back
    attacker_home = attempt.path_tenant if attempt.kind.startswith("foreign_") else None
    return holder.tenant != attacker_home


def _content(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def _controls_pass(routes: list[Route], target: Holdings) -> None:
    """The rightful caller gets past authentication on every readable route,
    so the refusals above are about the attack, not a broken request."""
    admin = _jwt(target.tenant, f"{target.tenant.slug}_admin")
    key = _bearer(target.api_key, target.tenant.slug)
    for route in routes:
        if "GET" not in route.methods or route.auth == "anonymous":
            continue
        if route.name.startswith("dify-"):
            continue  # reads are relayed to a Dify app this tenant has not set up
        params = {name: target.ids.get(name, ["0"])[0] for name in route.params}
        creds = key if route.auth == "api_key" else admin
        attempt = Attempt("control", route, "GET", target.tenant, params, creds, {})
        response = send(attempt)
        assert response.status_code not in (401, 403), (route.name, response.content)
