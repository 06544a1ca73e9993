"""Typed settings, read once from the environment (Heroku style) and validated at start."""

from __future__ import annotations

import base64
import binascii
import fcntl
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from store.crypto import BlindIndex, CryptoError, KeyRing, generate_key
from store.db import normalise_url, parse_url, tls_problem
from store.vault import Vault

VAR_DIR = Path("var")
DEV_KEYS_FILE = "dev-keys.env"


class SettingsError(Exception):
    """A setting is missing or wrong; the message says which and how to fix it, one line
    per problem (`problems`)."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Settings:
    env: str
    practice_file: Path
    database_url: str
    data_keys: str
    index_key: str
    public_base_url: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_messaging_service_sid: str = ""
    twilio_from_number: str = ""
    twilio_api_base_url: str = "https://api.twilio.com"
    telegram_bot_token: str = ""
    telegram_webhook_secret: str = ""
    telegram_api_base_url: str = "https://api.telegram.org"
    port: int = 8000
    var_dir: Path = VAR_DIR
    secret_key: str = ""  # signs desk sessions and CSRF tokens (CRENEAU_SECRET_KEY)
    operator: str = ""  # who runs CLI commands that touch personal data (CRENEAU_OPERATOR)
    metrics_token: str = ""  # bearer token of GET /metrics (CRENEAU_METRICS_TOKEN); "" = off

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def sms_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    def vault(self) -> Vault:
        try:
            return Vault(
                KeyRing.from_setting(self.data_keys), BlindIndex.from_setting(self.index_key)
            )
        except CryptoError as exc:
            raise SettingsError(f"{exc}. Generate keys with `creneau keys generate`.") from exc

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, enforce: bool = True
    ) -> Settings:
        """Read and check the settings; in development, missing keys are generated once.

        In production every unsafe setting is refused at once (SettingsError, one line per
        problem); `enforce=False` reads them anyway, for `creneau doctor` to report.
        """
        env = dict(os.environ if environ is None else environ)
        mode = env.get("CRENEAU_ENV", "development").strip() or "development"
        if mode not in ("development", "production"):
            raise SettingsError(
                f"CRENEAU_ENV must be `development` or `production`, not {mode[:20]!r}"
            )
        var_dir = Path(env.get("CRENEAU_VAR_DIR", str(VAR_DIR)))
        data_keys, index_key = _keys(env, mode, var_dir)
        settings = cls(
            env=mode,
            practice_file=_practice_file(env),
            database_url=_database_url(env, var_dir),
            data_keys=data_keys,
            index_key=index_key,
            public_base_url=env.get("PUBLIC_BASE_URL", "").rstrip("/"),
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", ""),
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
            twilio_messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID", ""),
            twilio_from_number=env.get("TWILIO_FROM_NUMBER", ""),
            twilio_api_base_url=(env.get("TWILIO_API_BASE_URL") or "https://api.twilio.com").rstrip(
                "/"
            ),
            telegram_bot_token=env.get("TELEGRAM_BOT_TOKEN", ""),
            telegram_webhook_secret=env.get("TELEGRAM_WEBHOOK_SECRET", ""),
            telegram_api_base_url=(
                env.get("TELEGRAM_API_BASE_URL") or "https://api.telegram.org"
            ).rstrip("/"),
            port=_port(env.get("PORT", "8000")),
            var_dir=var_dir,
            secret_key=_secret_key(env, mode, var_dir),
            operator=env.get("CRENEAU_OPERATOR", "").strip(),
            metrics_token=env.get("CRENEAU_METRICS_TOKEN", "").strip(),
        )
        if settings.production and enforce:
            problems = production_problems(settings, env)
            if problems:
                raise SettingsError(*problems)
        if enforce:
            settings.vault()  # fail now, not at the first message
        return settings


def _practice_file(env: Mapping[str, str]) -> Path:
    from bot.practice_file import bundled_example

    if env.get("CRENEAU_PRACTICE"):
        return Path(env["CRENEAU_PRACTICE"])
    local = Path("practice.toml")
    return local if local.exists() else bundled_example()


def _database_url(env: Mapping[str, str], var_dir: Path) -> str:
    """DATABASE_URL (`postgres://` read as psycopg 3), or the development SQLite file."""
    url = env.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{var_dir / 'creneau.sqlite3'}"
    try:
        parse_url(url)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    return normalise_url(url)


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError as exc:
        raise SettingsError("PORT must be a number, e.g. 8000") from exc
    if not 0 < port < 65536:
        raise SettingsError("PORT must be between 1 and 65535")
    return port


def _keys(env: Mapping[str, str], mode: str, var_dir: Path) -> tuple[str, str]:
    data, index = env.get("CRENEAU_DATA_KEYS", ""), env.get("CRENEAU_INDEX_KEY", "")
    if (data and index) or mode == "production":
        return data, index  # production: a missing key is one of the refused settings
    stored = _dev_keys(var_dir)
    return data or stored["CRENEAU_DATA_KEYS"], index or stored["CRENEAU_INDEX_KEY"]


def _secret_key(env: Mapping[str, str], mode: str, var_dir: Path) -> str:
    """CRENEAU_SECRET_KEY; in development, generated once into var/ when unset."""
    value = env.get("CRENEAU_SECRET_KEY", "").strip()
    if value or mode == "production":
        return value
    return _dev_keys(var_dir)["CRENEAU_SECRET_KEY"]


def _dev_keys(var_dir: Path) -> dict[str, str]:
    """Development keys, generated once into var/ with mode 0600 (a key added to the
    product later is appended to an existing file)."""
    path = var_dir / DEV_KEYS_FILE
    if path.exists():  # the usual case: read it (complete: it is written under the lock)
        values = _read_env_file(path)
        if "CRENEAU_SECRET_KEY" in values:
            return values
    var_dir.mkdir(parents=True, exist_ok=True)
    lock = os.open(var_dir / f"{DEV_KEYS_FILE}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:  # processes starting together (gunicorn's workers) write it once, one at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            content = (
                f"CRENEAU_DATA_KEYS=dev1:{generate_key()}\nCRENEAU_INDEX_KEY={generate_key()}\n"
            )
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
            with os.fdopen(fd, "w") as fh:
                fh.write(content)
        values = _read_env_file(path)
        if "CRENEAU_SECRET_KEY" not in values:
            with path.open("a") as fh:
                fh.write(f"CRENEAU_SECRET_KEY={generate_key()}\n")
            values = _read_env_file(path)
    finally:
        os.close(lock)
    return values


def _read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip()
    return values


# ---------------------------------------------------------------- production checks


@dataclass(frozen=True)
class Finding:
    """One production check on the settings alone: its name and, when it fails, one line
    saying what is wrong and how to fix it."""

    name: str
    problem: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None


MIN_SECRET_BYTES = 32
MIN_DISTINCT_BYTES = 8  # a random 32-byte key has about 28; all-zero or repeated has 1 or 2
GENERATE = "run `creneau keys generate` and set the new value in the platform's config"


def production_findings(settings: Settings, environ: Mapping[str, str]) -> list[Finding]:
    """Every check production makes on the settings themselves, failed or not."""
    materials = _materials(settings)
    dev = _dev_materials(settings.var_dir)
    return [
        _practice_finding(settings),
        _database_finding(environ),
        _tls_finding(settings),
        _data_keys_finding(settings, materials, dev),
        _single_key_finding("index key", "CRENEAU_INDEX_KEY", settings.index_key, materials, dev),
        _single_key_finding(
            "secret key", "CRENEAU_SECRET_KEY", settings.secret_key, materials, dev
        ),
        _public_url_finding(settings),
        _webhook_secret_finding(settings),
        _metrics_token_finding(settings),
    ]


def production_problems(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """The failed production checks, one line each."""
    return [f.problem for f in production_findings(settings, environ) if f.problem]


def _practice_finding(settings: Settings) -> Finding:
    from bot.practice_file import bundled_example

    path, example = settings.practice_file, bundled_example()
    try:
        same = path.resolve() == example.resolve() or path.read_bytes() == example.read_bytes()
    except OSError:
        same = False  # unreadable: the practice file check reports it
    if same:
        return Finding(
            "example practice",
            f"{path} is the bundled example practice: write your practice's own file and set "
            "CRENEAU_PRACTICE to its path (check it with `creneau check FILE`)",
        )
    return Finding("example practice", detail="not the bundled example")


def _database_finding(environ: Mapping[str, str]) -> Finding:
    if not environ.get("DATABASE_URL", "").strip():
        return Finding(
            "database",
            "DATABASE_URL is not set: production would write to a SQLite file in ./var/, "
            "which hosting platforms wipe at each restart; set DATABASE_URL to your "
            "PostgreSQL URL (or sqlite:////a/persistent/path on one machine)",
        )
    return Finding("database", detail=shown_url(environ["DATABASE_URL"]))


def _tls_finding(settings: Settings) -> Finding:
    problem = tls_problem(settings.database_url)
    if problem:
        return Finding("database TLS", problem)
    return Finding("database TLS", detail="local, or sslmode=require or stronger")


def _data_keys_finding(
    settings: Settings, materials: dict[str, bytes], dev: dict[bytes, str]
) -> Finding:
    name = "data keys"
    if not settings.data_keys.strip():
        return Finding(name, f"CRENEAU_DATA_KEYS is not set: {GENERATE} (never commit it)")
    try:
        ring = KeyRing.from_setting(settings.data_keys)
    except CryptoError as exc:
        return Finding(name, f"{exc}: {GENERATE}")
    devs = [k for k in ring.ids if k.lower().startswith("dev")]
    if devs:
        return Finding(
            name, f"CRENEAU_DATA_KEYS key id {devs[0]!r} is a development key: {GENERATE}"
        )
    for label, raw in materials.items():
        if label.startswith("CRENEAU_DATA_KEYS"):
            problem = _material_problem(label, raw, materials, dev)
            if problem:
                return Finding(name, problem)
    return Finding(name, detail=f"{len(ring.ids)} key(s), primary {ring.primary_id!r}")


def _single_key_finding(
    name: str, setting: str, value: str, materials: dict[str, bytes], dev: dict[bytes, str]
) -> Finding:
    if not value.strip():
        return Finding(name, f"{setting} is not set: {GENERATE} (never commit it)")
    raw = materials.get(setting)
    if raw is None:
        return Finding(name, f"{setting} is neither base64 nor hex: {GENERATE}")
    if len(raw) < MIN_SECRET_BYTES:
        return Finding(
            name, f"{setting} holds {len(raw)} bytes, fewer than {MIN_SECRET_BYTES}: {GENERATE}"
        )
    problem = _material_problem(setting, raw, materials, dev)
    return Finding(name, problem) if problem else Finding(name, detail=f"{len(raw)} bytes")


def _material_problem(
    label: str, raw: bytes, materials: dict[str, bytes], dev: dict[bytes, str]
) -> str | None:
    """Why a key's bytes are unsafe: not random, shared with another key, or a development
    key (compared by material, whatever its id)."""
    if len(set(raw)) < MIN_DISTINCT_BYTES:
        return f"{label} is not random (all zeros or a repeated pattern): {GENERATE}"
    for other, other_raw in materials.items():
        if other == label:
            break  # a pair is reported once, by the later of the two
        if other_raw == raw:
            return f"{label} is the same key as {other}: each key must be its own; {GENERATE}"
    if raw in dev:
        return (
            f"{label} is the development {dev[raw]} of {DEV_KEYS_FILE} in CRENEAU_VAR_DIR: "
            f"production needs keys of its own; {GENERATE}"
        )
    return None


def _materials(settings: Settings) -> dict[str, bytes]:
    """The raw bytes of every key the settings hold, by name (unreadable ones left out)."""
    found: dict[str, bytes] = {}
    for item in filter(None, (p.strip() for p in settings.data_keys.split(","))):
        kid, _, text = item.partition(":")
        raw = decode_secret(text)
        if raw is not None:
            found[f"CRENEAU_DATA_KEYS key {kid!r}"] = raw
    for name, text in (
        ("CRENEAU_INDEX_KEY", settings.index_key),
        ("CRENEAU_SECRET_KEY", settings.secret_key),
    ):
        raw = decode_secret(text)
        if raw is not None:
            found[name] = raw
    return found


def _dev_materials(var_dir: Path) -> dict[bytes, str]:
    """Development key bytes found in var/dev-keys.env (read only: production never writes
    there), mapped to what they are."""
    path = var_dir / DEV_KEYS_FILE
    if not path.exists():
        return {}
    found: dict[bytes, str] = {}
    values = _read_env_file(path)
    for item in values.get("CRENEAU_DATA_KEYS", "").split(","):
        raw = decode_secret(item.partition(":")[2])
        if raw is not None:
            found[raw] = "data key"
    for name, what in (("CRENEAU_INDEX_KEY", "index key"), ("CRENEAU_SECRET_KEY", "secret key")):
        raw = decode_secret(values.get(name, ""))
        if raw is not None:
            found[raw] = what
    return found


def decode_secret(text: str) -> bytes | None:
    """A key's bytes from hex or base64 (standard or URL-safe, padding optional); None if
    it is neither."""
    text = text.strip()
    if not text:
        return None
    if len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text):
        return bytes.fromhex(text)
    padded = text + "=" * (-len(text) % 4)
    for altchars in (None, b"-_"):
        try:
            return base64.b64decode(padded.encode(), altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    return None


def _public_url_finding(settings: Settings) -> Finding:
    channels = settings.sms_enabled or settings.telegram_enabled
    if channels and not settings.public_base_url.startswith("https://"):
        return Finding(
            "public URL",
            "PUBLIC_BASE_URL must be the public https:// origin in production (Twilio "
            "signatures and the Telegram webhook depend on it)",
        )
    return Finding("public URL", detail=settings.public_base_url or "not needed")


def _webhook_secret_finding(settings: Settings) -> Finding:
    if settings.telegram_enabled and len(settings.telegram_webhook_secret) < 16:
        return Finding(
            "Telegram webhook secret",
            "TELEGRAM_WEBHOOK_SECRET must be set (16+ random characters) in production: "
            'python3 -c "import secrets; print(secrets.token_urlsafe(32))"',
        )
    return Finding(
        "Telegram webhook secret", detail="set" if settings.telegram_enabled else "Telegram off"
    )


def _metrics_token_finding(settings: Settings) -> Finding:
    token = settings.metrics_token
    if token and len(token) < 16:
        return Finding(
            "metrics token",
            "CRENEAU_METRICS_TOKEN is shorter than 16 characters: use a random one, "
            'e.g. python3 -c "import secrets; print(secrets.token_urlsafe(32))", or unset it',
        )
    return Finding("metrics token", detail="set" if token else "metrics off")


def shown_url(url: str) -> str:
    """A database URL without its password."""
    try:
        return parse_url(url).render_as_string(hide_password=True)
    except ValueError:
        return "(unreadable)"
