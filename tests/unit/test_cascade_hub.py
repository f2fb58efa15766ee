"""A hub with a cascade link: endpoints of another node as remote members, the link as one
subscriber per track, forwarding on the link following the patch of the endpoints behind
it (bridge/hub.py, bridge/cascade.py)."""

from __future__ import annotations

import pytest
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from bridge.cascade import LinkOffer, LinkTrack, SentLine
from bridge.errors import BadRequest
from bridge.frames import EndpointId, Kind
from bridge.hub import ConnectionState, Hub, RemoteEndpoint
from bridge.patch import EndpointRole, PatchState
from bridge.uptrack import UpTrack

HOST = "tw-hanoi"
LINK = EndpointId("cascade-node-b")
VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)


async def _never() -> bool:
    return False


async def _remote(hub: Hub, endpoint: str, site: str, **kw: object) -> None:
    await hub.set_remote(
        LINK,
        EndpointId(endpoint),
        site=site,
        site_name=site,
        role=EndpointRole.ROOM,
        state=ConnectionState.CONNECTED,
        **kw,  # type: ignore[arg-type]
    )


def _publish(hub: Hub, endpoint: str, site: str, kind: Kind = Kind.VIDEO) -> UpTrack:
    codec = VP8 if kind is Kind.VIDEO else OPUS
    return hub.add_uptrack(RemoteEndpoint(EndpointId(endpoint), site), kind, codec, _never)


async def test_the_host_forwards_on_the_link_while_someone_behind_it_receives() -> None:
    hub = Hub("s", HOST)
    hub.add_link(LINK, forward_all=False)
    hub.add_link(EndpointId("cascade-node-c"), forward_all=False)
    await hub.set_remote(
        EndpointId("cascade-node-c"),
        EndpointId("c1"),
        site="ha-giang",
        site_name="Hà Giang",
        role=EndpointRole.ROOM,
        state=ConnectionState.CONNECTED,
    )
    await _remote(hub, "b1", "bac-ninh")
    # A point of node C, patched out: nobody on B may receive it.
    province_c = _publish(hub, "c1", "ha-giang")
    own = _publish(hub, "b1", "bac-ninh")
    # The link carries what does not come from it, once.
    assert hub.link_uptracks(LINK) == [province_c]
    downtrack = hub.subscribe(LINK, province_c)
    assert downtrack.forwarding
    await hub.set_point("ha-giang", state=PatchState.STANDBY)
    assert not downtrack.forwarding
    await hub.set_point("ha-giang", state=PatchState.LIVE, muted=True)
    assert downtrack.forwarding
    audio = _publish(hub, "c1", "ha-giang", Kind.AUDIO)
    assert not hub.forwards(audio, LINK)  # muted audio reaches no one
    # A track never goes back over the link it came from.
    assert not hub.forwards(own, LINK)


async def test_a_satellite_forwards_all_its_points_and_mirrors_the_hosts_patch() -> None:
    hub = Hub("s", HOST)
    hub.add_link(LINK, forward_all=True)
    await _remote(hub, "h1", HOST, patch_state=PatchState.LIVE)
    await _remote(hub, "b1", "bac-ninh", patch_state=PatchState.STANDBY)
    peers = {p.endpoint_id: p for p in hub.peers()}
    assert not peers[EndpointId("b1")].live and peers[EndpointId("h1")].live
    assert hub.local_peers() == []
    assert hub.is_remote(EndpointId("b1"))
    await hub.remove_link(LINK)
    assert hub.peers() == [] and hub.uptracks == {}


async def test_a_remote_member_is_only_changed_through_its_link() -> None:
    hub = Hub("s", HOST)
    hub.add_link(LINK, forward_all=False)
    with pytest.raises(KeyError):
        await hub.set_remote(
            EndpointId("other"),
            EndpointId("x"),
            site="bac-ninh",
            site_name="",
            role=EndpointRole.ROOM,
            state=ConnectionState.CONNECTED,
        )
    await _remote(hub, "b1", "bac-ninh")
    track = _publish(hub, "b1", "bac-ninh")
    # The console's drop reaches it (through its link).
    assert hub.point_endpoints("bac-ninh") == [EndpointId("b1")]
    await hub.set_remote(
        LINK,
        EndpointId("b1"),
        site="bac-ninh",
        site_name="bac-ninh",
        role=EndpointRole.ROOM,
        state=ConnectionState.DISCONNECTED,
    )
    assert hub.point_endpoints("bac-ninh") == []
    await hub.remove_remote(EndpointId("b1"))
    assert track.ended and hub.uptracks == {}


def test_link_messages_round_trip_and_refuse_bad_input() -> None:
    offer = LinkOffer("v=0", [SentLine("0", EndpointId("b1"), Kind.VIDEO)], {"1": "t"}, ["2"])
    assert LinkOffer.parse(offer.as_dict()) == offer
    track = LinkTrack("t", EndpointId("b1"), "bac-ninh", Kind.VIDEO, VP8)
    again = LinkTrack.parse(track.as_dict())
    assert (again.track_id, again.codec.mimeType, again.codec.clockRate) == (
        "t",
        "video/VP8",
        90000,
    )
    bad_offers: list[object] = [None, [], {"sdp": 1}, {"sdp": "x", "send": [{"mid": "0"}]}]
    for bad in bad_offers:
        with pytest.raises(BadRequest):
            LinkOffer.parse(bad)
    for bad_track in ({}, {"track_id": "t", "endpoint_id": "e", "site": "s", "kind": "x"}):
        with pytest.raises(BadRequest):
            LinkTrack.parse(bad_track)
