"""The iCalendar (RFC 5545) feed of a site's sessions: times in UTC, text in Vietnamese."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from icalendar import Calendar, Event

from core.sessions import SessionState
from sessions.views import SessionView, SiteView

PRODID = "-//reception-bridge//lich tiep cong dan//VI"
UID_DOMAIN = "reception-bridge"

KIND_VI = {
    "regular": "Tiếp công dân thường xuyên",
    "periodic": "Tiếp công dân định kỳ",
    "ad_hoc": "Tiếp công dân đột xuất",
    "special": "Tiếp công dân (thời kỳ đặc biệt)",
}
HOST_VI = {"head": "Người đứng đầu tiếp", "staff": "Cán bộ Ban Tiếp công dân tiếp"}


def _name(sites: Mapping[str, SiteView], site_id: str) -> str:
    site = sites.get(site_id)
    return site.name if site else site_id


def build_feed(
    site: SiteView,
    sessions: list[SessionView],
    sites: Mapping[str, SiteView],
    stamp: datetime,
) -> bytes:
    """One VEVENT per session (cancelled ones with STATUS:CANCELLED)."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"Lịch tiếp công dân – {site.name}")
    cal.add("x-wr-timezone", "Asia/Ho_Chi_Minh")
    for session in sessions:
        host = sites.get(session.host_site_id)
        event = Event()
        event.add("uid", f"{session.id}@{UID_DOMAIN}")
        event.add("dtstamp", stamp)
        event.add("dtstart", session.starts_at)
        event.add("dtend", session.ends_at)
        event.add("summary", session.title)
        place = host.name if host else session.host_site_id
        if host and host.address:
            place = f"{place}, {host.address}"
        event.add("location", place)
        others = [_name(sites, s) for s in sorted(session.site_ids - {session.host_site_id})]
        lines = [
            KIND_VI.get(str(session.kind), str(session.kind)),
            f"Người tiếp: {', '.join(session.officials) or HOST_VI[str(session.host_kind)]}",
            f"Điểm cầu tham gia: {', '.join(others) or 'không'}",
        ]
        if session.agenda:
            lines.append(f"Nội dung dự kiến: {session.agenda}")
        event.add("description", "\n".join(lines))
        event.add(
            "status",
            "CANCELLED" if session.state is SessionState.CANCELLED else "CONFIRMED",
        )
        cal.add_component(event)
    data: bytes = cal.to_ical()
    return data
