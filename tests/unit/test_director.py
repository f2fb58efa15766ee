"""Where points start, patch state kept per site across drops, command payloads, markers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bridge.downtrack import KEYFRAME_RETRY_FRAMES, DownTrack
from bridge.errors import BadRequest
from bridge.frames import EncodedFrame, EndpointId, Kind, TrackId, TrackInfo
from bridge.hub import ConnectionState, Hub
from bridge.participant import Participant, SubscribeOffer
from bridge.patch import EndpointRole, PatchState
from core.access import Claims, Role
from core.cases import CaseMarker, check_case_number
from core.ids import SessionId, SiteId
from core.sessions import SessionEnd, SessionInfo, SessionState, SiteInfo
from signaling.admission import Admission
from signaling.commands import Command, Op

HOST = "tw-hanoi"


async def _no_offer(offer: SubscribeOffer) -> None:
    raise AssertionError("nothing is published, so no offer is due")


async def _no_end(end: SessionEnd) -> None:
    raise AssertionError("the session does not end in these tests")


async def _join(hub: Hub, site: str, role: EndpointRole = EndpointRole.ROOM) -> Participant:
    participant = Participant(
        hub, EndpointId(f"{site}-{role}-{len(hub.peers())}"), site, role, _no_offer, _no_end
    )
    await hub.join(participant, site)
    return participant


async def test_points_start_live_until_an_operator_joins_then_on_standby() -> None:
    hub = Hub("s", HOST)
    early = await _join(hub, "bac-ninh")
    patch = hub.point_patch("bac-ninh")
    assert patch is not None and patch.state is PatchState.LIVE
    await _join(hub, HOST, EndpointRole.OPERATOR)
    late = await _join(hub, "ha-giang")
    host = await _join(hub, HOST)
    states = {p.endpoint_id: p.live for p in hub.peers()}
    assert states[early.endpoint_id] and states[host.endpoint_id]
    assert not states[late.endpoint_id]
    assert hub.direction.directed


async def test_patch_state_belongs_to_the_site_across_drops() -> None:
    hub = Hub("s", HOST)
    await _join(hub, HOST, EndpointRole.OPERATOR)
    first = await _join(hub, "bac-ninh")
    await hub.set_point("bac-ninh", state=PatchState.LIVE, muted=True)
    await hub.leave(first.endpoint_id, dropped=True)
    assert hub.point_endpoints("bac-ninh") == []
    peer = next(p for p in hub.peers() if p.site == "bac-ninh")
    assert peer.state is ConnectionState.DISCONNECTED
    # Changed while away: the point comes back with it.
    await hub.set_point("bac-ninh", muted=False)
    again = await _join(hub, "bac-ninh")
    patch = hub.patch(again.endpoint_id)
    assert patch is not None and patch.state is PatchState.LIVE and not patch.muted
    assert [p.site for p in hub.peers()].count("bac-ninh") == 1
    with pytest.raises(KeyError):
        await hub.set_point("ca-mau", state=PatchState.LIVE)


async def test_every_change_moves_the_revision() -> None:
    hub = Hub("s", HOST)
    await _join(hub, "bac-ninh")
    before = hub.direction.revision
    await hub.set_point("bac-ninh", state=PatchState.STANDBY)
    await hub.announce()
    assert hub.direction.revision == before + 2


def test_command_payloads() -> None:
    assert Command.parse({"op": "patch_in", "site": "bac-ninh"}) == Command(Op.PATCH_IN, "bac-ninh")
    mark = Command.parse({"op": "mark_case", "case_number": " KN-1 ", "text": "Đất đai"})
    assert (mark.case_number, mark.text) == ("KN-1", "Đất đai")
    bad: object
    for bad in (
        None,
        [],
        {"op": "launch"},
        {"op": "drop"},
        {"op": "mute", "site": 7},
        {"op": "mark_case", "case_number": ""},
        {"op": "mark_case", "case_number": "x" * 65},
        {"op": "mark_case", "case_number": "KN-1\n"},
        {"op": "mark_case", "case_number": "KN 1"},
        {"op": "mark_case", "case_number": "../KN-1"},
    ):
        with pytest.raises(BadRequest):
            Command.parse(bad)


def test_case_number_rule() -> None:
    decomposed = "D\u0110o\u0302\u0301-7"  # "DĐố-7" typed with combining accents
    assert check_case_number(decomposed) == "DĐố-7"
    for good in ("12/2026", " KN-2026/117 ", "TC_5.a", "x" * 64):
        assert check_case_number(good) == good.strip()
    for bad, words in (
        ("", "required"),
        ("   ", "required"),
        ("x" * 65, "at most 64"),
        ("KN\t1", "U+0009"),
        ("KN-1\n", "U+000A"),
        ("KN\u200b1", "U+200B"),
        ("KN\u202e1", "U+202E"),
        ("KN 1", "not ' '"),
        ("KN#1", "not '#'"),
        ("-KN", "starts with"),
        ("KN/../1", "'..'"),
    ):
        with pytest.raises(ValueError, match=re.escape(words)):
            check_case_number(bad)


def test_case_markers_are_checked() -> None:
    at = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    marker = CaseMarker("KN-1", "Đất đai", at, "op")
    assert marker.as_dict(with_text=False) == {"case_number": "KN-1", "at": at.isoformat()}
    assert marker.as_dict()["text"] == "Đất đai"
    with pytest.raises(ValueError):
        CaseMarker(" ", "", at)
    with pytest.raises(ValueError):
        CaseMarker("KN-1", "", datetime(2026, 11, 27, 3, 0))


def _admission(role: Role, site: str = HOST) -> Admission:
    now = datetime.now(UTC)
    session = SessionInfo(
        id=SessionId("s"),
        title="Tiếp công dân",
        host_site=SiteId(HOST),
        sites=frozenset(SiteId(s) for s in (HOST, "bac-ninh")),
        state=SessionState.OPEN,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
    )
    claims = Claims(
        role, SiteId(site), SessionId("s"), now - timedelta(hours=1), now + timedelta(hours=1), "op"
    )
    return Admission(claims, session, SiteInfo(SiteId(site), site))


async def _never_drop(endpoint_id: EndpointId) -> None:
    raise AssertionError("nothing to drop")


async def test_a_patched_in_downtrack_asks_again_until_a_keyframe_comes() -> None:
    info = TrackInfo(TrackId("t"), "s", EndpointId("e"), "bac-ninh", Kind.VIDEO, "VP8", 90000)
    requests: list[int] = []
    track = DownTrack(info, EndpointId("sub"), lambda: requests.append(1), forwarding=False)
    track._started = True
    track.set_forwarding(True)
    assert len(requests) == 1
    for i in range(KEYFRAME_RETRY_FRAMES * 2):
        track.push(EncodedFrame(b"\x11", i, False, 0.0))
    assert len(requests) == 3 and track.waiting_for_keyframe
    track.push(EncodedFrame(b"\x10", 99, True, 0.0))
    for i in range(KEYFRAME_RETRY_FRAMES * 2):
        track.push(EncodedFrame(b"\x11", 100 + i, False, 0.0))
    assert len(requests) == 3 and not track.waiting_for_keyframe


async def test_the_board_taken_over_by_another_hub_goes_on_as_it_was() -> None:
    # Issue 10: a node that takes a session over after its node died opens the hub with
    # the board the old node kept in Redis (as JSON).
    import json

    old = Hub("s", HOST)
    await _join(old, HOST, EndpointRole.OPERATOR)
    await _join(old, HOST)
    await _join(old, "bac-ninh")
    away = await _join(old, "ca-mau")
    await old.set_point("bac-ninh", state=PatchState.LIVE, muted=True)
    await old.set_point("ca-mau", state=PatchState.STANDBY)
    await old.leave(away.endpoint_id, dropped=True)
    marker = CaseMarker("12/2026/TCD", "Khiếu nại", datetime(2026, 12, 3, 9, tzinfo=UTC), by="op")
    await old.add_marker(marker)
    board = json.loads(json.dumps(old.board()))

    new = Hub("s", HOST)
    new.restore_board(board)
    assert new.direction.directed
    assert new.direction.current_case == marker
    # Points come back in their state when they join the new hub; a new one on standby.
    province = await _join(new, "bac-ninh")
    patch = new.patch(province.endpoint_id)
    assert patch is not None and patch.state is PatchState.LIVE and patch.muted
    away_patch = new.point_patch("ca-mau")
    assert away_patch is not None and away_patch.state is PatchState.STANDBY
    late = await _join(new, "ha-giang")
    late_patch = new.patch(late.endpoint_id)
    assert late_patch is not None and late_patch.state is PatchState.STANDBY
    # Only on a fresh hub, and a malformed board changes nothing.
    with pytest.raises(ValueError, match="fresh hub"):
        new.restore_board(board)
    fresh = Hub("t", HOST)
    bads: list[dict[str, object]] = [
        {"points": []},
        {"points": {"bac-ninh": {"state": "off"}}},
        {"markers": [{"case_number": "", "at": "2026-12-03T09:00:00+00:00"}]},
        {"markers": [{"case_number": "1", "at": "yesterday"}]},
    ]
    for bad in bads:
        with pytest.raises(ValueError):
            fresh.restore_board(bad)
        assert fresh.board() == {"directed": False, "points": {}, "markers": []}
