"""Settings for PipeWorks Axis, read from the environment.

Development needs only ``DEBUG=1`` (without DEBUG a real ``SECRET_KEY`` is required): an
SQLite file ``db.sqlite3`` and the shipped worlds in ``data/worlds``. Production sets
``DATABASE_URL``, ``SECRET_KEY``, ``DEBUG=0``, ``ALLOWED_HOSTS``, ``PIPEWORKS_HTTPS=1``
and ``PIPEWORKS_ENV=production`` (see README, "Deploying").
"""

import math
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

DEV_SECRET_KEY = "django-insecure-pipeworks-development-only"  # noqa: S105 (development only)


def env_bool(name: str, default: bool) -> bool:
    """Return an environment flag; "1", "true", "yes" and "on" are true."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    """Return a comma-separated environment variable as a list, blanks dropped."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Unsafe settings are a start-up error, raised here so that every entry point (manage.py,
# gunicorn, `check`) fails with the message, instead of a `check --deploy` warning.
PIPEWORKS_ENV = os.environ.get("PIPEWORKS_ENV", "development")
if PIPEWORKS_ENV not in {"development", "production"}:
    raise ImproperlyConfigured("PIPEWORKS_ENV must be 'development' or 'production'")

SECRET_KEY = os.environ.get("SECRET_KEY") or DEV_SECRET_KEY
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

if PIPEWORKS_ENV == "production" and DEBUG:
    raise ImproperlyConfigured("PIPEWORKS_ENV=production refuses DEBUG=1")
# Whenever DEBUG is off, PIPEWORKS_ENV set or not, the process may face the network, and
# the development key is public (it is in this file): with it anyone can sign session
# cookies and admin messages (a finding: a forged signed cookie put raw HTML into the
# admin). So without DEBUG a missing, development or weak key (Django's `check --deploy`
# rule: 50+ characters, 5+ distinct ones, no "django-insecure-" prefix) stops the process.
if not DEBUG and (
    SECRET_KEY == DEV_SECRET_KEY
    or len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
    or SECRET_KEY.startswith("django-insecure-")
):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a secret of 50+ characters (not the development key) "
        "whenever DEBUG is off; for development, set DEBUG=1 instead"
    )

INSTALLED_APPS = [
    "pipeworks.apps.InspectorAdminConfig",  # django.contrib.admin with a 403 for non-staff
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # Hashed server-to-server keys; access.ApiKey extends its abstract model (its own
    # APIKey table stays empty, its admin is replaced by access's).
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "worlds.apps.WorldsConfig",
    "axes.apps.AxesConfig",
    "ledger.apps.LedgerConfig",
    "access.apps.AccessConfig",
]

MIDDLEWARE = [
    # Outermost, even before SecurityMiddleware: it sees every response (the HTTPS
    # redirect, 404s, 500s) to stamp X-Request-ID on, and sets the id before others log.
    "pipeworks.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before the CSRF check, which reads a form's body: each view's body limit first.
    "pipeworks.request_limits.RequestBodyLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A view's database outage: a 503 page saying what is known (the API answers its own).
    "pipeworks.outage.DatabaseOutageMiddleware",
]

ROOT_URLCONF = "pipeworks.urls"
WSGI_APPLICATION = "pipeworks.wsgi.application"

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

# SQLite is the embedded default. It is tuned for several writers: WAL lets readers run
# beside the writer, IMMEDIATE transactions take the write lock at BEGIN (so two writers
# queue on the busy timeout instead of failing to upgrade a read lock), and
# synchronous=FULL keeps every acknowledged event through a power loss (NORMAL is about
# twice as fast but may drop the last commits; set PIPEWORKS_SQLITE_SYNCHRONOUS=NORMAL to
# trade that away).
SQLITE_SYNCHRONOUS = os.environ.get("PIPEWORKS_SQLITE_SYNCHRONOUS", "FULL").upper()
if SQLITE_SYNCHRONOUS not in {"FULL", "NORMAL", "EXTRA"}:
    raise ValueError("PIPEWORKS_SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA")

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        # Persistent, health-checked connections: a new connection per request halved
        # the HTTP write rate in bench/results.md. A connection busy in the last seconds
        # is checked on its socket instead of with SELECT 1 (pipeworks/connections.py).
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# Options are added to those of DATABASE_URL's query string (sslmode=require, say), never
# put in their place.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            # Seconds a write waits for another's lock before failing with "database is
            # locked" (which is then answered as a failure before COMMIT: nothing written).
            "timeout": float(os.environ.get("PIPEWORKS_SQLITE_BUSY_TIMEOUT", "20")),
            "init_command": (
                f"PRAGMA journal_mode=WAL; PRAGMA synchronous={SQLITE_SYNCHRONOUS}; "
                "PRAGMA foreign_keys=ON; "
                # Else REPLACE deletes a conflicting row without firing DELETE triggers, and
                # INSERT OR REPLACE would rewrite a ledger row past ledger/guard.py's triggers.
                "PRAGMA recursive_triggers=ON;"
            ),
        }
    )

# Connection pooling (docs/scaling.md, "Connection pooling"): what sits between the
# product and PostgreSQL. "transaction": a PgBouncer in transaction pooling mode, where
# consecutive transactions of one client may run on different server connections, so
# nothing may outlive a transaction. The product keeps nothing past one: no prepared
# statements (PIPEWORKS_PG_PREPARE_THRESHOLD is off there by default) and its one use of
# server-side cursors (verify_ledger's streams) runs inside a transaction, so
# DISABLE_SERVER_SIDE_CURSORS stays off (on, verify_ledger would load the whole ledger).
# The setting tells `manage.py check` what to check: prepared statements turned on
# behind transaction pooling (pipeworks.W004); unset, it looks for a pooler it was not
# told about (pipeworks.W005); "off" (direct, or a proxy keeping sessions) and "session".
PIPEWORKS_PGBOUNCER = os.environ.get("PIPEWORKS_PGBOUNCER", "").strip().lower()
if PIPEWORKS_PGBOUNCER not in {"", "off", "session", "transaction"}:
    raise ImproperlyConfigured("PIPEWORKS_PGBOUNCER must be 'off', 'session' or 'transaction'")


def _prepare_threshold() -> int | None:
    """PIPEWORKS_PG_PREPARE_THRESHOLD: a count of executions, or "off" (None)."""
    default = "off" if PIPEWORKS_PGBOUNCER == "transaction" else "5"
    value = os.environ.get("PIPEWORKS_PG_PREPARE_THRESHOLD", "").strip().lower() or default
    if value == "off":
        return None
    try:
        threshold = int(value)
    except ValueError:
        threshold = -1
    if threshold < 0:
        raise ImproperlyConfigured(
            "PIPEWORKS_PG_PREPARE_THRESHOLD must be 'off' or a whole number of executions"
        )
    return threshold


# Prepared statements (docs/scaling.md, "Prepared statements"): psycopg prepares a
# statement by name on its connection once that connection has run it this many times,
# and PostgreSQL then stops parsing and planning it on every call; apply_event sends a
# whole event as one statement, and preparing it made the write path half as fast again
# (bench/results.md). Off by default behind transaction pooling, where the next
# transaction may run on a server connection that never prepared it; "off" turns them off
# anywhere. A prepare_threshold in DATABASE_URL's query string wins.
PIPEWORKS_PG_PREPARE_THRESHOLD = _prepare_threshold()

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Server-side binding sends parameters apart from the statement's text (the extended
    # protocol's statements, unnamed until prepared); PIPEWORKS_PG_SERVER_SIDE_BINDING=0
    # interpolates the parameters on the client instead (bench/pooling.py measures both).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"server_side_binding": env_bool("PIPEWORKS_PG_SERVER_SIDE_BINDING", True)}
    )
    if PIPEWORKS_PG_PREPARE_THRESHOLD is not None:
        DATABASES["default"]["OPTIONS"].setdefault(
            "prepare_threshold", PIPEWORKS_PG_PREPARE_THRESHOLD
        )

# Read replicas (docs/scaling.md, "Read replicas"): DATABASE_REPLICA_URL lists PostgreSQL
# streaming replicas of DATABASE_URL, comma-separated, which become the aliases replica1,
# replica2, …; pipeworks.replicas routes the reads of GET requests there and everything
# else to the primary. Without it there is no other alias, router or middleware. In tests
# a replica is a mirror of default (the same test database, never created or migrated).
PIPEWORKS_REPLICA_DATABASES: list[str] = []
for _number, _url in enumerate(env_list("DATABASE_REPLICA_URL", ""), start=1):
    _replica = dj_database_url.parse(
        _url,
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
    if {_replica["ENGINE"], DATABASES["default"]["ENGINE"]} != {"django.db.backends.postgresql"}:
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URL needs PostgreSQL streaming replicas of a PostgreSQL DATABASE_URL"
        )
    _replica.setdefault("OPTIONS", {}).update(
        {"server_side_binding": DATABASES["default"]["OPTIONS"]["server_side_binding"]}
    )
    if PIPEWORKS_PG_PREPARE_THRESHOLD is not None:
        _replica["OPTIONS"].setdefault("prepare_threshold", PIPEWORKS_PG_PREPARE_THRESHOLD)
    # A replica that does not answer must cost a request seconds, not a TCP timeout.
    _replica["OPTIONS"].setdefault(
        "connect_timeout", int(os.environ.get("PIPEWORKS_REPLICA_CONNECT_TIMEOUT", "2"))
    )
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES[f"replica{_number}"] = _replica
    PIPEWORKS_REPLICA_DATABASES.append(f"replica{_number}")
if PIPEWORKS_REPLICA_DATABASES:
    DATABASE_ROUTERS = ["pipeworks.replicas.ReplicaRouter"]
    # After authentication and messages (it reads the user, and retries a read whose
    # replica failed without running them twice), before the outage page.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("pipeworks.outage.DatabaseOutageMiddleware"),
        "pipeworks.replica_reads.ReplicaReadMiddleware",
    )
# A replica lagging more than this many seconds behind the primary is skipped; each
# process probes each replica at most every PIPEWORKS_REPLICA_CHECK_SECONDS. A client that
# wrote in the last PIPEWORKS_READ_YOUR_WRITES_SECONDS reads the primary (0: never).
PIPEWORKS_REPLICA_MAX_LAG = float(os.environ.get("PIPEWORKS_REPLICA_MAX_LAG", "5"))
PIPEWORKS_REPLICA_CHECK_SECONDS = float(os.environ.get("PIPEWORKS_REPLICA_CHECK_SECONDS", "2"))
PIPEWORKS_READ_YOUR_WRITES_SECONDS = float(
    os.environ.get("PIPEWORKS_READ_YOUR_WRITES_SECONDS", "10")
)
if (
    min(
        PIPEWORKS_REPLICA_MAX_LAG,
        PIPEWORKS_REPLICA_CHECK_SECONDS,
        PIPEWORKS_READ_YOUR_WRITES_SECONDS,
    )
    < 0
):
    raise ImproperlyConfigured("PIPEWORKS_REPLICA_* and *_READ_YOUR_WRITES_* must not be negative")

# One cache shared by every worker process (login lockouts, throttles, cached
# credentials): Redis at REDIS_URL, else a table of the database (`pipeworks_cache`,
# created by a migration of `access`). Never a per-process memory cache (LocMemCache,
# Django's default): lockouts and throttles counted per process would multiply every limit
# by the number of workers. The check `access.W001` warns about one outside development.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "pipeworks.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "pipeworks",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "pipeworks_cache",
            # Django's default of 300 entries would let a flood of distinct keys evict the
            # login failure counters, and with them the lockouts.
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

# Admin login throttling (access/throttle.py; docs/security.md, "Login throttling and
# lockouts"): after this many failed logins of one username, or from one client address
# (REMOTE_ADDR, never X-Forwarded-For), in a fixed window of this many seconds, further
# attempts are refused before the password is hashed, until the window ends or an operator
# lifts the lockout. API writes (POST/PUT/PATCH/DELETE) are throttled per API key or user
# at PIPEWORKS_API_WRITE_RATE (DRF's "<n>/<s|min|hour|day>"; empty: not throttled).
PIPEWORKS_LOGIN_FAILURES_PER_USERNAME = int(
    os.environ.get("PIPEWORKS_LOGIN_FAILURES_PER_USERNAME", "10")
)
PIPEWORKS_LOGIN_FAILURES_PER_ADDRESS = int(
    os.environ.get("PIPEWORKS_LOGIN_FAILURES_PER_ADDRESS", "50")
)
PIPEWORKS_LOGIN_WINDOW_SECONDS = int(os.environ.get("PIPEWORKS_LOGIN_WINDOW_SECONDS", "900"))
_login_limits = (
    PIPEWORKS_LOGIN_FAILURES_PER_USERNAME,
    PIPEWORKS_LOGIN_FAILURES_PER_ADDRESS,
    PIPEWORKS_LOGIN_WINDOW_SECONDS,
)
if min(_login_limits) < 1:
    raise ImproperlyConfigured("PIPEWORKS_LOGIN_* settings must be positive integers")
PIPEWORKS_API_WRITE_RATE = os.environ.get("PIPEWORKS_API_WRITE_RATE", "6000/min").strip()
# API keys, their owners' permissions and world limits are cached in the shared cache
# (access/credentials.py), dropped at once when any of those rows changes through Django;
# an entry lives at most this many seconds, which bounds a change made in SQL.
PIPEWORKS_CREDENTIALS_CACHE_SECONDS = int(
    os.environ.get("PIPEWORKS_CREDENTIALS_CACHE_SECONDS", "60")
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Behind HTTPS (directly or via a proxy that sets X-Forwarded-Proto), PIPEWORKS_HTTPS=1
# turns on the transport protections `manage.py check --deploy` asks for.
PIPEWORKS_HTTPS = env_bool("PIPEWORKS_HTTPS", False)
if PIPEWORKS_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # Load balancers probe over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# Request bodies are bounded per view (pipeworks/request_limits.py). The default is
# Django's 2.5 MiB: the largest valid ordinary request is one event of many characters
# (POST /admin/events), whose fields but its deltas come to at most ~0.67 MB (50 metadata
# entries of 100 + 1000 characters, 12 bytes each as escaped JSON; a 200-character
# idempotency key); the rest holds at least ~13,000 deltas of the longest form (~150
# bytes: 19-digit id, 64-character axis name, 24-character float), ~40,000 of a usual one.
# The ledger sets no count of deltas per event: a bigger change goes through the batch.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
PIPEWORKS_REQUEST_BODY_LIMITS = {
    # A world tick of up to 5,000 events with a few metadata tags each is several
    # megabytes of JSON.
    "api-events-batch": 16 * 1024 * 1024,
    # Anyone may POST the login form: CSRF token, a 150-character username, a password
    # and the next URL take a few hundred bytes; 16 KiB leaves room for any password.
    "admin:login": 16 * 1024,
}

# The REST API lives under /admin/ and is for staff with the role's permissions, or for
# API keys. Key authentication comes first so that an anonymous request is answered 401
# with a WWW-Authenticate header.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "access.authentication.ApiKeyAuthentication",
        "access.authentication.CachedSessionAuthentication",
    ],
    # Staff with the ledger's view permission; views that write name their own class.
    "DEFAULT_PERMISSION_CLASSES": ["access.permissions.CanReadLedger"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "pipeworks.api.exception_handler",
    # Unsafe methods only, counted per API key (else per user) in the shared cache.
    "DEFAULT_THROTTLE_CLASSES": ["access.throttles.ApiWriteThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api-writes": PIPEWORKS_API_WRITE_RATE or None},
}

SPECTACULAR_SETTINGS = {
    "TITLE": "PipeWorks Axis API",
    "DESCRIPTION": (
        "Staff API of the character-state ledger: read a character's axis state and "
        "event history, apply events, and inspect world policies.\n\n"
        "**Delivery semantics.** A write without an idempotency key is at-least-once: a "
        "retry after a lost answer or a 503 may apply it twice. With a key (the body's "
        "`idempotency_key` or the `Idempotency-Key` header) it is exactly-once: send the "
        "same key and payload on every retry. After a successful COMMIT the answer is "
        "always a success (201, or 200 for a retry). A 503 `database_error` means the "
        "write failed before its COMMIT and nothing was written; 503 `outcome_unknown` "
        "means the connection was lost during the COMMIT, so the event may or may not "
        "have been saved: retry with the same key. `X-Request-ID` is a correlation id, "
        "never an idempotency key."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # 3.1: JSON Schema 2020-12, which can state the rules of object keys (propertyNames).
    "OAS_VERSION": "3.1.0",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "pipeworks.schema.state_path_id_bounds",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # On the handler, not a logger: a logger's filters skip records its children pass up.
    "filters": {"request_id": {"()": "pipeworks.request_id.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "loggers": {
        "pipeworks": {
            "handlers": ["console"],
            "level": os.environ.get("PIPEWORKS_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
        # Django's 4xx warnings and 500 tracebacks, with the request id. Not propagated:
        # Django's own "django" handlers would print them again under DEBUG (and mail
        # ADMINS, which is not set).
        "django.request": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}

# A write carrying an idempotency key whose connection was lost (before or at COMMIT: a
# restarted PgBouncer, a failover) is retried once by the server after this many seconds,
# on a new connection; the key makes the retry exactly-once. Unkeyed writes are never
# retried. Negative: never retry.
PIPEWORKS_WRITE_RETRY_DELAY = float(os.environ.get("PIPEWORKS_WRITE_RETRY_DELAY", "0.2"))
if not math.isfinite(PIPEWORKS_WRITE_RETRY_DELAY) or PIPEWORKS_WRITE_RETRY_DELAY > 60:
    raise ImproperlyConfigured(
        "PIPEWORKS_WRITE_RETRY_DELAY must be a number of seconds up to 60 (negative: no retry)"
    )

# How far in the future of the server's clock a client's occurred_at (game time) may be.
PIPEWORKS_OCCURRED_AT_MAX_SKEW = int(os.environ.get("PIPEWORKS_OCCURRED_AT_MAX_SKEW", "300"))

# How many event types clients may create per world (the reserved types do not count).
PIPEWORKS_MAX_EVENT_TYPES_PER_WORLD = int(
    os.environ.get("PIPEWORKS_MAX_EVENT_TYPES_PER_WORLD", "1000")
)

# Characters per drift transaction: each chunk holds its characters' locks while it runs,
# so writers to them wait for at most one chunk (ledger/services/drift.py). 1000 keeps a
# chunk under a second on PostgreSQL at the drift rate of apply_events (bench/results.md).
PIPEWORKS_DRIFT_CHUNK = int(os.environ.get("PIPEWORKS_DRIFT_CHUNK", "1000"))

# How long the change feed waits for writes in flight to end before answering 503
# (ledger/feed.py): it never serves an event while an earlier id may still commit.
PIPEWORKS_FEED_SETTLE_TIMEOUT = float(os.environ.get("PIPEWORKS_FEED_SETTLE_TIMEOUT", "5"))

# Where world policy files live: <dir>/<world_id>/policies/{axes,thresholds}.yaml.
PIPEWORKS_WORLDS_DIR = Path(os.environ.get("PIPEWORKS_WORLDS_DIR") or BASE_DIR / "data" / "worlds")
