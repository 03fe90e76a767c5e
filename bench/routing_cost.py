"""Routing benchmark: what sending light work to a cheap model saves and risks.

Run from anywhere with the project's virtualenv:

    .venv/bin/python bench/routing_cost.py [--corpus-dir ../shared/corpus]
        [--calls 400] [--json out.json]

Traffic is the questions of shared/corpus plus the platform's own small
tasks, each labelled light or heavy by a rule the router never sees:

* sec-10q-finance: `Question Type` of qna_data.csv; "Single-Doc Single-Chunk
  RAG" is light, "Single-Doc Multi-Chunk RAG" and "Multi-Doc RAG" are heavy.
* contoso: a truth citing one page is light, one citing several is heavy.
* outdoor-products: a question naming one product is light; one about a
  whole category ("which tent is the most waterproof?") is heavy.
* The platform's own tasks: conversation titles, classifications of a
  question, and summaries of one short passage, all light.

Each corpus is ingested into its own tenant (route-<corpus>, database
`portal_bench`; kept and reused when all its documents are ready, unless
--fresh asks to ingest again). A question that retrieval answers "not found"
reaches no model and costs nothing in any scenario; it is counted apart. For every
question the chat's own pipeline builds the real prompt (retrieval, the
passages quoted under the system instruction) and the router decides from
it. Tokens are counted with the offline MiniLM WordPiece tokenizer, which
stands in for each provider's own; the ground-truth answer's length is the
output size. Costs use the catalogue's prices (pricing/data/model_prices.json)
for each provider's light and heavy model.

Overhead: the same request sent `--calls` times straight through the openai
SDK to the local OpenAI-speaking server, and as many times through the
platform's gateway (tenant configuration resolved, routing, retries and the
breaker armed, metering written to the usage records and the hash-chained
audit trail in the database), interleaved, in the same run, inside the
tenant's schema as a request would be. The difference of the medians is the
layer's cost.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.retrieval_quality import (  # noqa: E402
    CORPUS_FOLDERS,
    DEFAULT_CORPUS_DIR,
    configure_environment,
    ingest,
    load_corpus,
    start_django,
    warm_up_model,
)

GOAL_SAVING = 0.30
GOAL_HEAVY_SENT_LIGHT = 0.05
GOAL_OVERHEAD_MS = 2.0
WARM_UP_CALLS = 150
# Tokens a chat API adds per message for roles and separators.
TOKENS_PER_MESSAGE = 4
CITATION = re.compile(r"\[([^\[\]#]+)#page=(\d+)\]")
CATEGORIES = "benefits, products, finance, travel, other"


@dataclass(frozen=True)
class Request:
    source: str
    label: str  # the outside label: light or heavy
    text: str
    truth: str
    task: str = "answer"


@dataclass
class Routed:
    request: Request
    # "none": answered "not found" without any model call.
    tier: str
    reason: str
    input_tokens: int
    output_tokens: int
    # What the router saw besides the text.
    similarity: float | None = None
    documents: int = 0


# Traffic


def finance_requests(folder: Path) -> list[Request]:
    with (folder / "qna_data.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    return [
        Request(
            "finance",
            "light"
            if row["Question Type"] == "Single-Doc Single-Chunk RAG"
            else "heavy",
            row["Question"],
            row["Answer"],
        )
        for row in rows
    ]


def contoso_requests(folder: Path) -> list[Request]:
    requests = []
    for line in (folder / "ground_truth.jsonl").read_text().splitlines():
        row = json.loads(line)
        cited = set(CITATION.findall(row["truth"]))
        label = "light" if len(cited) <= 1 else "heavy"
        truth = CITATION.sub("", row["truth"]).strip()
        requests.append(Request("contoso", label, row["question"], truth))
    return requests


def outdoor_requests(folder: Path) -> list[Request]:
    products = [product_name(path) for path in sorted(folder.glob("product_info_*.md"))]
    requests = []
    for line in (folder / "evaluation_dataset.jsonl").read_text().splitlines():
        row = json.loads(line)
        question = row["question"].strip()
        named = any(_names(question, product) for product in products)
        requests.append(
            Request("outdoor", "light" if named else "heavy", question, row["truth"])
        )
    return requests


def product_name(path: Path) -> str:
    for line in path.read_text().splitlines()[1:4]:
        if ", price" in line:
            return line.split(", price")[0].strip()
    return ""


def _names(question: str, product: str) -> bool:
    if not product:
        return False
    lowered = question.lower()
    return product.lower() in lowered or product.split()[0].lower() in lowered


def own_requests(questions: list[Request], passages: list[str]) -> list[Request]:
    """Titles, classifications and summaries, as the platform itself asks for them."""
    titles = [
        Request("own", "light", q.text, " ".join(q.text.split()[:6]), task="title")
        for q in questions[:20]
    ]
    classifications = [
        Request("own", "light", q.text, "finance", task="classify")
        for q in questions[20:40]
    ]
    summaries = [
        Request("own", "light", text, text.split(". ")[0], task="summary")
        for text in passages[:15]
    ]
    return titles + classifications + summaries


# Prompts and routing


def own_messages(request: Request) -> list[Any]:
    from llm.providers.base import ChatMessage

    if request.task == "title":
        instruction = (
            "Write a title of at most six words for a conversation that opens with:"
        )
    elif request.task == "classify":
        instruction = f"Classify the question into one of: {CATEGORIES}. Answer with the category."
    else:
        instruction = "Summarise this passage in one sentence:"
    return [ChatMessage("system", instruction), ChatMessage("user", request.text)]


def route_all(
    requests: list[Request], tenants: dict[str, Any], count_tokens: Any
) -> list[Routed]:
    from django_tenants.utils import schema_context

    from chat.actions import passages_from, retrieve
    from llm.grounded import grounded_messages, route_request
    from llm.router import RouteRequest, Task, route

    routed = []
    for request in requests:
        if request.task == "answer":
            tenant, knowledge_base = tenants[request.source]
            with schema_context(tenant.schema_name):
                passages = passages_from(
                    retrieve(tenant, request.text, [knowledge_base.id])
                )
            if not passages:  # retrieval answered "not found"
                routed.append(Routed(request, "none", "not found: no model call", 0, 0))
                continue
            messages = grounded_messages(tenant.name, request.text, passages)
            route_input = route_request(request.text, passages, messages)
        else:
            messages = own_messages(request)
            route_input = RouteRequest(
                task=Task(request.task),
                prompt_tokens=sum(count_tokens(m.content) for m in messages),
                question=request.text,
            )
        decision = route(route_input)
        input_tokens = sum(
            count_tokens(m.content) + TOKENS_PER_MESSAGE for m in messages
        )
        routed.append(
            Routed(
                request,
                str(decision.tier),
                decision.reason,
                input_tokens,
                count_tokens(request.truth),
                route_input.retrieval_similarity,
                route_input.documents,
            )
        )
    return routed


def token_counter() -> Any:
    from rag.embeddings import get_embedding_provider

    tokenizer = get_embedding_provider()._loaded().tokenizer  # type: ignore[attr-defined]

    def count(text: str) -> int:
        return len(
            tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        )

    return count


# Tenants with the corpora


def corpus_tenant(key: str, corpus_dir: Path, fresh: bool) -> tuple[Any, Any]:
    """The tenant route-<key> with its corpus ingested, reused when complete."""
    from django_tenants.utils import schema_context

    from rag.models import Document, KnowledgeBase
    from tenants.actions import provision_tenant
    from tenants.models import Tenant

    corpus = load_corpus(key, corpus_dir)
    slug = f"route-{key}"
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is not None:
        with schema_context(tenant.schema_name):
            knowledge_base = KnowledgeBase.objects.filter(name=key).first()
            ready = Document.objects.filter(status="ready").count()
        if not fresh and knowledge_base is not None and ready == len(corpus.files):
            return tenant, knowledge_base
        tenant.delete(force_drop=True)

    tenant = provision_tenant(slug, f"Routing benchmark: {CORPUS_FOLDERS[key]}")
    print(f"  ingesting {key} into {slug} ...", flush=True)
    knowledge_base, _ = ingest(tenant, corpus)
    return tenant, knowledge_base


def sample_passages(tenant: Any) -> list[str]:
    from django_tenants.utils import schema_context

    from rag.models import Chunk

    with schema_context(tenant.schema_name):
        texts = Chunk.objects.order_by("document_id", "ordinal").values_list(
            "text", flat=True
        )
        return [" ".join(text.split()) for text in texts[:200:13]]


# Costs


def costs(routed: list[Routed], provider: str) -> dict[str, Decimal]:
    """Dollars with routing, all-heavy and all-light; "not found" costs nothing."""
    from pricing.catalogue import TokenCounts, cost_of, default_model, price_of

    light = price_of(provider, default_model(provider, "light"))
    heavy = price_of(provider, default_model(provider, "heavy"))
    # "oracle": every request on the tier its outside label names.
    totals = {
        "routed": Decimal(0),
        "oracle": Decimal(0),
        "all_heavy": Decimal(0),
        "all_light": Decimal(0),
    }
    for item in routed:
        if item.tier == "none":
            continue
        tokens = TokenCounts(input=item.input_tokens, output=item.output_tokens)
        light_cost, heavy_cost = cost_of(light, tokens), cost_of(heavy, tokens)
        totals["routed"] += light_cost if item.tier == "light" else heavy_cost
        totals["oracle"] += light_cost if item.request.label == "light" else heavy_cost
        totals["all_heavy"] += heavy_cost
        totals["all_light"] += light_cost
    return totals


# Overhead of the layer


def measure_overhead(calls: int) -> dict[str, float]:
    import openai
    from django_tenants.utils import schema_context

    from llm.config import config_for_current_tenant
    from llm.gateway import Caller, Gateway
    from llm.providers.base import ChatMessage
    from llm.router import RouteRequest, Task
    from llm.settings_api import update_settings
    from tenants.actions import provision_tenant
    from tenants.models import Tenant
    from tests.fakes.providers import FakeProviders

    messages = [{"role": "user", "content": "What is the notice period for leave?"}]
    chat_messages = [ChatMessage("user", messages[0]["content"])]
    tenant = Tenant.objects.filter(slug="route-overhead").first() or provision_tenant(
        "route-overhead", "Routing benchmark: overhead"
    )
    direct_ms: list[float] = []
    layer_ms: list[float] = []
    with FakeProviders() as fake:
        base_url = f"{fake.base_url}/v1"
        with schema_context(tenant.schema_name):
            update_settings(
                {
                    "provider": "openai",
                    "fallbacks": [],
                    "providers": {
                        "openai": {"api_key": "sk-bench", "base_url": base_url}
                    },
                },
                actor_id=None,
                actor="bench",
            )
        direct = openai.OpenAI(api_key="sk-bench", base_url=base_url, max_retries=0)

        def call_direct() -> None:
            direct.chat.completions.create(
                model="gpt-4o-mini",
                messages=messages,
                max_tokens=64,  # type: ignore[arg-type]
            )

        def call_layer() -> None:
            gateway = Gateway(tenant, config_for_current_tenant())
            question = messages[0]["content"]
            decision = gateway.decide(
                RouteRequest(task=Task.CHAT, prompt_tokens=12, question=question)
            )
            gateway.complete(
                chat_messages,
                decision,
                task=Task.CHAT,
                caller=Caller(actor="bench"),
                max_tokens=64,
            )

        # As inside a request, whose tenant the middleware has already resolved.
        with schema_context(tenant.schema_name):
            # Long enough for psycopg to prepare the metering statements.
            for _ in range(WARM_UP_CALLS):
                call_direct()
                call_layer()
            for _ in range(calls):
                direct_ms.append(_timed(call_direct))
                layer_ms.append(_timed(call_layer))

    direct_p50, layer_p50 = statistics.median(direct_ms), statistics.median(layer_ms)
    # Paired: each layer call against the direct call just before it, so a
    # slow stretch of the machine weighs on both sides alike.
    paired = statistics.median(
        layer - direct for layer, direct in zip(layer_ms, direct_ms, strict=True)
    )
    return {
        "calls": calls,
        "added_paired_p50_ms": paired,
        "direct_p50_ms": direct_p50,
        "layer_p50_ms": layer_p50,
        "added_p50_ms": layer_p50 - direct_p50,
        "direct_p95_ms": _percentile(direct_ms, 95),
        "layer_p95_ms": _percentile(layer_ms, 95),
    }


def _timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    index = (len(ordered) - 1) * percent / 100
    low = int(index)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)


# Report


def print_report(
    all_routed: list[Routed], overhead: dict[str, float]
) -> dict[str, Any]:
    routed = [item for item in all_routed if item.tier != "none"]
    unanswered = Counter(
        item.request.source for item in all_routed if item.tier == "none"
    )
    confusion = Counter((item.request.label, item.tier) for item in routed)
    heavy_total = confusion[("heavy", "light")] + confusion[("heavy", "heavy")]
    heavy_sent_light = (
        confusion[("heavy", "light")] / heavy_total if heavy_total else 0.0
    )

    print(
        f"\nTraffic: {len(all_routed)} requests; {len(all_routed) - len(routed)} answered "
        f"'not found' without a model call ({dict(unanswered)}), {len(routed)} reach a model"
    )
    for source, count in sorted(
        Counter(item.request.source for item in routed).items()
    ):
        labels = Counter(
            item.request.label for item in routed if item.request.source == source
        )
        print(
            f"  {source:<8} {count:>4}  (light {labels['light']}, heavy {labels['heavy']})"
        )

    print("\nConfusion matrix (rows: outside label, columns: router)")
    print("               routed light  routed heavy")
    for label in ("light", "heavy"):
        print(
            f"  {label:<12} {confusion[(label, 'light')]:>12}  {confusion[(label, 'heavy')]:>12}"
        )
    print("  per source (label->tier: count):")
    for source in sorted({item.request.source for item in routed}):
        cells = Counter(
            (item.request.label, item.tier)
            for item in routed
            if item.request.source == source
        )
        text = ", ".join(f"{a}->{b}: {n}" for (a, b), n in sorted(cells.items()))
        print(f"    {source:<8} {text}")

    print(
        "\nCost (USD for the traffic that reaches a model; catalogue prices; oracle:"
        " every request on the tier its outside label names)"
    )
    print(
        "  provider    light / heavy model                      routed    all-heavy  all-light"
        "  saving  (oracle)"
    )
    by_provider = {}
    for provider in ("openai", "anthropic", "gemini"):
        totals = costs(routed, provider)
        saving = (
            1 - totals["routed"] / totals["all_heavy"]
            if totals["all_heavy"]
            else Decimal(0)
        )
        oracle = (
            1 - totals["oracle"] / totals["all_heavy"] if totals["all_heavy"] else 0
        )
        models = _models(provider)
        print(
            f"  {provider:<11} {models:<40} {totals['routed']:>8.4f}  {totals['all_heavy']:>9.4f}"
            f"  {totals['all_light']:>9.4f}  {saving:>6.1%}  ({oracle:.1%})"
        )
        by_provider[provider] = {
            **{k: str(v) for k, v in totals.items()},
            "saving": float(saving),
            "oracle_saving": float(oracle),
        }

    print(
        f"\nHeavy questions sent light: {confusion[('heavy', 'light')]} of {heavy_total} = {heavy_sent_light:.1%}"
    )
    print(
        f"\nOverhead per call, {overhead['calls']:.0f} calls each, interleaved, same local server:\n"
        f"  SDK direct  p50 {overhead['direct_p50_ms']:.2f} ms  p95 {overhead['direct_p95_ms']:.2f} ms\n"
        f"  via layer   p50 {overhead['layer_p50_ms']:.2f} ms  p95 {overhead['layer_p95_ms']:.2f} ms\n"
        f"  added at the median: {overhead['added_p50_ms']:.2f} ms "
        f"(median of paired differences {overhead['added_paired_p50_ms']:.2f} ms)"
    )

    worst_saving = min(value["saving"] for value in by_provider.values())
    goals = [
        (
            "at least 30% cheaper than all-heavy (every provider)",
            worst_saving >= GOAL_SAVING,
            f"{worst_saving:.1%}",
        ),
        (
            "at most 5% of heavy questions sent light",
            heavy_sent_light <= GOAL_HEAVY_SENT_LIGHT,
            f"{heavy_sent_light:.1%}",
        ),
        (
            "under 2 ms added per call at the median",
            overhead["added_p50_ms"] < GOAL_OVERHEAD_MS,
            f"{overhead['added_p50_ms']:.2f} ms",
        ),
    ]
    print("\nGoals")
    for text, met, value in goals:
        print(f"  [{'met' if met else 'NOT met'}] {text}: {value}")
    return {
        "confusion": {f"{a}->{b}": n for (a, b), n in confusion.items()},
        "heavy_sent_light": heavy_sent_light,
        "costs": by_provider,
        "overhead": overhead,
        "routed": [
            {
                **asdict(item.request),
                "tier": item.tier,
                "reason": item.reason,
                "input_tokens": item.input_tokens,
                "output_tokens": item.output_tokens,
                "similarity": item.similarity,
                "documents": item.documents,
            }
            for item in all_routed
        ],
    }


def _models(provider: str) -> str:
    from pricing.catalogue import default_model

    return f"{default_model(provider, 'light')} / {default_model(provider, 'heavy')}"


def _migrate_kept_tenants() -> None:
    """Tenants kept from an earlier run need the current tenant migrations."""
    from django.core.management import call_command

    call_command("migrate_schemas", tenant=True, verbosity=0)


def _no_overhead() -> dict[str, float]:
    nan = float("nan")
    return dict.fromkeys(
        (
            "calls",
            "direct_p50_ms",
            "layer_p50_ms",
            "added_p50_ms",
            "added_paired_p50_ms",
            "direct_p95_ms",
            "layer_p95_ms",
        ),
        nan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus-dir", type=Path, default=DEFAULT_CORPUS_DIR)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="ingest the corpora again (after pipeline changes)",
    )
    args = parser.parse_args()

    configure_environment()
    start_django()
    _migrate_kept_tenants()
    warm_up_model()
    folders = {key: args.corpus_dir / folder for key, folder in CORPUS_FOLDERS.items()}
    tenants = {
        key: corpus_tenant(key, args.corpus_dir, args.fresh) for key in CORPUS_FOLDERS
    }

    questions = (
        finance_requests(folders["finance"])
        + contoso_requests(folders["contoso"])
        + outdoor_requests(folders["outdoor"])
    )
    own = own_requests(questions[::3], sample_passages(tenants["contoso"][0]))
    routed = route_all(questions + own, tenants, token_counter())
    overhead = measure_overhead(args.calls) if args.calls else _no_overhead()
    report = print_report(routed, overhead)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
