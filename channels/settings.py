"""Typed settings, read once from the environment (Heroku style) and validated at start."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from store.crypto import BlindIndex, CryptoError, KeyRing, generate_key
from store.vault import Vault

VAR_DIR = Path("var")
DEV_KEYS_FILE = "dev-keys.env"


class SettingsError(Exception):
    """A setting is missing or wrong; the message says which and how to fix it."""


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
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check the settings; in development, missing keys are generated once."""
        env = dict(os.environ if environ is None else environ)
        mode = env.get("CRENEAU_ENV", "development").strip() or "development"
        if mode not in ("development", "production"):
            raise SettingsError("CRENEAU_ENV must be `development` or `production`")
        var_dir = Path(env.get("CRENEAU_VAR_DIR", str(VAR_DIR)))
        data_keys, index_key = _keys(env, mode, var_dir)
        settings = cls(
            env=mode,
            practice_file=_practice_file(env),
            database_url=env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'creneau.sqlite3'}",
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
        settings.vault()  # fail now, not at the first message
        if settings.production:
            _check_production(settings, var_dir)
        return settings


def _practice_file(env: Mapping[str, str]) -> Path:
    from bot.practice_file import bundled_example

    if env.get("CRENEAU_PRACTICE"):
        return Path(env["CRENEAU_PRACTICE"])
    local = Path("practice.toml")
    return local if local.exists() else bundled_example()


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
    if data and index:
        return data, index
    if mode == "production":
        missing = [
            n for n, v in (("CRENEAU_DATA_KEYS", data), ("CRENEAU_INDEX_KEY", index)) if not v
        ]
        raise SettingsError(
            f"production needs {' and '.join(missing)}: run `creneau keys generate` and set "
            "them in the platform's config (never commit them)"
        )
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
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        content = f"CRENEAU_DATA_KEYS=dev1:{generate_key()}\nCRENEAU_INDEX_KEY={generate_key()}\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
    values = _read_env_file(path)
    if "CRENEAU_SECRET_KEY" not in values:
        with path.open("a") as fh:
            fh.write(f"CRENEAU_SECRET_KEY={generate_key()}\n")
        values = _read_env_file(path)
    return values


def _read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip()
    return values


def _check_production(settings: Settings, var_dir: Path) -> None:
    """Production refuses development keys and placeholder secrets."""
    dev = var_dir / DEV_KEYS_FILE
    if dev.exists():
        stored = _dev_keys(var_dir)
        if settings.data_keys == stored.get(
            "CRENEAU_DATA_KEYS"
        ) or settings.index_key == stored.get("CRENEAU_INDEX_KEY"):
            raise SettingsError(
                "production refuses the development keys from var/: "
                "generate new ones with `creneau keys generate`"
            )
    if any(k.startswith("dev") for k in KeyRing.from_setting(settings.data_keys).ids):
        raise SettingsError("production refuses data keys whose id starts with `dev`")
    if settings.telegram_enabled and len(settings.telegram_webhook_secret) < 16:
        raise SettingsError("TELEGRAM_WEBHOOK_SECRET must be set (16+ characters) in production")
    if (
        settings.sms_enabled or settings.telegram_enabled
    ) and not settings.public_base_url.startswith("https://"):
        raise SettingsError("PUBLIC_BASE_URL must be the public https:// origin in production")
