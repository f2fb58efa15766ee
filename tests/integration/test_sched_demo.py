"""``serve --demo`` prepares an open session and links whose tokens work."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

from config.settings import Settings
from core.access import Role
from core.sessions import SessionState
from signaling.tokens import verify_token
from web.demo import prepare_demo
from web.schedule.setup import make_store


def test_demo_is_ready_and_repeatable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret="demo-test-secret-0123456789abcdef", port=8123)
    store = make_store(settings.effective_database_url)
    try:
        first = prepare_demo(settings, store)
        assert first.session.state is SessionState.OPEN
        assert store.site_count() == 44
        links = dict(first.links)
        assert links["public schedule"] == "http://127.0.0.1:8123/schedule"
        roles: dict[tuple[str, str], Role] = {}
        for _label, url in first.links:
            query = parse_qs(urlparse(url).query)
            if "token" in query:
                claims = verify_token(settings.secret, query["token"][0])
                roles[urlparse(url).path, claims.site] = claims.role
                if claims.role is Role.ROOM:
                    assert claims.session == first.session.id
                    assert claims.site in first.session.site_ids
        assert roles[("/console", "tw-hanoi")] is Role.OPERATOR
        assert roles[("/archive", "tw-hanoi")] is Role.CLERK
        assert sum(1 for (path, _), _r in roles.items() if path == "/room") == 2
        again = prepare_demo(settings, store)
        assert again.session.id == first.session.id
    finally:
        store.engine.dispose()
