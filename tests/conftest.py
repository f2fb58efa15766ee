"""Shared fixtures: real services (Redis, PostgreSQL, Chromium) and a running server.

Under ``CI=true`` a test whose service is missing fails; elsewhere it is skipped with
the reason, so a laptop without PostgreSQL can still run the unit tests.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def missing_service(what: str) -> None:
    """Fail under CI, skip elsewhere: a missing service never passes silently in CI."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not available")
    pytest.skip(f"{what} not available")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 2
        ):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A SQLAlchemy URL of a real PostgreSQL (``DATABASE_URL``)."""
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not _reachable(url, 5432):
        missing_service(f"PostgreSQL at {url}")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a real Redis (``REDIS_URL``)."""
    url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    if not _reachable(url, 6379):
        missing_service(f"Redis at {url}")
    return url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium, for the end-to-end tests."""
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        missing_service(f"Chromium at {CHROMIUM}")
    return CHROMIUM


@pytest.fixture(scope="session")
def ffprobe_path() -> str:
    path = shutil.which("ffprobe")
    if path is None:
        missing_service("ffprobe (Debian's ffmpeg)")
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield str(tmp_path_factory.mktemp("data"))
