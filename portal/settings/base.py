"""Settings for every environment, read from environment variables.

Without DATABASE_URL the project starts its own Postgres with pgvector in
DATA_DIR; without REDIS_URL background work runs in the web process.
"""

from datetime import timedelta
from pathlib import Path

import environ
from cryptography.fernet import Fernet

from portal.embedded_db import embedded_database, local_secret, local_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / ".data")))

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if env.bool("DJANGO_REQUIRE_SECRET_KEY", default=False):
        raise environ.ImproperlyConfigured("Set DJANGO_SECRET_KEY in production.")
    SECRET_KEY = local_secret_key(DATA_DIR)

# Keys that encrypt stored credentials, newest first (see portal/encryption.py).
SECRETS_ENCRYPTION_KEYS = env.list("SECRETS_ENCRYPTION_KEYS", default=[])
if not SECRETS_ENCRYPTION_KEYS:
    if env.bool("DJANGO_REQUIRE_SECRET_KEY", default=False):
        raise environ.ImproperlyConfigured("Set SECRETS_ENCRYPTION_KEYS in production.")
    SECRETS_ENCRYPTION_KEYS = [
        local_secret(DATA_DIR, "secrets_key", lambda: Fernet.generate_key().decode())
    ]

# --- Applications -----------------------------------------------------------

SHARED_APPS = [
    # Ahead of django_tenants so our create_tenant command replaces its own.
    "tenants",
    "django_tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "pricing",
]
TENANT_APPS = [
    "rag",
    "chat",
    "llm",
    "audit",
    "dify",
    # Feature flags: each tenant's switches live in its own schema.
    "waffle",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
TENANT_SUBFOLDER_PREFIX = "t"
PUBLIC_SCHEMA_URLCONF = "portal.urls_public"
ROOT_URLCONF = "portal.urls_tenant"
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
# A deployment may serve only some tenants (comma-separated slugs); empty = all.
TENANT_GROUP = env.list("TENANT_GROUP", default=[])
# Set the search path when the tenant changes, not before every query (halves
# the round trips). Unsafe only behind a transaction-pooling pgbouncer.
TENANT_LIMIT_SET_CALLS = env.bool("TENANT_LIMIT_SET_CALLS", default=True)

MIDDLEWARE = [
    "tenants.middleware.TenantPathMiddleware",
    "portal.logging.RequestContextMiddleware",
    "tenants.middleware.TenantHeaderMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

# --- Database -----------------------------------------------------------------

if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
else:
    DATABASES = {
        "default": embedded_database(
            DATA_DIR / "pg", env.str("EMBEDDED_DB_NAME", default="portal")
        )
    }
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Internationalisation, static files ---------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"

# --- API ----------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.TenantJWTAuthentication"
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "portal.parsers.SafeJSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "portal.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Client addresses (for throttling) come from X-Forwarded-For only through
    # this many trusted proxies; with 0 the header is ignored, so a client
    # cannot pick its own address.
    "NUM_PROXIES": env.int("TRUSTED_PROXIES", default=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tenant assistant portal API",
    "VERSION": "1.0.0",
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(
        minutes=env.int("JWT_ACCESS_MINUTES", default=30)
    ),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=1)),
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}

# Uploaded files are read into memory, so bound what a request may carry.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Knowledge and retrieval ----------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")
RAG = {
    # "celery" sends ingestion to workers; "thread" runs it in the web process;
    # "inline" runs it before the upload call returns (tests, scripts).
    "INGESTION_BACKEND": env.str(
        "INGESTION_BACKEND", default="celery" if REDIS_URL else "thread"
    ),
    "MAX_UPLOAD_MB": env.int("MAX_UPLOAD_MB", default=25),
    "MAX_UNPACKED_MB": env.int("MAX_UNPACKED_MB", default=200),
    "MAX_FILES_PER_UPLOAD": env.int("MAX_FILES_PER_UPLOAD", default=20),
    "MAX_REQUEST_MB": env.int("MAX_REQUEST_MB", default=100),
    # About 4 MB of text; longer documents would hold the ingestion queue
    # for a long time and are refused with a reason.
    "MAX_CHUNKS_PER_DOCUMENT": env.int("MAX_CHUNKS_PER_DOCUMENT", default=4000),
    "CHUNK_SIZE": env.int("CHUNK_SIZE", default=1000),
    "CHUNK_OVERLAP": env.int("CHUNK_OVERLAP", default=150),
    "EMBEDDING_BATCH_SIZE": env.int("EMBEDDING_BATCH_SIZE", default=32),
    "EMBEDDING_THREADS": env.int("EMBEDDING_THREADS", default=2),
    "VECTOR_STORE": env.str("VECTOR_STORE", default="pgvector"),
    # The hosted store: a dense index (cosine, 384 dimensions) over its data
    # plane host; each tenant gets its own namespace in it.
    "PINECONE": {
        "API_KEY": env.str("PINECONE_API_KEY", default=""),
        "INDEX_HOST": env.str("PINECONE_INDEX_HOST", default=""),
        "TIMEOUT_SECONDS": env.float("PINECONE_TIMEOUT_SECONDS", default=10.0),
        # Our own retries on 429, on top of the SDK's few.
        "MAX_ATTEMPTS": env.int("PINECONE_MAX_ATTEMPTS", default=6),
        "BACKOFF_SECONDS": env.float("PINECONE_BACKOFF_SECONDS", default=0.5),
    },
    "CANDIDATES_PER_METHOD": env.int("RETRIEVAL_CANDIDATES", default=50),
    "RRF_K": 60,
    # The dense search's best passage stays first when its cosine similarity
    # leads the second's by this much (measured on the bench corpora: 0.04
    # lifts outdoor and contoso hit@1; 0.02 hurts contoso, 0.1 never fires).
    "CLEAR_WINNER_MARGIN": env.float("RETRIEVAL_CLEAR_WINNER_MARGIN", default=0.04),
    # A question that names documents by lowercase words only is searched in
    # them unless the best passage elsewhere is closer to the whole question
    # by more than this (named documents trail by at most 0.05 on the bench
    # corpora; a coincidental naming trails by 0.2 or more).
    "NAMING_DOUBT_MARGIN": env.float("RETRIEVAL_NAMING_DOUBT_MARGIN", default=0.1),
    # Below this cosine similarity of the best passage the answer is "not
    # found" (calibrated on the bench corpora: README, "How search reads a
    # question").
    "MIN_SIMILARITY": env.float("RETRIEVAL_MIN_SIMILARITY", default=0.1),
    # "none", "heading" or "lexical" (local) or "provider" (an OpenAI-compatible
    # /rerank). Measured on the bench corpora, neither local one beats "none".
    "RERANKER": env.str("RERANKER", default="none"),
    "RERANK_DEPTH": env.int("RERANK_DEPTH", default=20),
    "RERANK_BASE_URL": env.str("RERANK_BASE_URL", default=""),
    "RERANK_API_KEY": env.str("RERANK_API_KEY", default=""),
    "RERANK_MODEL": env.str("RERANK_MODEL", default=""),
    "RERANK_TIMEOUT_SECONDS": env.float("RERANK_TIMEOUT_SECONDS", default=5.0),
}

# --- Cache and throttling ---------------------------------------------------------

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "portal",
            # Every key carries the schema of the tenant it was made for.
            "KEY_FUNCTION": "django_tenants.cache.make_key",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "KEY_FUNCTION": "django_tenants.cache.make_key",
        }
    }
# Tenant quotas (tenants/quotas.py). Their counters are shared through this
# Redis; with none they live in the one web process. If it is set and down,
# requests that a quota governs are refused (503), never let through.
QUOTAS = {
    "REDIS_URL": env.str("QUOTA_REDIS_URL", default=REDIS_URL),
    # A call's largest possible cost is held this long at most (a process
    # that dies mid-call lets go of it when this runs out).
    "HOLD_SECONDS": env.float("QUOTA_HOLD_SECONDS", default=600.0),
    # Prompt size allowed when a tenant's quota names none.
    "MAX_PROMPT_TOKENS": env.int("QUOTA_MAX_PROMPT_TOKENS", default=100_000),
    # Dify reports its price only afterwards; a relayed chat holds this much.
    "DIFY_HOLD_USD": env.str("QUOTA_DIFY_HOLD_USD", default="0.05"),
    "DIFY_HOLD_TOKENS": env.int("QUOTA_DIFY_HOLD_TOKENS", default=4000),
}
# Password guesses per client address and tenant.
SIGN_IN_RATE = env.str("SIGN_IN_RATE", default="20/min")

# Hosts a tenant's provider or Dify URL may name besides public addresses
# (see portal/outbound.py). The embedded default is for one machine, so its
# own loopback is allowed there; a deployment lists its internal servers.
OUTBOUND_ALLOWED_HOSTS = env.list(
    "OUTBOUND_ALLOWED_HOSTS",
    default=[] if env.str("DATABASE_URL", default="") else ["127.0.0.0/8", "localhost"],
)

# --- Language models -------------------------------------------------------------
# Platform defaults; a tenant's own settings override them. No provider (or no
# key) means chat answers are composed from the passages without a model.


def _provider_defaults(prefix: str) -> dict[str, str]:
    return {
        "API_KEY": env.str(f"{prefix}_API_KEY", default=""),
        "BASE_URL": env.str(f"{prefix}_BASE_URL", default=""),
        "LIGHT_MODEL": env.str(f"{prefix}_LIGHT_MODEL", default=""),
        "HEAVY_MODEL": env.str(f"{prefix}_HEAVY_MODEL", default=""),
    }


LLM = {
    "PROVIDER": env.str("LLM_PROVIDER", default=""),
    "FALLBACKS": env.list("LLM_FALLBACKS", default=[]),
    "TIMEOUT_SECONDS": env.float("LLM_TIMEOUT_SECONDS", default=30.0),
    # Retries of one provider before falling back to the next.
    "MAX_RETRIES": env.int("LLM_MAX_RETRIES", default=2),
    "BACKOFF_SECONDS": env.float("LLM_BACKOFF_SECONDS", default=0.5),
    # A provider's Retry-After longer than this moves on to the next provider.
    "MAX_RETRY_AFTER_SECONDS": env.float("LLM_MAX_RETRY_AFTER_SECONDS", default=5.0),
    "BREAKER_FAILURES": env.int("LLM_BREAKER_FAILURES", default=5),
    "BREAKER_RESET_SECONDS": env.float("LLM_BREAKER_RESET_SECONDS", default=30.0),
    "MAX_OUTPUT_TOKENS": env.int("LLM_MAX_OUTPUT_TOKENS", default=1024),
    # See llm/metering.py: waiting for the disk on every metered call is slow.
    "METERING_SYNCHRONOUS_COMMIT": env.bool(
        "LLM_METERING_SYNCHRONOUS_COMMIT", default=False
    ),
    "PROVIDERS": {
        "openai": _provider_defaults("OPENAI"),
        "anthropic": _provider_defaults("ANTHROPIC"),
        "gemini": _provider_defaults("GEMINI"),
        "openai_compatible": _provider_defaults("OPENAI_COMPATIBLE"),
    },
}

# Audit entries written in a transaction of their own (refusals, sign-ins)
# commit without waiting for the disk unless this is set; see audit/trail.py.
AUDIT_SYNCHRONOUS_COMMIT = env.bool("AUDIT_SYNCHRONOUS_COMMIT", default=False)

# --- Background work -------------------------------------------------------------

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers an unacknowledged task after this many seconds; longer
# than the slowest ingestion, so a running task is never handed out twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}

# --- Logging ---------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING_CONFIG = None
from portal.logging import configure_logging  # noqa: E402

configure_logging(level=LOG_LEVEL, fmt=LOG_FORMAT)
