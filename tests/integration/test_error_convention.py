"""One error convention on every route of ``web/`` (the rule is in ``web/http/errors.py``):
400 for malformed input, 422 for well-formed but inconsistent input, on the archive's
routes exactly as on the scheduler's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from config.settings import Settings
from core.access import Role
from core.db import make_engine
from sessions.store import Store
from signaling.tokens import issue_token
from tests.integration.sched_support import sched_url
from web.app import create_app

__all__ = ["sched_url"]

SECRET = "error-convention-test-secret-0123456789abcdef"


def auth(role: Role, site: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, role=role, site=site)}"}


CLERK = auth(Role.CLERK, "tw-hanoi")
SCHEDULER = auth(Role.SCHEDULER, "tw-hanoi")

ARCHIVE_SEARCH = ("/api/archive/recordings", CLERK)
SESSIONS: tuple[str, dict[str, str]] = ("/api/sessions", {})

CASE = {"number": "KN-1/2027", "kind": "complaint", "sites": ["tw-hanoi"]}
SESSION = {
    "title": "Tiếp công dân đột xuất",
    "host_site": "tw-hanoi",
    "starts_at": "2027-03-01T08:00:00+07:00",
    "ends_at": "2027-03-01T11:00:00+07:00",
}


@pytest.fixture
async def client(sched_url: str, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    engine = make_engine(sched_url)
    Store(engine).load_tree()
    settings = Settings(data_dir=tmp_path, database_url=sched_url, secret=SECRET)
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client
    engine.dispose()


async def refusal(
    client: TestClient[Any, Any], method: str, path: str, headers: dict[str, str], **kw: Any
) -> tuple[int, str]:
    response = await client.request(method, path, headers=headers, **kw)
    body = await response.json()
    assert body["error"]["message"]
    return response.status, str(body["error"]["code"])


@pytest.mark.parametrize(
    ("path", "headers"), [ARCHIVE_SEARCH, SESSIONS], ids=["archive", "schedule"]
)
async def test_a_malformed_date_is_400_and_a_range_ending_before_it_starts_422(
    client: TestClient[Any, Any], path: str, headers: dict[str, str]
) -> None:
    assert await refusal(client, "GET", f"{path}?from=27/11/2027", headers) == (400, "bad_date")
    assert await refusal(client, "GET", f"{path}?from=2027-02-30", headers) == (400, "bad_date")
    assert await refusal(client, "GET", f"{path}?from=2027-03-02&to=2027-03-01", headers) == (
        422,
        "end_before_start",
    )


@pytest.mark.parametrize(
    ("path", "param", "headers"),
    [("/api/archive/recordings", "kind", CLERK), ("/api/sessions", "state", {})],
    ids=["archive", "schedule"],
)
async def test_an_unknown_enum_value_is_400(
    client: TestClient[Any, Any], path: str, param: str, headers: dict[str, str]
) -> None:
    assert await refusal(client, "GET", f"{path}?{param}=nonsense", headers) == (
        400,
        f"bad_{param}",
    )


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [("/api/archive/cases", CASE, CLERK), ("/api/sessions", SESSION, SCHEDULER)],
    ids=["archive", "schedule"],
)
async def test_bodies_malformed_or_inconsistent(
    client: TestClient[Any, Any], path: str, body: dict[str, Any], headers: dict[str, str]
) -> None:
    # The same json_body on both: not JSON, or not an object.
    assert await refusal(client, "POST", path, headers, data=b"{not json") == (400, "bad_json")
    assert await refusal(client, "POST", path, headers, json=[body]) == (400, "bad_json")
    # A field of the wrong JSON type.
    wrong = {**body, "people_count": "two"} if "number" in body else {**body, "record": "yes"}
    assert await refusal(client, "POST", path, headers, json=wrong) == (400, "bad_field")


async def test_well_formed_but_inconsistent_bodies_are_422(client: TestClient[Any, Any]) -> None:
    # A refusal without its reason: every value parses, together they do not hold.
    refused_case = {**CASE, "outcome": "refused"}
    assert await refusal(client, "POST", "/api/archive/cases", CLERK, json=refused_case) == (
        422,
        "bad_case",
    )
    backwards = {**SESSION, "ends_at": "2027-03-01T07:00:00+07:00"}
    assert await refusal(client, "POST", "/api/sessions", SCHEDULER, json=backwards) == (
        422,
        "end_before_start",
    )


@pytest.mark.parametrize(
    "path",
    [
        "/api/no-such-route",
        "/api/archive/cases/%1E%F0%96%97%99%C2%BE5%09%C3%89%F1%84%94%B7%C3%96%0A",
        "/api/archive/recordings/a/files/b/c",
    ],
)
async def test_an_api_path_no_route_takes_is_a_json_404(
    client: TestClient[Any, Any], path: str
) -> None:
    # schemathesis found the second: a newline in a case number matches no route, and
    # aiohttp's own 404 is plain text where the document promises the JSON error body.
    response = await client.get(path, headers=CLERK)
    assert response.status == 404
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["error"]["code"] == "not_found"


async def test_a_page_path_no_route_takes_keeps_aiohttp_s_404(
    client: TestClient[Any, Any],
) -> None:
    response = await client.get("/no-such-page")
    assert response.status == 404
    assert response.content_type == "text/plain"
