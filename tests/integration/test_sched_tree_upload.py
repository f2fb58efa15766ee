"""``POST /api/sites/tree``: a TOML site tree sent by an administrator, parsed by the code
``reception-bridge load-sites`` uses and applied all or nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.access import Role
from sessions.errors import ScheduleError
from sessions.sitetree import DEFAULT_TREE, TreeSyntaxError, parse_tree_text, read_tree_file
from tests.integration.sched_support import sched_url
from tests.integration.test_sched_api import ADMIN, BAC_NINH, Api, api, token

__all__ = ["api", "sched_url"]

TOML = {"Content-Type": "application/toml"}
PLAIN = {"Content-Type": "text/plain; charset=utf-8"}
PROVINCIAL_ADMIN = token(Role.ADMINISTRATOR, "bac-ninh")

NEW_COMMUNE = """
[[site]]
id = "xa-thu-nghiem"
name = "Xã Thử Nghiệm"
name_en = "Thu Nghiem Commune"
level = "commune"
parent = "bac-ninh"
valid_from = 2026-01-01
rooms = ["Phòng tiếp công dân"]

[[site]]
id = "phuong-thu-nghiem"
name = "Phường Thử Nghiệm"
level = "commune"
parent = "bac-ninh"
"""


async def upload(
    api: Api, text: str | bytes, headers: dict[str, str] = ADMIN, kind: dict[str, str] = TOML
) -> tuple[int, Any]:
    return await api.call(
        "POST",
        "/api/sites/tree",
        {**headers, **kind},
        data=text.encode() if isinstance(text, str) else text,
    )


async def test_a_toml_tree_creates_sites(api: Api) -> None:
    before = api.counts()
    status, body = await upload(api, NEW_COMMUNE)
    assert status == 200, body
    assert body == {"loaded": 2, "sites": ["xa-thu-nghiem", "phuong-thu-nghiem"]}
    assert api.counts()[2] == before[2] + 2
    status, site = await api.call("GET", "/api/sites/xa-thu-nghiem")
    assert status == 200
    assert site["parent"] == "bac-ninh" and site["valid_from"] == "2026-01-01"
    assert [r["name"] for r in site["rooms"]] == ["Phòng tiếp công dân"]
    # Loading again replaces, rooms are added and never removed (as load-sites does).
    status, body = await upload(
        api, NEW_COMMUNE.replace("Phòng tiếp công dân", "Phòng 2"), kind=PLAIN
    )
    assert status == 200, body
    status, site = await api.call("GET", "/api/sites/xa-thu-nghiem")
    assert sorted(r["name"] for r in site["rooms"]) == ["Phòng 2", "Phòng tiếp công dân"]
    assert api.counts()[2] == before[2] + 2


async def test_the_default_tree_loads_over_the_api(api: Api) -> None:
    status, body = await upload(api, DEFAULT_TREE.read_bytes())
    assert status == 200, body
    assert body["loaded"] == len(read_tree_file(DEFAULT_TREE))
    assert body["sites"][0] == "tw-hanoi"


async def test_malformed_toml_is_400_with_its_line(api: Api) -> None:
    before = api.counts()
    broken = NEW_COMMUNE.replace('level = "commune"\nparent = "bac-ninh"\n', "level = commune\n", 1)
    status, body = await upload(api, broken)
    assert status == 400, body
    error = body["error"]
    assert error["code"] == "bad_toml"
    assert (error["line"], error["column"]) == (6, 9)
    assert "line 6" in error["message"]
    status, body = await upload(api, b'[[site]]\nid = "x\xff"\n')
    assert (status, body["error"]["code"]) == (400, "bad_toml")
    assert api.counts() == before


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ("", "empty_tree"),
        ('[[site]]\nid = "xa-a"\nname = "Xã A"\nlevel = "hamlet"\n', "bad_level"),
        (
            '[[site]]\nid = "xa-a"\nname = "A"\nlevel = "commune"\nparent = "khong-co"\n',
            "unknown_site",
        ),
        (
            '[[site]]\nid = "tinh-a"\nname = "A"\nlevel = "province"\nparent = "bac-ninh"\n',
            "bad_parent",
        ),
        (
            '[[site]]\nid = "tw-a"\nname = "A"\nlevel = "central"\nparent = "tw-b"\n'
            '[[site]]\nid = "tw-b"\nname = "B"\nlevel = "central"\nparent = "tw-a"\n',
            "site_cycle",
        ),
    ],
)
async def test_an_inconsistent_tree_is_422_and_writes_nothing(
    api: Api, document: str, code: str
) -> None:
    before = api.counts()
    # A good site first: all or nothing means it is not kept either.
    status, body = await upload(api, NEW_COMMUNE + "\n" + document if document else document)
    assert (status, body["error"]["code"]) == (422, code), body
    assert api.counts() == before


async def test_only_administrators_and_a_provincial_one_within_its_province(api: Api) -> None:
    status, body = await upload(api, NEW_COMMUNE, BAC_NINH)
    assert (status, body["error"]["code"]) == (403, "forbidden_role")
    status, body = await upload(api, NEW_COMMUNE, {})
    assert status == 401
    before = api.counts()
    outside = NEW_COMMUNE.replace('parent = "bac-ninh"', 'parent = "ha-noi"', 1)
    status, body = await upload(api, outside, PROVINCIAL_ADMIN)
    assert (status, body["error"]["code"]) == (403, "outside_scope"), body
    assert api.counts() == before
    status, body = await upload(api, NEW_COMMUNE, PROVINCIAL_ADMIN)
    assert status == 200, body


async def test_a_province_cannot_widen_its_own_scope(api: Api) -> None:
    """Below its scope a province adds what it likes; it makes no province nor central
    office, turns itself into neither, and merges nothing into another province."""
    before = api.counts()
    promoted = NEW_COMMUNE.replace('level = "commune"', 'level = "province"', 1)
    status, body = await upload(api, promoted, PROVINCIAL_ADMIN)
    assert (status, body["error"]["code"]) == (403, "top_tier_outside_scope"), body
    central = '[[site]]\nid = "bac-ninh"\nname = "Tỉnh Bắc Ninh"\nlevel = "central"\n'
    status, body = await upload(api, central, PROVINCIAL_ADMIN)
    assert (status, body["error"]["code"]) == (403, "top_tier_outside_scope"), body
    merged = NEW_COMMUNE + 'merged_into = "ha-noi"\n'
    status, body = await upload(api, merged, PROVINCIAL_ADMIN)
    assert (status, body["error"]["code"]) == (403, "outside_scope"), body
    # The same over PUT /api/sites/{id} as the province's scheduler.
    status, body = await api.call(
        "PUT",
        "/api/sites/bac-ninh",
        BAC_NINH,
        json={"name": "Tỉnh Bắc Ninh", "level": "central"},
    )
    assert (status, body["error"]["code"]) == (403, "top_tier_outside_scope"), body
    # A provincial administrator is limited on the single-site routes as on the tree's.
    status, body = await api.call(
        "PUT", "/api/sites/ha-noi", PROVINCIAL_ADMIN, json={"name": "Hà Nội", "level": "province"}
    )
    assert (status, body["error"]["code"]) == (403, "outside_scope"), body
    status, body = await api.call(
        "POST", "/api/sites/ha-noi/rooms", PROVINCIAL_ADMIN, json={"name": "Phòng 2"}
    )
    assert (status, body["error"]["code"]) == (403, "outside_scope"), body
    assert api.counts() == before
    commune = {"id": "xa-moi-bn", "name": "Xã Mới", "level": "commune", "parent": "bac-ninh"}
    status, body = await api.call("POST", "/api/sites", PROVINCIAL_ADMIN, json=commune)
    assert status == 201, body
    # The province edits its own name and adds communes; the centre may do the rest.
    renamed = '[[site]]\nid = "bac-ninh"\nname = "Tỉnh Bắc Ninh (mới)"\nlevel = "province"\n'
    status, body = await upload(api, renamed + NEW_COMMUNE, PROVINCIAL_ADMIN)
    assert status == 200, body
    status, body = await api.call(
        "POST", "/api/sites/xa-moi-bn/rooms", PROVINCIAL_ADMIN, json={"name": "Phòng tiếp"}
    )
    assert status == 201, body
    status, body = await upload(api, promoted.replace("xa-thu-nghiem", "tinh-moi"), ADMIN)
    assert status in (200, 422), body  # the centre is not refused for scope
    assert body.get("error", {}).get("code") != "top_tier_outside_scope"


async def test_content_type_and_size(api: Api) -> None:
    status, body = await api.call("POST", "/api/sites/tree", ADMIN, json={"site": []})
    assert (status, body["error"]["code"]) == (415, "unsupported_media_type")
    huge = "# " + "x" * 300_000 + "\n" + NEW_COMMUNE
    status, body = await upload(api, huge)
    assert (status, body["error"]["code"]) == (413, "body_too_large")


def test_load_sites_and_the_route_share_the_parser(tmp_path: Path) -> None:
    text = DEFAULT_TREE.read_text(encoding="utf-8")
    assert parse_tree_text(text) == read_tree_file(DEFAULT_TREE)
    broken = tmp_path / "sites.toml"
    broken.write_text('[[site]]\nid = "a"\nname = \n', encoding="utf-8")
    with pytest.raises(TreeSyntaxError) as caught:
        read_tree_file(broken)
    assert (caught.value.code, caught.value.line) == ("bad_toml", 3)
    assert str(broken) in caught.value.message
    with pytest.raises(ScheduleError) as missing:
        read_tree_file(tmp_path / "none.toml")
    assert missing.value.code == "no_file"
