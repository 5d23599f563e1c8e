"""Django settings for ketaclinic, read from the environment.

Every setting is documented in docs/configuration.md; keep the two in step.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

PACKAGE_DIR = Path(__file__).resolve().parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from exc


KETACLINIC_ENV = os.environ.get("KETACLINIC_ENV", "local").strip().lower()
if KETACLINIC_ENV not in {"local", "production"}:
    raise ImproperlyConfigured("KETACLINIC_ENV must be 'local' or 'production'")
PRODUCTION = KETACLINIC_ENV == "production"

# Runtime files (SQLite database, generated local secret key) live here.
VAR_DIR = Path(os.environ.get("KETACLINIC_VAR_DIR", "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY", "")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when KETACLINIC_ENV=production")
    # Local use: generate once and keep it beside the database, never in the repo.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.touch(mode=0o600)
        key_file.write_text(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
# DEBUG shows tracebacks with patient data in them: never in production.
DEBUG = env_bool("DEBUG", False) and not PRODUCTION

_default_hosts = "" if PRODUCTION else "127.0.0.1,localhost,[::1]"
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", _default_hosts).split(",") if h.strip()
]
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when KETACLINIC_ENV=production")
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_htmx",
    "csp",
    "axes",
    "ketaclinic.organization",
    "ketaclinic.accounts",
    "ketaclinic.patients",
    "ketaclinic.measures",
    "ketaclinic.eligibility",
    "ketaclinic.treatment",
    "ketaclinic.charting",
    "ketaclinic.outcomes",
    "ketaclinic.register",
    "ketaclinic.scheduling",
    "ketaclinic.therapy",
    "ketaclinic.referrals",
    "ketaclinic.billing",
    "ketaclinic.coverage",
    "ketaclinic.audit",
    "ketaclinic.portal",
    "ketaclinic.home",
    "ketaclinic.fhir",
    "ketaclinic.operations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "ketaclinic.audit.middleware.AuditContextMiddleware",
    "ketaclinic.accounts.middleware.StaffTwoFactorMiddleware",
    # Axes must come last so it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ketaclinic.urls"
WSGI_APPLICATION = "ketaclinic.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ketaclinic.accounts.context_processors.navigation",
            ],
        },
    }
]

# Database: SQLite in WAL mode by default, PostgreSQL via DATABASE_URL.
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'ketaclinic.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
except ValueError as exc:
    raise ImproperlyConfigured(
        f"DATABASE_URL is not a database address ({exc}); e.g. postgres://user@host:5432/name"
    ) from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock when a transaction starts, so two writers
        # queue on the busy timeout instead of one failing mid-transaction.
        "transaction_mode": "IMMEDIATE",
        "timeout": env_int("KETACLINIC_SQLITE_BUSY_TIMEOUT_SECONDS", 20),
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
    }
    # One file per run, so that two test runs at once (two terminals, CI legs) never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-ketaclinic-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Brute-force lockout (django-axes): locked per account after N failures, for a cool-off.
AXES_FAILURE_LIMIT = env_int("KETACLINIC_LOGIN_FAILURE_LIMIT", 6)
AXES_LOCKOUT_PARAMETERS = ["username"]
_cooloff_minutes = env_int("KETACLINIC_LOCKOUT_MINUTES", 15)
AXES_COOLOFF_TIME = timedelta(minutes=_cooloff_minutes) if _cooloff_minutes > 0 else None
# Wrong passwords typed while an account is locked do not make the lockout last longer, so
# nobody can keep an account locked by going on trying.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The same client address as the audit log (trusted proxies only).
AXES_CLIENT_IP_CALLABLE = "ketaclinic.audit.context.client_address"
# Failed sign-ins one network address (IPv6: one /64) may make in 24 hours before sign-in
# from it is refused; failures of an account that then signs in from there are forgiven.
KETACLINIC_LOGIN_FAILURES_PER_ADDRESS_PER_DAY = env_int(
    "KETACLINIC_LOGIN_FAILURES_PER_ADDRESS_PER_DAY", 30
)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False
# Lockout is per account on purpose: a clinic's staff share one address behind NAT, and
# locking by address would lock out the whole clinic after one person's mistakes.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

# Two-factor (django-otp TOTP): required for staff in production, optional locally.
KETACLINIC_REQUIRE_STAFF_2FA = env_bool("KETACLINIC_REQUIRE_STAFF_2FA", PRODUCTION)
OTP_TOTP_ISSUER = os.environ.get("KETACLINIC_OTP_ISSUER", "ketaclinic")

# Idle sessions expire: every request pushes the expiry forward.
KETACLINIC_IDLE_TIMEOUT_MINUTES = env_int("KETACLINIC_IDLE_TIMEOUT_MINUTES", 15)
SESSION_COOKIE_AGE = KETACLINIC_IDLE_TIMEOUT_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# Secure headers.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("KETACLINIC_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("KETACLINIC_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy: everything from our own origin, no inline script or style.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("KETACLINIC_TIME_ZONE", "America/Denver")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
# Serve straight from the package so `make demo` needs no collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

KETACLINIC_PAGE_SIZE = env_int("KETACLINIC_PAGE_SIZE", 25)

# Measurement-based care.
KETACLINIC_SELF_REPORT_LINK_HOURS = env_int("KETACLINIC_SELF_REPORT_LINK_HOURS", 72)
# Unacknowledged safety alerts older than this escalate to the medical director.
KETACLINIC_ALERT_ESCALATION_HOURS = env_int("KETACLINIC_ALERT_ESCALATION_HOURS", 24)
# A due questionnaire becomes overdue this many days after its due date.
KETACLINIC_QUESTIONNAIRE_GRACE_DAYS = env_int("KETACLINIC_QUESTIONNAIRE_GRACE_DAYS", 2)
# A signed session note also needs a prescriber's co-signature.
KETACLINIC_NOTE_COSIGNATURE = env_bool("KETACLINIC_NOTE_COSIGNATURE", False)

# Scheduling, telehealth and reminders (docs/scheduling.md).
# The clinic's own video service: {room} is replaced by each appointment's unguessable room
# name, e.g. https://video.example-clinic.org/{room}. Empty: no video links are shown.
KETACLINIC_VIDEO_URL_PATTERN = os.environ.get("KETACLINIC_VIDEO_URL_PATTERN", "")
if KETACLINIC_VIDEO_URL_PATTERN and "{room}" not in KETACLINIC_VIDEO_URL_PATTERN:
    raise ImproperlyConfigured("KETACLINIC_VIDEO_URL_PATTERN must contain {room}")
# The video link is shown this many minutes before a video visit starts, until it ends.
KETACLINIC_VIDEO_LINK_OPENS_MINUTES = env_int("KETACLINIC_VIDEO_LINK_OPENS_MINUTES", 15)
# The address patients reach the clinic at, for links in reminders (no trailing slash).
KETACLINIC_BASE_URL = os.environ.get("KETACLINIC_BASE_URL", "http://localhost:8000").rstrip("/")
# Reminders: email through Django's email backend, text messages through ours.
EMAIL_BACKEND = os.environ.get(
    "KETACLINIC_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = os.environ.get("KETACLINIC_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("KETACLINIC_EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("KETACLINIC_EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("KETACLINIC_EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("KETACLINIC_EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = os.environ.get("KETACLINIC_EMAIL_FROM", "ketaclinic <noreply@localhost>")
KETACLINIC_SMS_BACKEND = os.environ.get(
    "KETACLINIC_SMS_BACKEND", "ketaclinic.scheduling.reminders.sms.ConsoleSmsBackend"
)
# A reminder that failed is tried again on later runs, up to this many attempts in all.
KETACLINIC_REMINDER_MAX_ATTEMPTS = env_int("KETACLINIC_REMINDER_MAX_ATTEMPTS", 3)
# A reminder left "sending" this long (its run was killed mid-send) counts as failed, so a
# later run tries it again (docs/reminders.md).
KETACLINIC_REMINDER_STUCK_MINUTES = env_int("KETACLINIC_REMINDER_STUCK_MINUTES", 30)
# Behind a reverse proxy: the header it puts the visitor's address in (e.g. X-Forwarded-For),
# for the audit log and the request form's rate limit. Empty: the connection's address.
KETACLINIC_CLIENT_ADDRESS_HEADER = os.environ.get("KETACLINIC_CLIENT_ADDRESS_HEADER", "")
# The proxies that header is believed from (addresses or networks); from anyone else the
# header is ignored and the connection's own address is used.
KETACLINIC_TRUSTED_PROXIES = [
    p.strip()
    for p in os.environ.get("KETACLINIC_TRUSTED_PROXIES", "127.0.0.1,::1").split(",")
    if p.strip()
]
for _proxy in KETACLINIC_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"KETACLINIC_TRUSTED_PROXIES: {_proxy!r} is not an address or a network"
        ) from exc
# Public appointment requests accepted from one address (IPv6: one /64) per hour, and from
# every address together per hour; more are refused.
KETACLINIC_REQUESTS_PER_ADDRESS_PER_HOUR = env_int("KETACLINIC_REQUESTS_PER_ADDRESS_PER_HOUR", 5)
KETACLINIC_REQUESTS_PER_HOUR = env_int("KETACLINIC_REQUESTS_PER_HOUR", 60)
# Declined and spam requests are deleted this many days after they were handled
# (`ketaclinic requests purge`, for cron).
KETACLINIC_REQUEST_RETENTION_DAYS = env_int("KETACLINIC_REQUEST_RETENTION_DAYS", 90)

# Backups and the audit log's anchors outside the database (docs/backups.md, docs/audit.md).
KETACLINIC_BACKUP_DIR = Path(
    os.environ.get("KETACLINIC_BACKUP_DIR", "") or VAR_DIR / "backups"
).resolve()
# Empty turns the anchor file off (anchors are still printed in each backup's manifest).
KETACLINIC_AUDIT_ANCHOR_FILE = os.environ.get(
    "KETACLINIC_AUDIT_ANCHOR_FILE", str(VAR_DIR / "audit-anchors.jsonl")
)
# The proxy and monitoring poll /healthz over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("KETACLINIC_LOG_LEVEL", "WARNING")},
}
