"""Typed settings read from environment variables and an optional TOML file.

Precedence: environment variable, then the TOML file named by ``RB_CONFIG``, then the
default. Every setting has one environment variable; the TOML keys carry the same
names in lower case without the ``RB_`` prefix (``port``, ``database_url``...).
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_FORWARDING = "packet"
"""The relay's forwarding mode unless ``RB_FORWARDING`` says otherwise."""


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class IceServer:
    """A STUN or TURN server handed to clients (and to the server's own peers)."""

    urls: tuple[str, ...]
    """``stun:host:port`` or ``turn:host:port?transport=udp`` addresses."""
    username: str | None = None
    """TURN user name, if the server needs one."""
    credential: str | None = None
    """TURN password, if the server needs one."""

    def __post_init__(self) -> None:
        if not self.urls:
            raise SettingsError("ice server needs at least one url")
        for url in self.urls:
            if not url.startswith(("stun:", "turn:", "turns:")):
                raise SettingsError(
                    f"ice server url must start with stun:, turn: or turns: ({url})"
                )

    def as_client_dict(self) -> dict[str, Any]:
        """The form RTCPeerConnection's configuration takes in a browser."""
        out: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            out["username"] = self.username
        if self.credential is not None:
            out["credential"] = self.credential
        return out


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server reads at start-up."""

    host: str = "127.0.0.1"
    """Listen address (``RB_HOST``)."""
    port: int = 8080
    """Listen port (``RB_PORT``)."""
    data_dir: Path = Path("data")
    """Folder for the SQLite database, recordings and the signing key (``RB_DATA_DIR``)."""
    database_url: str = ""
    """SQLAlchemy URL (``DATABASE_URL``); empty means SQLite under ``data_dir``."""
    redis_url: str | None = None
    """Redis URL for the Socket.IO manager when several processes serve (``REDIS_URL``)."""
    secret: str = ""
    """Token signing secret (``RB_SECRET``); empty means a key kept in ``data_dir``."""
    ice_servers: tuple[IceServer, ...] = field(default_factory=tuple)
    """STUN/TURN servers handed to clients (``RB_ICE_SERVERS``, a JSON list)."""
    public_url: str = ""
    """Address printed in links (``RB_PUBLIC_URL``); empty means http://host:port."""
    record_on_open: bool = True
    """Start recording when a session opens (``RB_RECORD_ON_OPEN``); the law keeps every
    online session, so turning this off is for test rooms only."""
    max_message_bytes: int = 256 * 1024
    """Largest Socket.IO message accepted (``RB_MAX_MESSAGE_BYTES``)."""
    close_grace_minutes: int = 10
    """A session still open this long after its scheduled end is closed by the server
    (``RB_CLOSE_GRACE_MINUTES``); a reception that runs late is not cut off at once."""
    forwarding: str = DEFAULT_FORWARDING
    """How the relay forwards media (``RB_FORWARDING``): ``packet`` (RTP packets with
    rewritten headers and a retransmission cache, see bridge/packets.py) or ``frame``
    (whole frames, each subscriber's sender packetises again)."""
    recorder_queue_mb: int = 4
    """Frames one recording may hold in the server's memory while its worker catches up,
    in MiB (``RB_RECORDER_QUEUE_MB``, 1-1024); past it video is dropped to the next
    keyframe and the gap written into the manifest."""
    metrics_token: str = ""
    """Bearer token a Prometheus scraper sends to read ``/metrics``
    (``RB_METRICS_TOKEN``); empty means administrators only."""
    webhook_urls: tuple[str, ...] = ()
    """Addresses that receive signed event POSTs (``RB_WEBHOOK_URLS``: a JSON list, or
    addresses separated by commas or spaces); empty sends none."""
    webhook_secret: str = ""
    """Key of the webhooks' HMAC-SHA256 signature (``RB_WEBHOOK_SECRET``); required, at
    least 16 characters, when ``webhook_urls`` is set."""

    node_id: str = ""
    """This process's node id in the registry (``RB_NODE_ID``); empty means the host name
    and a random part."""
    node_url: str = ""
    """Where clients reach this node directly (``RB_NODE_URL``); empty means ``base_url``.
    A redirect sends clients there, so every node needs its own."""
    cluster_prefix: str = "rb"
    """Prefix of the registry's Redis keys (``RB_CLUSTER_PREFIX``)."""
    drain_seconds: int = 3600
    """After SIGTERM a node takes no new session and waits this long for its sessions to
    end before telling their endpoints to move (``RB_DRAIN_SECONDS``)."""
    workers: int = 0
    """Node processes ``serve`` runs (``RB_WORKERS``; ``--workers`` wins); 0 means the
    number of cores with ``redis_url``, else 1."""
    home_nodes: dict[str, str] = field(default_factory=dict)
    """Site id -> node id: a session hosted by the site is placed on that node when it
    serves (``RB_HOME_NODES``, a JSON object)."""

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise SettingsError(f"port must be 1-65535, got {self.port}")
        if self.max_message_bytes < 1024:
            raise SettingsError("max_message_bytes must be at least 1024")
        if not 0 <= self.close_grace_minutes <= 24 * 60:
            raise SettingsError("close_grace_minutes must be 0-1440")
        if self.workers < 0:
            raise SettingsError("workers must be 0 (automatic) or more")
        if self.drain_seconds < 0:
            raise SettingsError("drain_seconds must be 0 or more")
        if not self.cluster_prefix or any(c in self.cluster_prefix for c in " {}"):
            raise SettingsError(f"cluster_prefix must be a word, got {self.cluster_prefix!r}")
        if self.forwarding not in ("frame", "packet"):
            raise SettingsError(f"forwarding must be frame or packet, got {self.forwarding!r}")
        if not 1 <= self.recorder_queue_mb <= 1024:
            raise SettingsError("recorder_queue_mb must be 1-1024")
        for url in self.webhook_urls:
            if not url.startswith(("http://", "https://")):
                raise SettingsError(f"webhook url must start with http:// or https:// ({url})")
        if self.webhook_urls and len(self.webhook_secret) < 16:
            raise SettingsError("webhook_secret of at least 16 characters is needed with webhooks")

    @property
    def advertised_url(self) -> str:
        """Where clients reach this node itself (redirects point there)."""
        return self.node_url.rstrip("/") or self.base_url

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'reception-bridge.sqlite3').resolve()}"

    @property
    def base_url(self) -> str:
        """Where a browser reaches this server."""
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    def existing_secret(self) -> str | None:
        """The secret the server would sign with, without creating one: the configured
        secret, else the one kept in the data folder, else None."""
        if self.secret:
            return self.secret
        path = self.data_dir / "secret.key"
        return path.read_text().strip() if path.exists() else None

    def signing_secret(self) -> str:
        """The configured secret, or one created once and kept in the data folder."""
        if self.secret:
            return self.secret
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        return value


_ENV = {
    "host": "RB_HOST",
    "port": "RB_PORT",
    "data_dir": "RB_DATA_DIR",
    "database_url": "DATABASE_URL",
    "redis_url": "REDIS_URL",
    "secret": "RB_SECRET",
    "ice_servers": "RB_ICE_SERVERS",
    "public_url": "RB_PUBLIC_URL",
    "record_on_open": "RB_RECORD_ON_OPEN",
    "max_message_bytes": "RB_MAX_MESSAGE_BYTES",
    "close_grace_minutes": "RB_CLOSE_GRACE_MINUTES",
    "node_id": "RB_NODE_ID",
    "node_url": "RB_NODE_URL",
    "cluster_prefix": "RB_CLUSTER_PREFIX",
    "drain_seconds": "RB_DRAIN_SECONDS",
    "home_nodes": "RB_HOME_NODES",
    "workers": "RB_WORKERS",
    "forwarding": "RB_FORWARDING",
    "recorder_queue_mb": "RB_RECORDER_QUEUE_MB",
    "metrics_token": "RB_METRICS_TOKEN",
    "webhook_urls": "RB_WEBHOOK_URLS",
    "webhook_secret": "RB_WEBHOOK_SECRET",
}


def _parse_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {value!r}")


def _parse_int(name: str, value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {value!r}") from None


def _parse_ice(value: object) -> tuple[IceServer, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError as exc:
            raise SettingsError(f"RB_ICE_SERVERS is not JSON: {exc}") from None
    if not isinstance(value, list):
        raise SettingsError("ice_servers must be a list")
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(IceServer(urls=(item,)))
        elif isinstance(item, dict):
            urls = item.get("urls")
            urls_t = (urls,) if isinstance(urls, str) else tuple(urls or ())
            out.append(IceServer(urls_t, item.get("username"), item.get("credential")))
        else:
            raise SettingsError(f"ice server entry not understood: {item!r}")
    return tuple(out)


def _parse_home_nodes(value: object) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise SettingsError(f"RB_HOME_NODES is not JSON: {exc}") from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
    ):
        raise SettingsError("home_nodes must map site ids to node ids")
    return dict(value)


def _parse_urls(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise SettingsError(f"RB_WEBHOOK_URLS is not JSON: {exc}") from None
        else:
            return tuple(u for u in text.replace(",", " ").split() if u)
    if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
        raise SettingsError("webhook_urls must be a list of addresses")
    return tuple(value)


def load_settings(
    environ: Mapping[str, str] | None = None, toml_path: Path | None = None
) -> Settings:
    """Read settings from ``environ`` (default ``os.environ``) and a TOML file.

    The TOML file is ``toml_path`` or, when not given, ``RB_CONFIG`` if set.
    """
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    path = toml_path or (Path(env["RB_CONFIG"]) if env.get("RB_CONFIG") else None)
    if path is not None:
        try:
            with path.open("rb") as fh:
                raw.update(tomllib.load(fh))
        except FileNotFoundError:
            raise SettingsError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
        unknown = set(raw) - set(_ENV)
        if unknown:
            raise SettingsError(f"unknown keys in {path}: {', '.join(sorted(unknown))}")
    for key, var in _ENV.items():
        if env.get(var) not in (None, ""):
            raw[key] = env[var]
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key in {
            "port",
            "max_message_bytes",
            "close_grace_minutes",
            "recorder_queue_mb",
            "drain_seconds",
            "workers",
        }:
            kwargs[key] = _parse_int(key, value)
        elif key == "record_on_open":
            kwargs[key] = _parse_bool(key, value)
        elif key == "ice_servers":
            kwargs[key] = _parse_ice(value)
        elif key == "home_nodes":
            kwargs[key] = _parse_home_nodes(value)
        elif key == "webhook_urls":
            kwargs[key] = _parse_urls(value)
        elif key == "data_dir":
            kwargs[key] = Path(str(value))
        else:
            kwargs[key] = str(value)
    return Settings(**kwargs)
