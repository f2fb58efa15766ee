"""The public reception schedule (Vietnamese, English on ?lang=en) and iCalendar feeds.

The law asks for the place, the time, who receives and who takes part to be posted.
Citizens' names never appear here.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from aiohttp import web

from sessions.calendar import VN_TZ, local_instant, local_today
from sessions.ical import build_feed
from sessions.views import SessionView, SiteView
from web.http.errors import http_error
from web.http.parse import day_range, days_after, query_day
from web.keys import STORE
from web.schedule.http import run

routes = web.RouteTableDef()

TEXT = {
    "vi": {
        "title": "Lịch tiếp công dân",
        "intro": "Lịch tiếp công dân trực tiếp và trực tuyến (giờ Việt Nam, UTC+7).",
        "when": "Thời gian",
        "place": "Địa điểm",
        "who": "Người tiếp",
        "sites": "Điểm cầu tham gia",
        "kind": "Hình thức",
        "agenda": "Nội dung dự kiến",
        "state": "Trạng thái",
        "none": "Không có lịch tiếp công dân trong khoảng thời gian này.",
        "all": "Tất cả điểm tiếp",
        "show": "Xem",
        "from": "Từ ngày",
        "to": "Đến ngày",
        "site": "Điểm tiếp",
        "ics": "Lịch iCalendar của điểm tiếp này",
        "other": "English",
        "day_off": "ngày nghỉ",
        "slots": "Lượt tiếp còn trống",
        "head": "Người đứng đầu",
        "staff": "Cán bộ Ban Tiếp công dân",
        "regular": "Thường xuyên",
        "periodic": "Định kỳ",
        "ad_hoc": "Đột xuất",
        "special": "Thời kỳ đặc biệt",
        "planned": "Dự kiến",
        "open": "Đang diễn ra",
        "closed": "Đã kết thúc",
        "cancelled": "Đã hủy",
    },
    "en": {
        "title": "Citizen reception schedule",
        "intro": "In-person and online citizen reception (Vietnam time, UTC+7).",
        "when": "Time",
        "place": "Place",
        "who": "Received by",
        "sites": "Participating sites",
        "kind": "Kind",
        "agenda": "Tentative agenda",
        "state": "State",
        "none": "No reception sessions in this period.",
        "all": "All sites",
        "show": "Show",
        "from": "From",
        "to": "To",
        "site": "Site",
        "ics": "iCalendar feed of this site",
        "other": "Tiếng Việt",
        "day_off": "day off",
        "slots": "Free slots",
        "head": "Head of the site",
        "staff": "Reception office staff",
        "regular": "Regular",
        "periodic": "Periodic",
        "ad_hoc": "Ad hoc",
        "special": "Special period",
        "planned": "Planned",
        "open": "In progress",
        "closed": "Ended",
        "cancelled": "Cancelled",
    },
}

LEVEL_ORDER = {"central": 0, "province": 1, "department": 2, "district": 3, "commune": 4}

WEEKDAYS = {
    "vi": ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _site_name(site: SiteView | None, fallback: str, lang: str) -> str:
    if site is None:
        return fallback
    return site.name_en if lang == "en" and site.name_en else site.name


def _row(s: SessionView, sites: dict[str, SiteView], lang: str) -> str:
    t = TEXT[lang]
    start, end = s.starts_at.astimezone(VN_TZ), s.ends_at.astimezone(VN_TZ)
    when = f"{WEEKDAYS[lang][start.weekday()]} {start:%d/%m/%Y} {start:%H:%M}–"
    if end.date() != start.date():
        when += f"{WEEKDAYS[lang][end.weekday()]} {end:%d/%m/%Y} "
    when += f"{end:%H:%M}"
    if s.on_day_off:
        when += f" ({t['day_off']})"
    host = sites.get(s.host_site_id)
    place = _e(_site_name(host, s.host_site_id, lang))
    if host and host.address:
        place += f"<br><small>{_e(host.address)}</small>"
    rooms = {r.id: r.name for r in host.rooms} if host else {}
    host_room = next((x.room_id for x in s.sites if x.site_id == s.host_site_id), None)
    if host_room in rooms:
        place += f"<br><small>{_e(rooms[host_room])}</small>"
    who = ", ".join(s.officials) or t[str(s.host_kind)]
    others = sorted(s.site_ids - {s.host_site_id})
    names = ", ".join(_site_name(sites.get(o), o, lang) for o in others) or "–"
    free = sum(1 for slot in s.slots if not slot.booked)
    extra = f"<br><small>{_e(s.agenda)}</small>" if s.agenda else ""
    if s.slots:
        extra += f"<br><small>{t['slots']}: {free}/{len(s.slots)}</small>"
    state_class = f"state-{s.state}"
    return (
        f'<tr class="{state_class}" data-session="{_e(s.id)}">'
        f"<td>{_e(when)}</td><td>{place}</td><td>{_e(who)}</td><td>{_e(names)}</td>"
        f"<td>{_e(t[str(s.kind)])}{extra}</td><td>{_e(t[str(s.state)])}</td></tr>"
    )


@routes.get("/schedule")
async def schedule_page(request: web.Request) -> web.Response:
    lang = "en" if request.query.get("lang") == "en" else "vi"
    t = TEXT[lang]
    store = request.app[STORE]
    today = local_today()
    start = query_day(request, "from", today)
    end = query_day(request, "to", days_after(start, 14))
    day_range(start, end, max_days=400)
    all_sites = await run(store.list_sites)
    sites = {s.id: s for s in all_sites}
    site_id = request.query.get("site") or None
    site_ids = None
    if site_id is not None:
        if site_id not in sites:
            raise http_error(404, "unknown_site", f"site {site_id} does not exist")
        site_ids = await run(store.subtree, site_id)
    sessions = await run(
        store.list_sessions,
        local_instant(start, datetime.min.time()),
        local_instant(end + timedelta(days=1), datetime.min.time()),
        site_ids=site_ids,
    )
    rows = "\n".join(_row(s, sites, lang) for s in sessions)
    options = "".join(
        f'<option value="{_e(s.id)}"{" selected" if s.id == site_id else ""}>'
        f"{_e(_site_name(s, s.id, lang))}</option>"
        for s in sorted(all_sites, key=lambda x: (LEVEL_ORDER.get(x.level, 9), x.name))
        if s.active_on(today)
    )
    other = {
        "lang": "vi" if lang == "en" else "en",
        "from": start.isoformat(),
        "to": end.isoformat(),
    }
    if site_id:
        other["site"] = site_id
    ics = (
        f'<p><a href="/api/sites/{_e(site_id)}/calendar.ics">{_e(t["ics"])}</a></p>'
        if site_id
        else ""
    )
    table = (
        f"<table><thead><tr><th>{t['when']}</th><th>{t['place']}</th><th>{t['who']}</th>"
        f"<th>{t['sites']}</th><th>{t['kind']}</th><th>{t['state']}</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        if sessions
        else f'<p class="empty">{t["none"]}</p>'
    )
    body = f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t["title"]}</title>
<link rel="stylesheet" href="/static/shared/common.css">
<link rel="stylesheet" href="/static/schedule/schedule.css">
</head>
<body class="schedule">
<header><h1>{t["title"]}</h1>
<a class="lang" href="/schedule?{_e(urlencode(other))}">{t["other"]}</a></header>
<p>{t["intro"]}</p>
<form method="get" action="/schedule">
<input type="hidden" name="lang" value="{lang}">
<label>{t["site"]} <select name="site">
<option value="">{t["all"]}</option>{options}</select></label>
<label>{t["from"]} <input type="date" name="from" value="{start.isoformat()}"></label>
<label>{t["to"]} <input type="date" name="to" value="{end.isoformat()}"></label>
<button type="submit">{t["show"]}</button>
</form>
{ics}
{table}
</body>
</html>
"""
    return web.Response(text=body, content_type="text/html", charset="utf-8")


@routes.get("/api/sites/{site_id}/calendar.ics")
async def site_calendar(request: web.Request) -> web.Response:
    """Sessions of the site (and its subtree) from 90 days back to a year ahead."""
    store = request.app[STORE]
    site_id = request.match_info["site_id"]
    sites = {s.id: s for s in await run(store.list_sites)}
    site = sites.get(site_id)
    if site is None:
        raise http_error(404, "unknown_site", f"site {site_id} does not exist")
    now = datetime.now(UTC)
    sessions = await run(
        store.list_sessions,
        now - timedelta(days=90),
        now + timedelta(days=366),
        site_ids=await run(store.subtree, site_id),
        limit=5000,
    )
    feed = build_feed(site, sessions, sites, now)
    return web.Response(
        body=feed,
        content_type="text/calendar",
        charset="utf-8",
        headers={"Content-Disposition": f'inline; filename="{site_id}.ics"'},
    )
