"""What tenant governance costs per request, and how fast the audit trail appends.

One run, one database (the embedded server's `portal_bench`, or DATABASE_URL),
one process, the real middleware and DRF settings:

  * end to end: the same trivial view (one `SELECT 1`) served twice through
    Django's full handler, once as a bare DRF endpoint outside any tenant
    (no authentication, no permission) and once as a tenant endpoint with
    everything governance adds: tenant resolution from the path and the
    X-Tenant-ID check, the tenant JWT check with its membership lookup, the
    role check, the quota check and an audit entry. Requests alternate
    between the two so drift hits both alike. Median and p99 in microseconds.
  * each component alone, called the way the stack calls it, with the same
    statistics.
  * audit-log appends per second with hash chaining: one transaction per
    entry (as a request writes it), sequentially and from 4 threads.

    .venv/bin/python bench/governance_overhead.py            # about a minute
    .venv/bin/python bench/governance_overhead.py --quick

Quota check: the requests-per-minute admission every chat entry path makes
(`tenants.quotas.admit_request`), with a limit set on the bench tenant so
the counter is really taken: in Redis when REDIS_URL is set, otherwise in
the process.
"""

import argparse
import os
import statistics
import sys
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "portal_bench"
TENANT_SLUG = "bench-gov"
USERNAME = "bench-gov-member"
GOALS = {"added_median_us": 1500.0, "audit_inserts_per_s": 2000.0}

# Import path of the per-request quota check, "module:function", taking the
# DRF request.
QUOTA_CHECK: str | None = "bench.governance_overhead:admit_request"
# High enough never to refuse during the run, so every request is counted.
BENCH_REQUESTS_PER_MINUTE = 10**9


def admit_request(request: Any) -> None:
    from tenants.context import current_tenant
    from tenants.quotas import admit_request as admit

    admit(current_tenant())


def configure_environment() -> None:
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings.base"
    if not os.environ.get("DATABASE_URL"):
        os.environ["EMBEDDED_DB_NAME"] = BENCH_DATABASE
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Connections kept between requests, as a deployment runs.
    os.environ.setdefault("DB_CONN_MAX_AGE", "60")


def start_django() -> None:
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    call_command("migrate_schemas", shared=True, verbosity=0)
    install_bench_urls(settings)


# The two endpoints


def quota_check() -> Callable[[Any], None] | None:
    if QUOTA_CHECK is None:
        return None
    from importlib import import_module

    module, function = QUOTA_CHECK.split(":")
    check: Callable[[Any], None] = getattr(import_module(module), function)
    return check


def install_bench_urls(settings: Any) -> None:
    """Add one bare and one governed endpoint to the public and tenant URLconfs."""
    from django.db import connection
    from django.urls import include, path
    from rest_framework.permissions import AllowAny, IsAuthenticated
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from audit.trail import record
    from tenants.permissions import CanUseKnowledge

    check_quota = quota_check()

    def select_one() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    class BareView(APIView):
        authentication_classes: list[type] = []
        permission_classes = [AllowAny]

        def get(self, request: Any) -> Response:
            select_one()
            return Response({"ok": True})

    class GovernedView(APIView):
        permission_classes = [IsAuthenticated, CanUseKnowledge]

        def get(self, request: Any) -> Response:
            if check_quota is not None:
                check_quota(request)
            select_one()
            record(
                "bench.request",
                actor_id=request.user.pk,
                actor=request.user.get_username(),
                client_ip=request.META.get("REMOTE_ADDR"),
                details={"path": request.path},
            )
            return Response({"ok": True})

    public = types.ModuleType("bench_public_urls")
    public.urlpatterns = [path("bench/bare", BareView.as_view())]  # type: ignore[attr-defined]
    tenant = types.ModuleType("bench_tenant_urls")
    tenant.urlpatterns = [  # type: ignore[attr-defined]
        path("api/v1/bench/governed", GovernedView.as_view()),
        path("", include(settings.ROOT_URLCONF)),
    ]
    for module in (public, tenant):
        for handler in ("handler400", "handler403", "handler404", "handler500"):
            setattr(
                module, handler, getattr(sys.modules[settings.ROOT_URLCONF], handler)
            )
        sys.modules[module.__name__] = module
    settings.PUBLIC_SCHEMA_URLCONF = public.__name__
    settings.ROOT_URLCONF = tenant.__name__


# Set-up


def bench_tenant() -> tuple[Any, str]:
    """The benchmark tenant and a member's access token (made once, then reused)."""
    from django.core.management import call_command

    from tenants.actions import add_member, provision_tenant
    from tenants.models import Role, Tenant
    from tenants.tokens import tokens_for

    tenant = Tenant.objects.filter(slug=TENANT_SLUG).first()
    if tenant is None:
        tenant = provision_tenant(TENANT_SLUG, "Benchmark: governance overhead")
    else:
        # A tenant kept from an earlier run gets this branch's migrations.
        call_command("migrate_schemas", schema_name=tenant.schema_name, verbosity=0)
    membership = add_member(tenant, USERNAME, Role.MEMBER, None)
    from tenants.quotas import set_quota

    set_quota(tenant, requests_per_minute=BENCH_REQUESTS_PER_MINUTE)
    membership = (
        type(membership).objects.select_related("user", "tenant").get(id=membership.id)
    )
    return tenant, str(tokens_for(membership).access_token)


# Timing


def micros(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1e6, p99 * 1e6


def timed(call: Callable[[], Any], count: int, warm_up: int = 50) -> list[float]:
    for _ in range(warm_up):
        call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def end_to_end(tenant: Any, token: str, count: int) -> dict[str, list[float]]:
    from django.test import Client

    client = Client(HTTP_HOST="localhost")
    governed_path = f"/t/{tenant.slug}/api/v1/bench/governed"
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_X_TENANT_ID": tenant.slug}

    def bare() -> None:
        response = client.get("/bench/bare")
        assert response.status_code == 200, response.content

    def governed() -> None:
        response = client.get(governed_path, **headers)
        assert response.status_code == 200, response.content

    for _ in range(50):
        bare()
        governed()
    samples: dict[str, list[float]] = {"bare": [], "governed": []}
    for _ in range(count):
        for name, call in (("bare", bare), ("governed", governed)):
            started = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - started)
    return samples


def components(tenant: Any, token: str, count: int) -> dict[str, list[float] | None]:
    from django.db import connection
    from django.http import HttpResponse
    from django.test import RequestFactory
    from rest_framework.request import Request

    from audit.trail import record
    from tenants.authentication import TenantJWTAuthentication
    from tenants.context import use_public_schema
    from tenants.middleware import TenantHeaderMiddleware, TenantPathMiddleware
    from tenants.permissions import CanUseKnowledge

    factory = RequestFactory(HTTP_HOST="localhost")
    path = f"/t/{tenant.slug}/api/v1/bench/governed"
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_X_TENANT_ID": tenant.slug}
    resolver = TenantPathMiddleware(lambda request: HttpResponse())
    header_check = TenantHeaderMiddleware(lambda request: HttpResponse())

    def resolve_tenant() -> None:
        request = factory.get(path, **headers)
        assert resolver.process_request(request) is None
        header_check(request)
        use_public_schema()

    results: dict[str, list[float] | None] = {
        "tenant resolution + header check": timed(resolve_tenant, count)
    }

    # Bound as the middleware binds it: the tenant itself, not a stand-in.
    connection.set_tenant(tenant)
    try:
        # A DRF request bound to the tenant, as the view would see it.
        django_request = factory.get(path, **headers)
        django_request.tenant = tenant  # type: ignore[attr-defined]
        authenticator = TenantJWTAuthentication()

        def check_token() -> None:
            assert authenticator.authenticate(Request(django_request)) is not None

        results["token check (JWT + membership)"] = timed(check_token, count)

        request = Request(django_request, authenticators=[authenticator])
        assert request.user.is_authenticated
        permission = CanUseKnowledge()

        def check_role() -> None:
            assert permission.has_permission(request, None)

        results["role check"] = timed(check_role, count)

        check_quota = quota_check()
        results["quota check"] = (
            None if check_quota is None else timed(lambda: check_quota(request), count)
        )

        def audit_write() -> None:
            record("bench.component", actor_id=1, actor="bench", details={"n": 1})

        results["audit write"] = timed(audit_write, count)
    finally:
        use_public_schema()
    return results


def audit_rate(tenant: Any, count: int, threads: int) -> float:
    """Committed, hash-chained appends per second across `threads` threads."""
    from django.db import connection
    from django_tenants.utils import schema_context

    from audit.trail import record

    per_thread = count // threads

    def append() -> None:
        with schema_context(tenant.schema_name):
            for number in range(per_thread):
                record("bench.append", actor="bench", details={"n": number})
        connection.close()

    workers = [threading.Thread(target=append) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return per_thread * threads / (time.perf_counter() - started)


def chain_intact(tenant: Any) -> bool:
    from django_tenants.utils import schema_context

    from audit.verify import verify_trail

    with schema_context(tenant.schema_name):
        return verify_trail().intact


# Report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--appends", type=int, default=4000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.appends = 400, 1000

    configure_environment()
    start_django()
    tenant, token = bench_tenant()
    load = os.getloadavg()[0]
    print(
        f"governance overhead: tenant {tenant.slug}, {args.requests} requests per "
        f"endpoint, {os.cpu_count()} CPUs, 1-minute load {load:.1f}"
    )

    samples = end_to_end(tenant, token, args.requests)
    bare, governed = micros(samples["bare"]), micros(samples["governed"])
    added = (governed[0] - bare[0], governed[1] - bare[1])
    print("\nend to end (Django test client, full middleware), µs   median      p99")
    print(
        f"  bare DRF endpoint, no tenant                     {bare[0]:8.0f} {bare[1]:8.0f}"
    )
    print(
        f"  governed tenant endpoint                         {governed[0]:8.0f} {governed[1]:8.0f}"
    )
    print(
        f"  added by governance                              {added[0]:8.0f} {added[1]:8.0f}"
    )

    print("\neach component alone, µs                          median      p99")
    medians = []
    for name, component in components(tenant, token, args.requests).items():
        if component is None:
            print(
                f"  {name:<46} not measured: no quota check on this branch (hook: QUOTA_CHECK)"
            )
            continue
        median, p99 = micros(component)
        medians.append(median)
        print(f"  {name:<46} {median:8.0f} {p99:8.0f}")
    # The bare endpoint also pays django-tenants' lookup of the public
    # tenant, so the end-to-end difference can undercount; the sum cannot.
    print(f"  {'sum of the medians':<46} {sum(medians):8.0f}")

    sequential = audit_rate(tenant, args.appends, threads=1)
    parallel = audit_rate(tenant, args.appends, threads=4)
    intact = chain_intact(tenant)
    print("\naudit appends (hash-chained, one transaction each)")
    print(f"  1 thread   {sequential:8.0f} /s")
    print(f"  4 threads  {parallel:8.0f} /s")
    print(f"  chain intact after the run: {intact}")

    print("\ngoals")
    _goal("added at the median", added[0], GOALS["added_median_us"], "µs", below=True)
    _goal(
        "sum of component medians",
        sum(medians),
        GOALS["added_median_us"],
        "µs",
        below=True,
    )
    _goal(
        "audit inserts per second (1 thread)",
        sequential,
        GOALS["audit_inserts_per_s"],
        "/s",
        below=False,
    )


def _goal(name: str, value: float, goal: float, unit: str, below: bool) -> None:
    met = value < goal if below else value > goal
    sign = "<" if below else ">"
    print(
        f"  {name}: {value:.0f} {unit} (goal {sign} {goal:.0f}) {'met' if met else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
