"""What the platform's Dify proxy adds over calling the same Dify upstream directly.

One run starts a local Dify-speaking upstream (tests/fakes/dify.py) and the
platform under gunicorn (gthread workers, the real settings, the embedded or
configured database), then sends the same requests to both, back to back:

  * blocking chat-messages at concurrency 1 and 16: latency p50/p99 and
    requests per second, direct and through the proxy, and the difference;
  * streaming chat-messages: time to the first `data:` event and to the end.

If the LiteLLM anchor's venv exists (see /work/shared/anchors/litellm/README.md,
default /tmp/anchor-litellm), LiteLLM's proxy is measured the same way in the
same run against the anchor's fake OpenAI upstream and printed beside ours.

    .venv/bin/python bench/proxy_overhead.py            # ~2 minutes
    .venv/bin/python bench/proxy_overhead.py --quick    # fewer requests

The proxy is pinned to CPU 0; the upstream and this client share CPU 1.
"""

import argparse
import asyncio
import json
import math
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
ANCHOR_DIR = Path("/work/shared/anchors/litellm")
DIFY_KEY = "app-bench-" + secrets.token_hex(8)


# Processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up within {seconds:.0f} s")


def pinned(cpu: int | None, command: list[str]) -> list[str]:
    if cpu is None or not shutil.which("taskset"):
        return command
    return ["taskset", "-c", str(cpu), *command]


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


# Platform set-up, in this process, against the same database gunicorn uses


def prepare_tenant(dify_base_url: str) -> tuple[str, str]:
    """A bench tenant connected to the fake upstream; returns (slug, access token)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.base")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django_tenants.utils import schema_context

    from dify.actions import connect_dify_app
    from tenants.actions import add_member, ensure_public_tenant, provision_tenant
    from tenants.models import Role, Tenant
    from tenants.tokens import tokens_for

    call_command("migrate_schemas", interactive=False, verbosity=0)
    ensure_public_tenant()
    tenant = Tenant.objects.filter(slug="bench").first() or provision_tenant(
        "bench", "Benchmark"
    )
    membership = add_member(tenant, "bench_user", Role.MEMBER, None)
    with schema_context(tenant.schema_name):
        connect_dify_app(
            {
                "base_url": dify_base_url,
                "api_key": DIFY_KEY,
                "app_mode": "chat",
                "connect_timeout": 5.0,
                "read_timeout": 60.0,
            },
            actor_id=None,
            actor="bench",
        )
    return tenant.slug, str(tokens_for(membership).access_token)


# Load


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[rank]


async def load(
    url: str,
    headers: dict[str, str],
    body: dict[str, Any],
    *,
    stream: bool,
    concurrency: int,
    requests: int,
    warmup: int,
) -> dict[str, Any]:
    """Closed loop: each worker has its own keep-alive client (as the anchor's loadgen)."""
    payload = json.dumps(body).encode()
    headers = {**headers, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx.AsyncClient(limits=limits, timeout=30.0) for _ in range(concurrency)
    ]
    latencies: list[float] = []
    firsts: list[float] = []
    failures = 0

    async def one(client: httpx.AsyncClient, keep: bool) -> None:
        nonlocal failures
        started = time.perf_counter()
        first = None
        if stream:
            async with client.stream(
                "POST", url, content=payload, headers=headers
            ) as r:
                seen = b""
                async for chunk in r.aiter_raw():
                    if first is None:
                        seen += chunk
                        if b"data:" in seen:
                            first = time.perf_counter() - started
                ok = r.status_code == 200
        else:
            r = await client.post(url, content=payload, headers=headers)
            ok = r.status_code == 200
        total = time.perf_counter() - started
        if not ok:
            failures += 1
        elif keep:
            latencies.append(total * 1000)
            if first is not None:
                firsts.append(first * 1000)

    async def worker(client: httpx.AsyncClient, share: int, keep: bool) -> None:
        for _ in range(share):
            await one(client, keep)

    try:
        for keep, count in ((False, warmup), (True, requests)):
            shares = [count // concurrency] * concurrency
            started = time.perf_counter()
            await asyncio.gather(
                *(worker(c, s, keep) for c, s in zip(clients, shares, strict=True))
            )
            elapsed = time.perf_counter() - started
    finally:
        for client in clients:
            await client.aclose()

    result: dict[str, Any] = {
        "n": len(latencies),
        "failures": failures,
        "rps": len(latencies) / elapsed,
        "p50": pct(latencies, 50),
        "p99": pct(latencies, 99),
    }
    if firsts:
        result["first_p50"] = pct(firsts, 50)
        result["first_p99"] = pct(firsts, 99)
    return result


def measure(target: dict[str, Any], stream: bool, concurrency: int, n: int) -> Any:
    body = dict(target["body"])
    body.update(target["stream_body"] if stream else {})
    return asyncio.run(
        load(
            target["url"],
            target["headers"],
            body,
            stream=stream,
            concurrency=concurrency,
            requests=n,
            warmup=max(20, n // 10),
        )
    )


# LiteLLM anchor


def litellm_targets(venv: Path, tmp: Path, stack: list[Any]) -> tuple[Any, Any] | None:
    litellm = venv / "bin" / "litellm"
    if not litellm.exists():
        return None
    upstream_port, proxy_port = free_port(), free_port()
    python = str(venv / "bin" / "python")
    upstream = subprocess.Popen(
        pinned(
            1,
            [
                python,
                str(ANCHOR_DIR / "fake_upstream.py"),
                "--port",
                str(upstream_port),
            ],
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack.append(upstream)
    config = (
        (ANCHOR_DIR / "config.yaml").read_text().replace("18001", str(upstream_port))
    )
    (tmp / "litellm.yaml").write_text(config)
    master_key = "sk-" + secrets.token_hex(32)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LITELLM_", "DATABASE_URL", "REDIS_", "OPENAI_"))
    }
    env.update(
        LITELLM_MASTER_KEY=master_key,
        LITELLM_LOG="ERROR",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
    )
    command = [
        str(litellm),
        "--config",
        str(tmp / "litellm.yaml"),
        "--host",
        "127.0.0.1",
    ]
    command += ["--port", str(proxy_port), "--num_workers", "1"]
    proxy = subprocess.Popen(
        pinned(0, command),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=tmp,
    )
    stack.append(proxy)
    wait_until_up(f"http://127.0.0.1:{upstream_port}/health")
    wait_until_up(f"http://127.0.0.1:{proxy_port}/health/liveliness", seconds=90)

    body = {
        "model": "anchor-model",
        "messages": [{"role": "user", "content": "Say hello to the benchmark."}],
        "max_tokens": 16,
    }
    stream_body = {"stream": True, "stream_options": {"include_usage": True}}
    headers = {"Authorization": f"Bearer {master_key}"}
    direct = {
        "url": f"http://127.0.0.1:{upstream_port}/v1/chat/completions",
        "headers": headers,
        "body": body,
        "stream_body": stream_body,
    }
    proxied = {**direct, "url": f"http://127.0.0.1:{proxy_port}/v1/chat/completions"}
    return direct, proxied


# Report


def row(name: str, direct: dict[str, Any], proxy: dict[str, Any], first: bool) -> str:
    p50, p99 = ("first_p50", "first_p99") if first else ("p50", "p99")
    added50, added99 = proxy[p50] - direct[p50], proxy[p99] - direct[p99]
    failures = direct["failures"] + proxy["failures"]
    return (
        f"{name:<30} {direct[p50]:7.2f} {direct[p99]:7.2f}  {proxy[p50]:7.2f} "
        f"{proxy[p99]:7.2f}  {added50:+7.2f} {added99:+7.2f}  "
        f"{direct['rps']:7.0f} -> {proxy['rps']:5.0f}"
        + (f"  ({failures} failed)" if failures else "")
    )


HEADER = (
    f"{'ms':<30} {'direct p50':>10} {'p99':>5}  {'proxy p50':>9} {'p99':>5}  "
    f"{'added p50':>9} {'p99':>5}  {'req/s direct -> proxy':>20}"
)


def run_scenarios(
    direct: dict[str, Any], proxied: dict[str, Any], n: int, streams: int
) -> dict[str, tuple[Any, Any]]:
    results = {}
    for name, stream, concurrency, count in (
        ("blocking c=1", False, 1, n),
        ("blocking c=16", False, 16, n * 2),
        ("stream c=1", True, 1, streams),
        ("stream c=16", True, 16, streams * 2),
    ):
        results[name] = (
            measure(direct, stream, concurrency, count),
            measure(proxied, stream, concurrency, count),
        )
    return results


def print_results(title: str, results: dict[str, tuple[Any, Any]]) -> None:
    print(f"\n{title}\n{HEADER}")
    for name, (direct, proxy) in results.items():
        print(row(f"{name} latency", direct, proxy, first=False))
        if name.startswith("stream"):
            print(row(f"{name} first event", direct, proxy, first=True))


def print_goals(results: dict[str, tuple[Any, Any]]) -> None:
    direct, proxy = results["blocking c=1"]
    added50, added99 = proxy["p50"] - direct["p50"], proxy["p99"] - direct["p99"]
    s_direct, s_proxy = results["stream c=1"]
    first_added = s_proxy["first_p50"] - s_direct["first_p50"]
    checks = [
        ("added p50 at c=1 under 5 ms", added50 < 5, f"{added50:.2f} ms"),
        ("added p99 at c=1 under 15 ms", added99 < 15, f"{added99:.2f} ms"),
        (
            "first event within 5 ms of upstream's (c=1 p50)",
            first_added < 5,
            f"{first_added:+.2f} ms",
        ),
    ]
    print("\nGoals")
    for label, met, value in checks:
        print(f"  {'MET    ' if met else 'NOT MET'} {label}: {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="blocking, c=1")
    parser.add_argument("--streams", type=int, default=400, help="streams, c=1")
    parser.add_argument("--quick", action="store_true", help="a fifth of the requests")
    parser.add_argument("--threads", type=int, default=32, help="gunicorn threads")
    parser.add_argument(
        "--litellm-venv", type=Path, default=Path("/tmp/anchor-litellm")
    )
    args = parser.parse_args()
    n, streams = args.requests, args.streams
    if args.quick:
        n, streams = n // 5, streams // 5

    stack: list[subprocess.Popen[bytes]] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    try:
        dify_port, web_port = free_port(), free_port()
        upstream = subprocess.Popen(
            pinned(
                1, [sys.executable, "-m", "tests.fakes.dify", "--port", str(dify_port)]
            )
            + ["--api-key", DIFY_KEY, "--forget"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        stack.append(upstream)
        dify_url = f"http://127.0.0.1:{dify_port}/v1"
        wait_until_up(f"{dify_url}/info")
        slug, token = prepare_tenant(dify_url)

        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings.base",
            "DB_CONN_MAX_AGE": "60",
            "LOG_LEVEL": "WARNING",
        }
        gunicorn = [sys.executable, "-m", "gunicorn", "portal.wsgi:application"]
        gunicorn += ["--worker-class", "gthread", "--workers", "1"]
        gunicorn += ["--threads", str(args.threads), "--bind", f"127.0.0.1:{web_port}"]
        gunicorn += ["--log-level", "warning"]
        web = subprocess.Popen(pinned(0, gunicorn), cwd=ROOT, env=env)
        stack.append(web)
        wait_until_up(f"http://127.0.0.1:{web_port}/health")

        body = {"query": "How many days of leave do I get?", "inputs": {}}
        direct = {
            "url": f"{dify_url}/chat-messages",
            "headers": {"Authorization": f"Bearer {DIFY_KEY}"},
            "body": {**body, "user": "bench-direct"},
            "stream_body": {"response_mode": "streaming"},
        }
        proxied = {
            "url": f"http://127.0.0.1:{web_port}/t/{slug}/api/v1/dify/chat-messages",
            "headers": {"Authorization": f"Bearer {token}", "X-Tenant-ID": slug},
            "body": body,
            "stream_body": {"response_mode": "streaming"},
        }
        print(
            f"Dify proxy: gunicorn gthread, 1 worker x {args.threads} threads on CPU 0; "
            "upstream (stdlib fake Dify) and client on CPU 1"
        )
        ours = run_scenarios(direct, proxied, n, streams)
        print_results("Platform Dify proxy vs the same upstream directly", ours)
        print_goals(ours)

        anchor = litellm_targets(args.litellm_venv, tmp, stack)
        if anchor is None:
            print(
                f"\nLiteLLM anchor: not run, no venv at {args.litellm_venv} "
                "(see /work/shared/anchors/litellm/README.md); our figures stand alone."
            )
        else:
            theirs = run_scenarios(*anchor, n, streams)
            print_results(
                "LiteLLM proxy (anchor, 1 uvicorn worker, CPU 0) vs its fake OpenAI upstream",
                theirs,
            )
    finally:
        for process in reversed(stack):
            stop(process)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
