"""Settings: where each value comes from, and atomic writes of the TOML config file.

Precedence is written once, in ``Settings.get``: command-line flag > ``LUMEN_*``
environment variable > the active profile > built-in default. An empty environment
variable counts as unset.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lumen_cli.errors import BadInput, ConfigError
from lumen_cli.fsutil import atomic_write, ensure_private_dir, file_lock
from lumen_cli.net import (
    check_http_url,
    hide_password,
    is_http_url,
    is_loopback,
    is_postgres_url,
)
from lumen_cli.text import shorten
from lumen_cli.values import (
    check_aspect_ratio,
    check_duration,
    check_model,
    check_resolution,
    check_template,
    check_upload_command,
)

DEFAULT_BASE_URL = "https://lumen.mengfanlab.top"
DEFAULT_PROFILE = "default"
CONFIG_FILE_NAME = "config.toml"
SANDBOX_KEY = "sk-lumen-sandbox"  # what --sandbox sends: the sandbox takes any sk-lumen- key
SANDBOX_SOURCE = "sandbox"  # the source of base_url and api_key under --sandbox
SANDBOX_KEYS = ("base_url", "api_key")  # the settings --sandbox replaces


def check_base_url(base_url: str, what: str = "base_url") -> str:
    """Validate *base_url*; the key goes over plain http only to this machine."""
    if not is_http_url(base_url):
        raise ConfigError(f"{what} must be an http(s) URL, got {shorten(repr(base_url), 80)}")
    parts = urlsplit(base_url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise ConfigError(
            f"refusing to send the API key over plain http to {parts.hostname}",
            hint="Use an https:// base_url (plain http is allowed for 127.0.0.1 only).",
        )
    return base_url.rstrip("/")


class Size(int):
    """The type of settings that hold a byte count (given as ``8G``, ``500M``…)."""


class Seconds(float):
    """The type of settings that hold a span of time (given as ``90``, ``30m``, ``6h``, ``7d``)."""


def _http_url(value: str, what: str) -> str:
    return check_http_url(what, value)


def check_history_url(value: str, what: str = "history_url") -> str:
    """A ``postgresql://`` URL, or empty (the local file)."""
    value = value.strip()
    if value and not is_postgres_url(value):
        raise ConfigError(
            f"{what} must be a postgresql:// URL (or empty, for the local file), "
            f"got {shorten(repr(hide_password(value)), 80)}",
            hint="For example postgresql://lumen@db.example/lumen (the password from "
            "~/.pgpass or PGPASSWORD).",
        )
    return value


def _host_name(value: str, what: str) -> str:
    value = value.strip()
    if not value or len(value) > 255 or not value.isprintable():
        raise ConfigError(f"{what} must be a name of 1 to 255 printable characters")
    return value


def _positive(value: float, what: str) -> float:
    if value <= 0:
        raise BadInput(f"{what} must be more than 0 seconds")
    return value


def _port(value: int, what: str) -> int:
    if not 1 <= value <= 65535:
        raise BadInput(f"{what} must be a port number (1 to 65535), got {value}")
    return value


@dataclass(frozen=True)
class Key:
    """One setting: its type, whether it is secret, its default, its check, what it means."""

    name: str
    type: type
    help: str
    default: object = None
    secret: bool = False
    # Returns the value to use, or raises BadInput; the second argument names the value.
    check: Callable[[Any, str], object] | None = None
    flag: str | None = None  # the command-line option that sets it, where one does
    # How a value that is partly secret may be shown (a URL without its password).
    show: Callable[[str], str] | None = None

    @property
    def env_var(self) -> str:
        return f"LUMEN_{self.name.upper()}"


KEYS: dict[str, Key] = {
    key.name: key
    for key in (
        Key("api_key", str, "API key (sk-lumen-…)", secret=True),
        Key(
            "base_url",
            str,
            "API base URL",
            default=DEFAULT_BASE_URL,
            check=check_base_url,
            flag="--base-url",
        ),
        Key("model", str, "default model", default="seedance-2", check=check_model, flag="--model"),
        Key(
            "resolution",
            str,
            "default resolution (480p, 720p, 1080p)",
            check=check_resolution,
            flag="--resolution",
        ),
        Key(
            "aspect_ratio",
            str,
            "default aspect ratio (16:9, 9:16, …)",
            check=check_aspect_ratio,
            flag="--aspect-ratio",
        ),
        Key(
            "duration",
            int,
            "default duration in seconds (4 or more)",
            check=check_duration,
            flag="--duration",
        ),
        Key("generate_audio", bool, "generate audio by default (true/false)", flag="--audio"),
        Key(
            "output",
            str,
            "download path template, e.g. clips/{date}/{id}.mp4",
            check=check_template,
            flag="-o",
        ),
        Key(
            "max_download_size",
            Size,
            "largest result file to download, e.g. 8G (stops a server that never ends)",
            default=8 << 30,
        ),
        Key("webhook_url", str, "default webhook URL", check=_http_url, flag="--webhook-url"),
        Key(
            "webhook_secret",
            str,
            "default webhook signing secret",
            secret=True,
            flag="--webhook-secret",
        ),
        Key(
            "upload_command",
            str,
            "shell command that uploads a local input {path} and prints its URL "
            "(placeholders {path} {name} {ext} {sha256} {size} {type})",
            check=check_upload_command,
        ),
        Key(
            "upload_max_age",
            Seconds,
            "reuse an uploaded file's URL while younger than this, e.g. 6h, 7d (0: never)",
            default=3600.0,
        ),
        Key(
            "upload_timeout",
            Seconds,
            "how long upload_command may run for one file, e.g. 90, 10m",
            default=300.0,
            check=_positive,
        ),
        Key(
            "max_upload_size",
            Size,
            "largest local file to upload, e.g. 100M",
            default=100 << 20,
        ),
        Key(
            "sandbox_url",
            str,
            "a running sandbox for --sandbox to use instead of its own",
            check=_http_url,
        ),
        Key(
            "history_url",
            str,
            "a shared history on PostgreSQL (postgresql://…); empty: the local file",
            check=check_history_url,
            show=hide_password,
        ),
        Key(
            "host_name",
            str,
            "the machine's name in the history (default: the system's host name)",
            check=_host_name,
        ),
        Key("sandbox_port", int, "port of the background sandbox", default=8765, check=_port),
        Key("sandbox_job_seconds", float, "how long a background sandbox job runs (seconds)"),
    )
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


KEY_PREFIX = "sk-lumen-"
MASK_MIN_HIDDEN = (
    12  # a secret shows its last 4 characters only when at least this many stay hidden
)


def mask(secret: str) -> str:
    """Show enough of a secret to recognise it, never enough to use it.

    At most its last 4 characters (after the ``sk-lumen-`` prefix of a key), and only when
    at least 12 more stay hidden: ``sk-lumen-…3f9a``, ``…b7c1``, ``****``.
    """
    prefix = KEY_PREFIX if secret.startswith(KEY_PREFIX) else ""
    rest = secret[len(prefix) :]
    if len(rest) < MASK_MIN_HIDDEN + 4:
        return f"{prefix}…" if prefix else "****"
    return f"{prefix}…{rest[-4:]}"


def shown_value(key: Key, raw: object) -> str:
    """*raw* as an error message may quote it: never a secret, nor anything like a key."""
    if key.secret:
        return "(the value is a secret: not shown)"
    if key.show is not None and isinstance(raw, str):
        raw = key.show(raw)
    if KEY_PREFIX in repr(raw):
        return "(not shown: it looks like an API key)"
    return shorten(repr(raw), 80)


_SIZE = re.compile(r"([0-9]+)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(raw: object) -> int:
    """A byte count: ``8589934592``, ``8G``, ``500 MiB``, ``64k`` (units are powers of 1024)."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return raw
    match = _SIZE.fullmatch(str(raw).strip())
    if match is None or int(match.group(1)) == 0:
        raise ConfigError(f"expected a size such as 8G or 500M, got {shorten(str(raw), 40)}")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]


_SPAN = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([smhdw]?)", re.IGNORECASE)
_SPAN_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_seconds(raw: object) -> float:
    """A span of time in seconds: ``90``, ``1.5``, ``30m``, ``6h``, ``7d``, ``1w``."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool) and raw >= 0:
        return float(raw)
    match = _SPAN.fullmatch(str(raw).strip())
    if match is None:
        raise ConfigError(f"expected a span such as 90, 30m, 6h or 7d, got {shorten(str(raw), 40)}")
    return float(match.group(1)) * _SPAN_UNITS[match.group(2).lower()]


def parse_value(key: Key, raw: object, what: str | None = None) -> object:
    """*raw* (a flag's value, a string from the environment, a TOML value) as *key*'s type,
    checked as the flags are. Messages call the value *what* (default: the key's name)."""
    what = what or key.name
    shown = shown_value(key, raw)
    if key.type is Size:
        try:
            return parse_size(raw)
        except ConfigError:
            raise ConfigError(f"{what} must be a size such as 8G or 500M, got {shown}") from None
    if key.type is Seconds:
        try:
            seconds = parse_seconds(raw)
        except ConfigError:
            raise ConfigError(f"{what} must be a span such as 90, 30m or 7d, got {shown}") from None
        return seconds if key.check is None else key.check(seconds, what)
    if key.type is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ConfigError(f"{what} must be true or false, got {shown}")
    value: object = raw
    if key.type in (int, float):
        number = key.type
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise ConfigError(f"{what} must be a {_NUMBER_WORDS[number]}, got {shown}")
        try:
            value = number(raw.strip() if isinstance(raw, str) else raw)
        except ValueError:
            raise ConfigError(f"{what} must be a {_NUMBER_WORDS[number]}, got {shown}") from None
        if number is int and isinstance(raw, float) and raw != value:
            raise ConfigError(f"{what} must be a {_NUMBER_WORDS[number]}, got {shown}")
    elif not isinstance(raw, str):
        raise ConfigError(f"{what} must be a string, got {shown}")
    return value if key.check is None else key.check(value, what)


_NUMBER_WORDS = {int: "whole number", float: "number"}


def lookup_key(name: str) -> Key:
    try:
        return KEYS[name.replace("-", "_")]
    except KeyError:
        known = ", ".join(KEYS)
        raise ConfigError(f"unknown setting {name!r}", hint=f"Known settings: {known}.") from None


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where config.toml lives: ``LUMEN_CONFIG_DIR``, else the platform's config dir."""
    return _user_dir("LUMEN_CONFIG_DIR", "user_config_dir", env)


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where the history lives: ``LUMEN_DATA_DIR``, else the platform's data dir."""
    return _user_dir("LUMEN_DATA_DIR", "user_data_dir", env)


def _user_dir(variable: str, platform_dir: str, env: Mapping[str, str] | None) -> Path:
    override = (os.environ if env is None else env).get(variable)
    if override:
        return Path(override)
    import platformdirs

    return Path(getattr(platformdirs, platform_dir)("lumen", appauthor=False))


class ConfigFile:
    """The TOML file: ``default_profile`` and ``[profiles.NAME]`` tables."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read {self.path}: {exc.strerror}") from None
        import tomllib

        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(
                f"{self.path} is not valid TOML: {exc}", hint="Fix or remove the file."
            ) from None
        profiles = data.get("profiles", {})
        if not isinstance(profiles, dict) or not all(
            isinstance(p, dict) for p in profiles.values()
        ):
            raise ConfigError(f"{self.path}: [profiles] must hold tables like [profiles.default]")
        return dict(data)

    def update(self, profile: str, name: str, value: object | None) -> None:
        """Set (or with ``None`` remove) one key of *profile*, atomically, under a lock."""

        def change(data: dict[str, Any]) -> None:
            table = data.setdefault("profiles", {}).setdefault(profile, {})
            if value is None:
                table.pop(name, None)
                if not table:
                    del data["profiles"][profile]
            else:
                table[name] = value

        self._rewrite(change)

    def set_default_profile(self, profile: str) -> None:
        self._rewrite(lambda data: data.update(default_profile=profile))

    def _rewrite(self, change: Callable[[dict[str, Any]], object]) -> None:
        """Read, *change* and write the file back whole, under the config folder's lock."""
        import tomli_w

        try:
            ensure_private_dir(self.path.parent)
            with file_lock(self.path.parent / ".config.lock"):
                data = self.load()
                change(data)
                atomic_write(self.path, tomli_w.dumps(data).encode("utf-8"), mode=0o600)
        except OSError as exc:
            where = exc.filename or self.path
            raise ConfigError(f"cannot write {where}: {exc.strerror or exc}") from None

    def loose_permissions(self) -> bool:
        """True when others can read the file (it may hold a key)."""
        try:
            return bool(self.path.stat().st_mode & 0o077)
        except FileNotFoundError:
            return False


@dataclass(frozen=True)
class Setting:
    """A resolved value and its source: ``flag``, ``env``, ``profile NAME`` or ``default``."""

    value: object
    source: str


class Settings:
    """Resolves every setting once per run from flags, environment and the config file."""

    def __init__(
        self,
        file: ConfigFile,
        *,
        env: Mapping[str, str] | None = None,
        profile_flag: str | None = None,
        flags: Mapping[str, object] | None = None,
        sandbox: Mapping[str, Callable[[], object]] | None = None,
        creates_profile: bool = False,
    ) -> None:
        """*sandbox*, under ``--sandbox``: values that win over every other source (the
        sandbox's URL and key), each computed on first use, so the real key is never read.

        A profile named by ``--profile``, ``LUMEN_PROFILE`` or ``default_profile`` must exist
        (a typo must not silently mean "no settings"), unless *creates_profile*: the
        commands that write a setting create it.
        """
        self.file = file
        self.env = dict(os.environ if env is None else env)
        self.flags = {k: v for k, v in (flags or {}).items() if v is not None}
        self._sandbox = dict(sandbox or {})
        self._resolved: dict[str, object] = {}
        self.data = file.load()
        self.profile = (
            profile_flag
            or self._env("LUMEN_PROFILE")
            or _as_str(self.data.get("default_profile"))
            or DEFAULT_PROFILE
        )
        profiles = self.data.get("profiles", {})
        if self.profile != DEFAULT_PROFILE and self.profile not in profiles and not creates_profile:
            known = ", ".join(sorted(profiles)) or "none yet"
            raise ConfigError(
                f"there is no profile {shorten(repr(self.profile), 60)} in {self.file.path}",
                hint=f"Profiles: {known}. Create one with "
                f"`lumen --profile {shorten(self.profile, 40)} config set KEY VALUE` "
                "(or `auth login`).",
            )

    def _env(self, name: str) -> str | None:
        value = self.env.get(name)
        return value if value else None  # empty counts as unset

    @property
    def profile_table(self) -> dict[str, Any]:
        profiles = self.data.get("profiles", {})
        table = profiles.get(self.profile, {})
        return table if isinstance(table, dict) else {}

    def get(self, name: str, flag: object = None) -> Setting:
        """The value of *name* by precedence: flag > env > profile > default.

        *flag* is the command-line value of a command's own option, ``None`` when not given.
        Every value is checked as the flags are; an error names where the value came from.
        """
        key = lookup_key(name)
        if key.name in self._sandbox:
            if key.name not in self._resolved:
                self._resolved[key.name] = self._sandbox[key.name]()
            return Setting(self._resolved[key.name], SANDBOX_SOURCE)
        if flag is None:
            flag = self.flags.get(key.name)
        if flag is not None:
            return Setting(parse_value(key, flag, key.flag), "flag")
        env_value = self._env(key.env_var)
        if env_value is not None:
            return Setting(parse_value(key, env_value, key.env_var), "env")
        if key.name in self.profile_table:
            raw = self.profile_table[key.name]
            try:
                value = parse_value(key, raw, "the value")
            except BadInput as exc:
                raise ConfigError(
                    f"{key.name} = {shown_value(key, raw)} in [profiles.{self.profile}] "
                    f"of {self.file.path}: {exc.message}",
                    hint=f"Fix it with `lumen config set {key.name} …`, or remove it with "
                    f"`lumen config unset {key.name}`.",
                ) from None
            return Setting(value, f"profile {self.profile}")
        return Setting(key.default, "default")

    def value(self, name: str, flag: object = None) -> Any:
        return self.get(name, flag).value

    def describe(self, name: str) -> str:
        """The value as it may be shown: secrets masked, unset as empty."""
        setting = self.get(name)
        if setting.value is None:
            return ""
        key = lookup_key(name)
        if key.secret:
            return mask(str(setting.value))
        if key.show is not None:
            return key.show(str(setting.value))
        if isinstance(setting.value, bool):
            return "true" if setting.value else "false"
        return str(setting.value)


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
