"""Tenant quotas: requests per minute, monthly budgets, prompt size, storage.

Rate and budget counters run on a real Redis (db 14) where the test says so;
the rest use the in-process counters of the embedded default.
"""

import contextlib
import multiprocessing
import statistics
import threading
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO

import pytest
import redis
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from llm.models import UsageRecord
from rag.models import Document
from tenants import quotas
from tenants.api_keys import issue_api_key
from tenants.counters import RedisCounters
from tenants.models import TenantQuota
from tests.chat.test_chat import ask, upload_samples
from tests.conftest import api
from tests.dify import conftest as dify_fixtures
from tests.dify.conftest import connect
from tests.fakes.providers import Reply
from tests.llm import conftest as llm_fixtures
from tests.llm.conftest import configure

QUOTA_REDIS = "redis://127.0.0.1:6379/14"
# The fake providers and the fake Dify app, from their packages' conftests.
fake_server, fake = llm_fixtures.fake_server, llm_fixtures.fake
dify_server, dify = dify_fixtures.dify_server, dify_fixtures.dify


@pytest.fixture
def quota_redis(settings):  # type: ignore[no-untyped-def]
    """Quota counters in Redis db 14, emptied before and after the test."""
    client = redis.Redis.from_url(QUOTA_REDIS, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip(f"Redis is not reachable at {QUOTA_REDIS}; start redis-server")
    client.flushdb()
    settings.QUOTAS = {**settings.QUOTAS, "REDIS_URL": QUOTA_REDIS}
    yield client
    client.flushdb()


def use_this_month(tenant, tokens=0, cost="0"):  # type: ignore[no-untyped-def]
    """Record usage already spent this month (in the tenant's time zone)."""
    with schema_context(tenant.schema_name):
        UsageRecord.objects.create(
            day=quotas.month_of(tenant).first_day,
            provider="openai",
            model="gpt-x",
            tier="heavy",
            requests=1,
            input_tokens=tokens,
            cost=Decimal(cost),
        )


def openai_call(_client, tenant, key, content="ping", **extra):  # type: ignore[no-untyped-def]
    return APIClient().post(
        f"/t/{tenant.slug}/llm/v1/chat/completions",
        {"model": "auto", "messages": [{"role": "user", "content": content}], **extra},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


# --- Requests per minute ----------------------------------------------------------


def test_exactly_n_requests_pass_then_429_with_retry_after(hr, client_for, quota_redis):
    quotas.set_quota(hr, requests_per_minute=3)
    client = client_for(hr, "hr_member")

    statuses = [ask(client, hr, "holiday").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    refused = ask(client, hr, "holiday")
    assert int(refused["Retry-After"]) > 0
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert refused.json()["error"]["quota"] == "requests_per_minute"
    assert "requests_per_minute" in refused.json()["error"]["message"]


def _take_in_process(url, key, attempts, results):  # type: ignore[no-untyped-def]
    store = RedisCounters(url)
    allowed = sum(store.take(key, 25, 60).allowed for _ in range(attempts))
    results.put(allowed)


def test_rate_limit_is_exact_across_processes(quota_redis):
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [
        context.Process(
            target=_take_in_process, args=(QUOTA_REDIS, "quota:t:rpm", 10, results)
        )
        for _ in range(4)
    ]

    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    assert sum(results.get(timeout=5) for _ in workers) == 25


def test_rate_limit_is_exact_under_threads_in_memory():
    store = quotas.counters()
    allowed = []

    def hammer() -> None:
        for _ in range(20):
            allowed.append(store.take("k", 50, 60).allowed)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert allowed.count(True) == 50


def test_a_throttled_tenant_does_not_slow_or_block_another(
    hr, support, client_for, quota_redis
):
    quotas.set_quota(hr, requests_per_minute=1)
    quotas.set_quota(support, requests_per_minute=1000)
    hr_quota, support_quota = hr.quota, support.quota

    def timed_support_admissions() -> list[float]:
        times = []
        for _ in range(50):
            started = time.perf_counter()
            quotas.admit_request(support, support_quota)
            times.append(time.perf_counter() - started)
        return times

    baseline = statistics.median(timed_support_admissions())
    stop = threading.Event()

    def flood_hr() -> None:
        while not stop.is_set():
            with contextlib.suppress(quotas.QuotaExceeded):
                quotas.admit_request(hr, hr_quota)

    flooders = [threading.Thread(target=flood_hr) for _ in range(3)]
    for flooder in flooders:
        flooder.start()
    try:
        during = statistics.median(timed_support_admissions())
        support_status = ask(client_for(support, "support_member"), support, "hi")
        hr_status = ask(client_for(hr, "hr_member"), hr, "hi")
    finally:
        stop.set()
        for flooder in flooders:
            flooder.join()

    assert hr_status.status_code == 429
    assert support_status.status_code == 200
    # Three threads contend for two shared cores: allow for that, not for a
    # lock or queue shared with the throttled tenant.
    assert during < baseline * 20 + 0.005


def test_redis_down_fails_closed_with_503_and_no_provider_call(
    hr, client_for, fake, settings
):
    settings.QUOTAS = {**settings.QUOTAS, "REDIS_URL": "redis://127.0.0.1:1/0"}
    configure(hr, fake, "openai")
    quotas.set_quota(hr, requests_per_minute=100)

    response = ask(client_for(hr, "hr_member"), hr, "holiday")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "quota_store_unavailable"
    assert fake.requests == []


def test_tenant_without_quotas_needs_no_counter_store(hr, client_for, settings):
    settings.QUOTAS = {**settings.QUOTAS, "REDIS_URL": "redis://127.0.0.1:1/0"}

    assert ask(client_for(hr, "hr_member"), hr, "holiday").status_code == 200


# --- Monthly budgets ------------------------------------------------------------------


@pytest.fixture
def hr_knowledge(hr, client_for):  # type: ignore[no-untyped-def]
    return upload_samples(
        client_for(hr, "hr_admin"), hr, ["leave-and-holiday-policy.md"]
    )


@pytest.mark.parametrize(
    ("limits", "used", "quota_name"),
    [
        ({"monthly_spend_usd": Decimal("2.50")}, {"cost": "2.50"}, "monthly_spend_usd"),
        ({"monthly_tokens": 1000}, {"tokens": 1000}, "monthly_tokens"),
    ],
)
def test_budget_at_exactly_its_limit_refuses_every_entry_path(  # type: ignore[no-untyped-def]
    hr, hr_knowledge, client_for, fake, dify, limits, used, quota_name, quota_redis
):
    configure(hr, fake, "openai")
    connect(hr, dify.base_url)
    _, key = issue_api_key(hr, "svc", ["llm"], created_by=None)
    quotas.set_quota(hr, **limits)
    use_this_month(hr, **used)
    member = client_for(hr, "hr_member")

    responses = {
        "chat": ask(member, hr, "How many days of annual leave?"),
        "chat stream": ask(member, hr, "How many days of leave?", stream=True),
        "openai": openai_call(member, hr, key),
        "openai stream": openai_call(member, hr, key, stream=True),
        "dify": member.post(
            api(hr, "dify/chat-messages"), {"query": "hello"}, format="json"
        ),
    }

    for path, response in responses.items():
        assert response.status_code == 429, path
        assert response.json()["error"]["quota"] == quota_name, path
        assert quota_name in response.json()["error"]["message"], path
    assert fake.requests == []
    assert list(dify.chats()) == []


def test_budget_just_below_its_limit_lets_a_call_through(
    hr, hr_knowledge, client_for, fake, quota_redis
):
    configure(hr, fake, "openai")
    quotas.set_quota(hr, monthly_spend_usd=Decimal("2.50"))
    use_this_month(hr, cost="2.49")

    response = ask(client_for(hr, "hr_member"), hr, "How many days of annual leave?")

    assert response.status_code == 200
    assert len(fake.requests) == 1


def test_streamed_usage_counts_toward_the_budget(hr, client_for, fake, quota_redis):
    configure(hr, fake, "openai")
    _, key = issue_api_key(hr, "svc", ["llm"], created_by=None)
    quotas.set_quota(hr, monthly_tokens=500)
    fake.script("openai", Reply(text="ok", input_tokens=400, output_tokens=100))
    client = client_for(hr, "hr_member")

    first = openai_call(client, hr, key, stream=True)
    b"".join(first.streaming_content)
    second = openai_call(client, hr, key)

    assert first.status_code == 200
    assert second.status_code == 429
    assert second.json()["error"]["quota"] == "monthly_tokens"


def test_another_tenants_spent_budget_does_not_refuse_this_one(
    hr, support, client_for, quota_redis
):
    quotas.set_quota(hr, monthly_tokens=10)
    use_this_month(hr, tokens=10)
    quotas.set_quota(support, monthly_tokens=10)

    with pytest.raises(quotas.QuotaExceeded):
        quotas.check_budget(hr)
    quotas.check_budget(support)


def test_concurrent_calls_overspend_by_at_most_one_calls_hold(hr, quota_redis):
    quotas.set_quota(hr, monthly_spend_usd=Decimal("1.00"))
    quota = hr.quota
    per_call = Decimal("0.07")
    quotas.check_budget(hr, quota)  # seeds the month's totals from the table
    admitted = []

    def call() -> None:
        for _ in range(10):
            try:
                with quotas.budget_hold(hr, 100, per_call, quota=quota):
                    time.sleep(0.002)
                    quotas.counters().add(
                        quotas._budget_keys(hr, quotas.month_of(hr)),
                        [100, quotas._micro(per_call)],
                    )
                    admitted.append(1)
            except quotas.QuotaExceeded:
                pass

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    spent = per_call * len(admitted)
    assert Decimal("1.00") <= spent <= Decimal("1.00") + per_call


def test_month_follows_the_tenants_time_zone_across_month_end_and_dst(hr):
    hr.time_zone = "America/Los_Angeles"

    # 06:30 UTC on 1 April is still 31 March in Los Angeles.
    late_march = quotas.month_of(hr, datetime(2025, 4, 1, 6, 30, tzinfo=UTC))
    april = quotas.month_of(hr, datetime(2025, 4, 1, 7, 0, tzinfo=UTC))
    # Clocks went forward on 9 March; the reset is still local midnight.
    assert late_march.label == "2025-03"
    assert late_march.resets_at.isoformat() == "2025-04-01T00:00:00-07:00"
    assert april.label == "2025-04"
    november = quotas.month_of(hr, datetime(2025, 11, 15, tzinfo=UTC))
    assert november.resets_at.isoformat() == "2025-12-01T00:00:00-08:00"
    december = quotas.month_of(hr, datetime(2025, 12, 31, 23, 0, tzinfo=UTC))
    assert december.resets_at.isoformat() == "2026-01-01T00:00:00-08:00"


def test_spent_budget_resets_at_local_midnight_on_the_first(hr, quota_redis):
    hr.time_zone = "Europe/Berlin"
    hr.save()
    quotas.set_quota(hr, monthly_tokens=100)
    with schema_context(hr.schema_name):
        UsageRecord.objects.create(
            day=date(2025, 10, 31), provider="openai", model="m", input_tokens=100
        )

    # 22:59 UTC on 31 October is 23:59 in Berlin (after the DST change).
    with pytest.raises(quotas.QuotaExceeded):
        quotas.check_budget(hr, now=datetime(2025, 10, 31, 22, 59, tzinfo=UTC))
    quotas.check_budget(hr, now=datetime(2025, 10, 31, 23, 0, tzinfo=UTC))


# --- Prompt size -------------------------------------------------------------------------


def test_oversized_prompt_is_refused_before_any_provider_call(hr, client_for, fake):
    configure(hr, fake, "openai")
    _, key = issue_api_key(hr, "svc", ["llm"], created_by=None)
    quotas.set_quota(hr, max_prompt_tokens=50)
    client = client_for(hr, "hr_member")
    long_text = "word " * 400

    responses = [
        openai_call(client, hr, key, content=long_text),
        openai_call(client, hr, key, content=long_text, stream=True),
        ask(client, hr, long_text),
    ]

    for response in responses:
        assert response.status_code == 413
        assert response.json()["error"]["quota"] == "max_prompt_tokens"
    assert fake.requests == []


# --- Storage and documents -------------------------------------------------------------------


@pytest.fixture
def hr_base(hr, client_for):  # type: ignore[no-untyped-def]
    admin = client_for(hr, "hr_admin")
    return admin.post(
        api(hr, "knowledge-bases"), {"name": "Quota base"}, format="json"
    ).json()["id"]


def _text(name: str, size: int) -> tuple[str, bytes]:
    return name, (f"Notes on {name}. " * size).encode()


def _upload(client, tenant, kb_id, *files):  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        api(tenant, f"knowledge-bases/{kb_id}/documents"),
        {
            "files": [
                SimpleUploadedFile(name, content, "text/plain")
                for name, content in files
            ]
        },
        format="multipart",
    )


def test_document_quota_refuses_the_n_plus_first_and_stores_nothing(
    hr, hr_base, client_for, in_schema
):
    quotas.set_quota(hr, documents=2)
    admin = client_for(hr, "hr_admin")

    first = _upload(admin, hr, hr_base, _text("a.txt", 5), _text("b.txt", 5))
    refused = _upload(admin, hr, hr_base, _text("c.txt", 5))

    assert first.status_code == 202
    assert refused.status_code == 429
    assert refused.json()["error"]["quota"] == "documents"
    with in_schema(hr):
        assert sorted(Document.objects.values_list("filename", flat=True)) == [
            "a.txt",
            "b.txt",
        ]


def test_storage_quota_refuses_an_upload_that_would_pass_it(
    hr, support, hr_base, client_for, in_schema
):
    quotas.set_quota(hr, storage_mb=1)
    admin = client_for(hr, "hr_admin")
    big = ("big.txt", b"x" * (1024 * 1024 - 10))

    refused = _upload(admin, hr, hr_base, _text("small.txt", 5), big)

    assert refused.status_code == 429
    assert refused.json()["error"]["quota"] == "storage_mb"
    with in_schema(hr):
        assert not Document.objects.exists()
    # The other tenant's storage is its own.
    support_admin = client_for(support, "support_admin")
    support_base = support_admin.post(
        api(support, "knowledge-bases"), {"name": "S"}, format="json"
    ).json()["id"]
    assert _upload(support_admin, support, support_base, big).status_code == 202


# --- Quotas API and the operator's command -------------------------------------------------


def test_admin_and_auditor_read_quotas_and_use_member_cannot(hr, client_for):
    quotas.set_quota(hr, requests_per_minute=60, monthly_spend_usd=Decimal("10"))
    use_this_month(hr, tokens=42, cost="1.25")

    body = client_for(hr, "hr_admin").get(api(hr, "quotas")).json()
    auditor = client_for(hr, "hr_auditor").get(api(hr, "quotas"))
    member = client_for(hr, "hr_member").get(api(hr, "quotas"))

    assert body["quotas"]["requests_per_minute"]["limit"] == 60
    assert body["quotas"]["monthly_spend_usd"] == {"limit": "10.00", "used": "1.25"}
    assert body["quotas"]["monthly_tokens"] == {"limit": None, "used": 42}
    assert auditor.status_code == 200
    assert member.status_code == 403


def test_quotas_of_another_tenant_are_out_of_reach(hr, support, client_for):
    quotas.set_quota(support, documents=7)

    response = client_for(hr, "hr_admin", header="support").get(api(support, "quotas"))
    own = client_for(hr, "hr_admin").get(api(hr, "quotas")).json()

    assert response.status_code == 403
    assert own["quotas"]["documents"]["limit"] is None


def test_tenant_admin_cannot_change_quotas(hr, client_for):
    response = client_for(hr, "hr_admin").put(
        api(hr, "quotas"), {"documents": 999}, format="json"
    )

    assert response.status_code == 405
    assert not TenantQuota.objects.filter(tenant=hr).exists()


def test_set_quota_command_sets_and_removes_limits(hr):
    out = StringIO()
    call_command(
        "set_quota",
        "hr",
        "--requests-per-minute",
        "30",
        "--monthly-spend-usd",
        "12.5",
        stdout=out,
    )
    call_command("set_quota", "hr", "--requests-per-minute", "none", stdout=out)

    quota = TenantQuota.objects.get(tenant=hr)
    assert quota.requests_per_minute is None
    assert quota.monthly_spend_usd == Decimal("12.50")
    with pytest.raises(CommandError):
        call_command("set_quota", "nope", "--documents", "1")
    with pytest.raises(CommandError):
        call_command("set_quota", "hr", "--documents", "-1")
