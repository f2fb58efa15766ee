"""The book's downloads: a report as XLSX (openpyxl) and as a printable document in the
Vietnamese administrative form, and the entries as XLSX.

The printed report follows the layout of an administrative document (Decree 30/2020):
the issuing office and number on the left, the national motto on the right, place and
date, the title, the table, the recipients and the signature block.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

from book.reports import Counts, Period, Report
from book.values import Kind, Outcome

COLUMNS: Sequence[tuple[str, str]] = (
    ("sessions_held", "Phiên tiếp đã tổ chức"),
    ("online_links", "Điểm cầu trực tuyến"),
    ("entries", "Lượt tiếp"),
    ("people", "Số người được tiếp"),
    ("crowd", "Đoàn đông người"),
    ("online", "Tiếp trực tuyến"),
    ("kind:complaint", "Khiếu nại"),
    ("kind:denunciation", "Tố cáo"),
    ("kind:petition", "Kiến nghị, phản ánh"),
    ("kind:mixed", "Nội dung hỗn hợp"),
    ("outcome:accepted", "Tiếp nhận giải quyết"),
    ("outcome:forwarded", "Chuyển cơ quan có thẩm quyền"),
    ("outcome:guided", "Hướng dẫn"),
    ("outcome:refused", "Từ chối tiếp"),
    ("outcome:pending", "Chưa kết luận"),
    ("resolved", "Vụ việc đã giải quyết"),
    ("watch_changes", "Thay đổi danh sách theo dõi"),
)
"""Report columns: the key in :meth:`Counts.as_dict` and the heading an office reads."""
assert {c.split(":")[1] for c, _ in COLUMNS if c.startswith("kind:")} == {str(k) for k in Kind}
assert {c.split(":")[1] for c, _ in COLUMNS if c.startswith("outcome:")} == {
    *(str(o) for o in Outcome),
    "pending",
}

PERIOD_TITLE = {
    Period.DAILY: "ngày",
    Period.MONTHLY: "tháng",
    Period.QUARTERLY: "quý",
}


def value(counts: Counts, key: str) -> int:
    if key.startswith("kind:"):
        return counts.by_kind[key[5:]]
    if key.startswith("outcome:"):
        return counts.by_outcome[key[8:]]
    return int(getattr(counts, key))


def period_label(result: Report, start: date | None = None) -> str:
    start = start or result.start
    if result.period is Period.DAILY:
        return f"ngày {start:%d/%m/%Y}"
    if result.period is Period.MONTHLY:
        return f"tháng {start.month:02d}/{start.year}"
    return f"quý {(start.month - 1) // 3 + 1}/{start.year}"


def _sheet(
    ws: Worksheet, title: str, group: str, rows: dict[str, Counts], names: Mapping[str, str]
) -> None:
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(["Mã", group, *(label for _, label in COLUMNS)])
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    total = Counts()
    for name, counts in sorted(rows.items()):
        ws.append([name, names.get(name, name), *(value(counts, key) for key, _ in COLUMNS)])
        total.add(counts)
    ws.append(["", "Tổng cộng", *(value(total, key) for key, _ in COLUMNS)])
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    ws.column_dimensions["B"].width = 32


def report_xlsx(result: Report, issued_by: str, names: Mapping[str, str]) -> bytes:
    """Sheet ``Báo cáo`` (and ``Kỳ trước`` beside a monthly report): one row per province
    (per site for a daily report) with its id and name, a heading row, a total row."""
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = "Báo cáo"
    group = "Đơn vị" if result.period is Period.DAILY else "Tỉnh, thành phố"
    _sheet(
        ws,
        f"Kết quả tiếp công dân {period_label(result)} ({issued_by})",
        group,
        result.rows,
        names,
    )
    if result.previous is not None:
        before = book.create_sheet("Kỳ trước")
        _sheet(
            before,
            f"Kết quả tiếp công dân {period_label(result, result.previous_start)}",
            group,
            result.previous,
            names,
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


ENTRY_COLUMNS: Sequence[tuple[str, str]] = (
    ("reference", "Số"),
    ("received_on", "Ngày tiếp"),
    ("site", "Đơn vị tiếp"),
    ("persons", "Người được tiếp"),
    ("people_count", "Số người"),
    ("kind", "Loại vụ việc"),
    ("channel", "Hình thức"),
    ("summary", "Nội dung"),
    ("outcome", "Kết quả"),
    ("forwarded_to", "Chuyển đến"),
    ("official", "Người tiếp"),
    ("deadline", "Hạn xử lý"),
    ("status", "Tình trạng"),
)


def entries_xlsx(rows: list[dict[str, Any]]) -> bytes:
    """Entries as the reader may see them (persons already masked where they must be)."""
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = "Sổ tiếp công dân"
    ws.append([label for _, label in ENTRY_COLUMNS])
    for row in rows:
        cells: list[Any] = []
        for key, _ in ENTRY_COLUMNS:
            if key == "persons":
                cells.append(
                    "; ".join(
                        ", ".join(x for x in (p["name"], p["address"], p["id_number"]) if x)
                        for p in row["persons"]
                    )
                )
            else:
                cells.append(row[key])
        ws.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def report_html(
    result: Report, *, office: str, number: str, today: date, names: Mapping[str, str]
) -> str:
    """The report as a document an office prints, signs and sends."""
    e = html.escape
    group = "Đơn vị" if result.period is Period.DAILY else "Tỉnh, thành phố"
    head = "".join(f"<th>{e(label)}</th>" for _, label in COLUMNS)

    def table(rows: dict[str, Counts]) -> str:
        total = Counts()
        body = []
        for name, counts in sorted(rows.items()):
            total.add(counts)
            cells = "".join(f"<td>{value(counts, k)}</td>" for k, _ in COLUMNS)
            body.append(f"<tr><th scope='row'>{e(names.get(name, name))}</th>{cells}</tr>")
        cells = "".join(f"<td>{value(total, k)}</td>" for k, _ in COLUMNS)
        body.append(f"<tr class='total'><th scope='row'>Tổng cộng</th>{cells}</tr>")
        return (
            f"<table><thead><tr><th>{e(group)}</th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
        )

    previous = ""
    if result.previous is not None:
        previous = (
            f"<h2>Cùng kỳ trước: {e(period_label(result, result.previous_start))}</h2>"
            + table(result.previous)
        )
    number_line = f"Số: {e(number)}/BC-TCD" if number else "Số: &nbsp;&nbsp;&nbsp;&nbsp;/BC-TCD"
    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<title>Báo cáo kết quả tiếp công dân {e(period_label(result))}</title>
<style>
@page {{ size: A4 landscape; margin: 15mm 15mm 15mm 25mm; }}
body {{ font-family: "Times New Roman", serif; font-size: 13pt; }}
.header {{ display: flex; justify-content: space-between; text-align: center; }}
.header div {{ width: 48%; }}
.motto {{ font-weight: bold; }}
.motto u {{ text-decoration: underline; }}
.place {{ text-align: right; font-style: italic; margin-top: 6pt; }}
h1 {{ text-align: center; font-size: 14pt; margin: 18pt 0 4pt; }}
h2 {{ font-size: 13pt; }}
.period {{ text-align: center; font-weight: bold; }}
table {{ border-collapse: collapse; width: 100%; font-size: 10pt; margin-top: 8pt; }}
th, td {{ border: 1px solid #000; padding: 3pt; text-align: center; }}
tbody th {{ text-align: left; font-weight: normal; }}
tr.total th, tr.total td {{ font-weight: bold; }}
.footer {{ display: flex; justify-content: space-between; margin-top: 18pt; }}
.recipients {{ font-size: 11pt; }}
.sign {{ text-align: center; width: 40%; }}
.sign .space {{ height: 70pt; }}
</style></head>
<body>
<div class="header">
  <div><div>{e(office.upper())}</div><div>{number_line}</div></div>
  <div class="motto"><div>CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</div>
  <div><u>Độc lập - Tự do - Hạnh phúc</u></div></div>
</div>
<p class="place">ngày {today.day:02d} tháng {today.month:02d} năm {today.year}</p>
<h1>BÁO CÁO</h1>
<p class="period">Kết quả công tác tiếp công dân {e(period_label(result))}
(từ ngày {result.start:%d/%m/%Y} đến ngày {result.end:%d/%m/%Y})</p>
{table(result.rows)}
{previous}
<div class="footer">
  <div class="recipients"><b><i>Nơi nhận:</i></b><br>- Chủ tịch UBND tỉnh;<br>
  - Thanh tra Chính phủ;<br>- Lưu: VT.</div>
  <div class="sign"><b>THỦ TRƯỞNG CƠ QUAN</b><br><i>(Ký, ghi rõ họ tên, đóng dấu)</i>
  <div class="space"></div></div>
</div>
</body></html>
"""
