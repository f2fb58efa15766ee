// The clerk archive: search recordings, play them with the case markers as chapters,
// export extracts and the composed file, look up cases; administrators read the audit log.
// The token comes from ?token= and is sent as a Bearer header (the <video> element can
// only send it in its address). Every request is audited on the server.
import { addMessages, applyI18n, bindLanguageSwitch, onLanguageChange, t } from "/static/shared/i18n.js";

addMessages({
  vi: {
    "archive.title": "Lưu trữ phiên tiếp công dân",
    "archive.notice": "Bản ghi là dữ liệu cá nhân. Mọi lượt xem, tải và trích xuất đều được ghi nhật ký.",
    "any": "Tất cả",
    "search.case": "Số vụ việc", "search.from": "Từ ngày", "search.to": "Đến ngày",
    "search.site": "Điểm cầu", "search.kind": "Loại đơn", "search.outcome": "Kết quả",
    "search.submit": "Tìm kiếm", "search.empty": "Không tìm thấy bản ghi nào.",
    "kind.complaint": "Khiếu nại", "kind.denunciation": "Tố cáo",
    "kind.petition": "Kiến nghị, phản ánh", "kind.mixed": "Nhiều nội dung",
    "kind.pending": "Chưa vào sổ (mở khi điều hành viên đánh dấu trong phiên)",
    "outcome.accepted": "Thụ lý giải quyết", "outcome.forwarded": "Chuyển cơ quan có thẩm quyền",
    "outcome.guided": "Hướng dẫn, trả lại đơn", "outcome.refused": "Từ chối tiếp",
    "col.start": "Bắt đầu (giờ Hà Nội)", "col.title": "Phiên", "col.sites": "Điểm cầu",
    "col.cases": "Vụ việc", "col.status": "Trạng thái",
    "status.complete": "Hoàn tất", "status.recovered": "Khôi phục sau sự cố",
    "status.recording": "Đang ghi",
    "player.file": "Tệp ghi", "player.chapters": "Vụ việc trong phiên (chương)",
    "player.file.label": "{site} – phần {part} ({seconds} giây)",
    "chapter": "{time} – vụ việc {number}: {text}",
    "player.gaps": "Đoạn ghi bị thiếu",
    "player.gaps.help": "Ở các đoạn này máy ghi không kịp nhận hình hoặc tiếng (hàng đợi đầy hoặc tiến trình ghi bị dừng); hình đứng yên trong đoạn thiếu.",
    "gap": "{from} – {to}: thiếu {kind} của {site} ({frames} khung)",
    "gap.video": "hình", "gap.audio": "tiếng",
    "export.title": "Trích xuất", "export.case": "Theo vụ việc", "export.start": "hoặc từ giây",
    "export.end": "đến giây", "export.reason": "Lý do (bắt buộc)", "export.extract": "Trích đoạn",
    "export.compose": "Ghép các điểm cầu thành một tệp", "export.none": "— chọn —",
    "export.extract.item": "Trích đoạn {file} từ {start} giây, dài {seconds} giây",
    "export.composed.item": "Tệp ghép",
    "export.download": "Tải về", "export.running": "đang xử lý", "export.failed": "thất bại",
    "case.title": "Tra cứu vụ việc", "case.show": "Xem",
    "case.number": "Số", "case.kind": "Loại", "case.people": "Số người", "case.crowd": "Đông người",
    "case.outcome": "Kết quả", "case.sites": "Điểm cầu", "case.sessions": "Phiên",
    "case.summary": "Nội dung", "case.denouncers": "Người tố cáo (bảo mật)",
    "case.confidential": "Có thông tin người tố cáo (chỉ quản trị viên được xem)",
    "yes": "Có", "no": "Không",
    "audit.title": "Nhật ký truy cập", "audit.load": "Tải nhật ký", "audit.at": "Thời điểm",
    "audit.actor": "Người", "audit.action": "Thao tác", "audit.target": "Đối tượng",
    "audit.reason": "Lý do", "audit.result": "Kết quả",
    "err.not_found": "Không tìm thấy, hoặc điểm cầu của bạn không được xem.",
    "err.unknown_case": "Không có vụ việc này (trong phạm vi được xem).",
    "err.reason_required": "Hãy ghi lý do (đơn đề nghị, hồ sơ vụ việc…).",
    "err.forbidden_role": "Vai trò của bạn không được làm việc này.",
    "err.bad_range": "Khoảng thời gian không hợp lệ.",
  },
  en: {
    "archive.title": "Reception session archive",
    "archive.notice": "Recordings are personal data. Every view, download and export is logged.",
    "any": "Any",
    "search.case": "Case number", "search.from": "From", "search.to": "To",
    "search.site": "Site", "search.kind": "Kind", "search.outcome": "Outcome",
    "search.submit": "Search", "search.empty": "No recording found.",
    "kind.complaint": "Complaint", "kind.denunciation": "Denunciation",
    "kind.petition": "Petition / feedback", "kind.mixed": "Mixed",
    "kind.pending": "Not recorded yet (opened by an operator's marker in a session)",
    "outcome.accepted": "Accepted for resolution", "outcome.forwarded": "Forwarded",
    "outcome.guided": "Returned with guidance", "outcome.refused": "Refused",
    "col.start": "Start (Hanoi time)", "col.title": "Session", "col.sites": "Sites",
    "col.cases": "Cases", "col.status": "Status",
    "status.complete": "Complete", "status.recovered": "Recovered after a crash",
    "status.recording": "Recording",
    "player.file": "File", "player.chapters": "Cases in this session (chapters)",
    "player.file.label": "{site} – part {part} ({seconds} s)",
    "chapter": "{time} – case {number}: {text}",
    "player.gaps": "Gaps in the recording",
    "player.gaps.help": "Here the recorder could not keep up with the picture or sound (its queue was full or its worker stopped); the picture stands still over a gap.",
    "gap": "{from} – {to}: {kind} of {site} missing ({frames} frames)",
    "gap.video": "video", "gap.audio": "audio",
    "export.title": "Export", "export.case": "One case", "export.start": "or from second",
    "export.end": "to second", "export.reason": "Reason (required)", "export.extract": "Extract",
    "export.compose": "Compose all sites into one file", "export.none": "— choose —",
    "export.extract.item": "Extract of {file} from {start} s, {seconds} s long",
    "export.composed.item": "Composed file",
    "export.download": "Download", "export.running": "running", "export.failed": "failed",
    "case.title": "Case lookup", "case.show": "Show",
    "case.number": "Number", "case.kind": "Kind", "case.people": "People", "case.crowd": "Crowd case",
    "case.outcome": "Outcome", "case.sites": "Sites", "case.sessions": "Sessions",
    "case.summary": "Summary", "case.denouncers": "Denouncers (confidential)",
    "case.confidential": "Has a denouncer's identity (administrators only)",
    "yes": "Yes", "no": "No",
    "audit.title": "Audit log", "audit.load": "Load the log", "audit.at": "When",
    "audit.actor": "Who", "audit.action": "Action", "audit.target": "Target",
    "audit.reason": "Reason", "audit.result": "Result",
    "err.not_found": "Not found, or your site may not see it.",
    "err.unknown_case": "No such case (within what you may see).",
    "err.reason_required": "Give a reason (the written request, the case file…).",
    "err.forbidden_role": "Your role may not do this.",
    "err.bad_range": "The time range is not valid.",
  },
});

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token") ?? "";
const claims = decodeClaims(token);
let current = null; // the recording shown in the detail panel
let lastResults = [];

function decodeClaims(jwt) {
  try {
    return JSON.parse(atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return {};
  }
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const code = body.error?.code ?? "unknown";
    const key = `err.${code}`;
    const text = t(key) === key ? body.error?.message ?? code : t(key);
    throw new Error(text);
  }
  return body;
}

function showError(error) {
  $("error").textContent = error ? String(error.message ?? error) : "";
  $("error").hidden = !error;
}

const hanoi = (iso) =>
  new Date(iso).toLocaleString(document.documentElement.lang === "en" ? "en-GB" : "vi-VN", {
    timeZone: "Asia/Ho_Chi_Minh",
  });
const clock = (ms) => {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};

function cell(row, text) {
  const td = row.insertCell();
  td.textContent = text;
  return td;
}

async function search(event) {
  event?.preventDefault();
  showError(null);
  const params = new URLSearchParams();
  for (const [key, value] of new FormData($("search"))) if (value) params.set(key, value);
  try {
    lastResults = (await api(`/api/archive/recordings?${params}`)).recordings;
  } catch (error) {
    showError(error);
    return;
  }
  renderResults();
}

function renderResults() {
  const body = $("results").tBodies[0];
  body.replaceChildren();
  for (const rec of lastResults) {
    const row = body.insertRow();
    row.dataset.session = rec.session_id;
    cell(row, hanoi(rec.started_at));
    cell(row, rec.title || rec.session_id);
    cell(row, rec.sites.join(", "));
    cell(row, rec.cases.join(", "));
    cell(row, t(`status.${rec.status}`));
    row.addEventListener("click", () => open(rec.session_id));
  }
  $("results").hidden = lastResults.length === 0;
  $("empty").hidden = lastResults.length !== 0;
}

async function open(sessionId) {
  showError(null);
  try {
    current = await api(`/api/archive/recordings/${encodeURIComponent(sessionId)}`);
  } catch (error) {
    showError(error);
    return;
  }
  renderDetail();
  playFile(current.files[0]);
}

function renderDetail() {
  $("detail").hidden = false;
  $("detail-title").textContent = current.title || current.session_id;
  $("detail-meta").textContent = `${hanoi(current.started_at)} · ${current.sites.join(", ")} · ${t(`status.${current.status}`)}`;
  const select = $("file");
  const chosen = select.value;
  select.replaceChildren();
  current.files.forEach((file, index) => {
    const option = new Option(
      t("player.file.label", { site: file.site, part: index + 1, seconds: Math.round(file.duration_ms / 1000) }),
      file.name,
    );
    select.add(option);
  });
  if (chosen) select.value = chosen;
  const chapters = $("chapters");
  chapters.replaceChildren();
  for (const marker of current.markers) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = t("chapter", { time: clock(marker.offset_ms), number: marker.case_number, text: marker.text });
    button.addEventListener("click", () => seek(marker.offset_ms));
    item.append(button);
    chapters.append(item);
  }
  const gaps = current.gaps ?? [];
  $("gaps-box").hidden = gaps.length === 0;
  $("gaps").replaceChildren(
    ...gaps.map((gap) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = t("gap", {
        from: clock(gap.from_ms), to: clock(gap.to_ms), kind: t(`gap.${gap.kind}`),
        site: gap.site, frames: gap.frames,
      });
      button.addEventListener("click", () => seek(gap.from_ms));
      item.append(button);
      return item;
    }),
  );
  const cases = $("extract").elements.case_number;
  cases.replaceChildren(new Option(t("export.none"), ""));
  for (const number of current.cases) cases.add(new Option(number, number));
}

function selectedFile() {
  return current.files.find((f) => f.name === $("file").value) ?? current.files[0];
}

function playFile(file) {
  if (!file) return;
  $("file").value = file.name;
  const url = `/api/archive/recordings/${encodeURIComponent(current.session_id)}/files/${encodeURIComponent(file.name)}?token=${encodeURIComponent(token)}`;
  const video = $("video");
  video.src = url;
  // Chapters as a WebVTT track as well, for players that show them.
  for (const track of video.querySelectorAll("track")) track.remove();
  const cues = current.markers.map((m) => {
    const start = Math.max(0, m.offset_ms - file.offset_ms);
    const end = Math.max(start + 1, (m.end_ms ?? file.offset_ms + file.duration_ms) - file.offset_ms);
    return `${vtt(start)} --> ${vtt(end)}\n${m.case_number} ${m.text}`;
  });
  const track = document.createElement("track");
  track.kind = "chapters";
  track.src = URL.createObjectURL(new Blob([`WEBVTT\n\n${cues.join("\n\n")}\n`], { type: "text/vtt" }));
  video.append(track);
}

const vtt = (ms) => new Date(ms).toISOString().slice(11, 23);

function seek(offsetMs) {
  const file = selectedFile();
  const video = $("video");
  video.currentTime = Math.max(0, (offsetMs - file.offset_ms) / 1000);
  video.play().catch(() => {});
}

async function extract(event) {
  event.preventDefault();
  showError(null);
  const form = new FormData($("extract"));
  const file = selectedFile();
  const body = { file: file.name, reason: form.get("reason") };
  if (form.get("case_number")) body.case_number = form.get("case_number");
  else {
    body.start_ms = Math.round(Number(form.get("start")) * 1000);
    body.end_ms = Math.round(Number(form.get("end")) * 1000);
  }
  try {
    const job = await api(`/api/archive/recordings/${encodeURIComponent(current.session_id)}/extracts`, {
      method: "POST",
      body: JSON.stringify(body),
    });
    addExport(job);
  } catch (error) {
    showError(error);
  }
}

async function compose() {
  showError(null);
  const reason = new FormData($("extract")).get("reason");
  try {
    const job = await api(`/api/archive/recordings/${encodeURIComponent(current.session_id)}/compose`, {
      method: "POST",
      body: JSON.stringify({ reason }),
    });
    follow(addExport(job), job.id);
  } catch (error) {
    showError(error);
  }
}

function addExport(job) {
  const item = document.createElement("li");
  item.dataset.export = job.id;
  renderExport(item, job);
  $("exports").prepend(item);
  return item;
}

function renderExport(item, job) {
  const label =
    job.kind === "extract"
      ? t("export.extract.item", {
          file: job.detail.file,
          start: (job.detail.start_ms / 1000).toFixed(1),
          seconds: (job.detail.duration_ms / 1000).toFixed(1),
        })
      : t("export.composed.item");
  item.replaceChildren(document.createTextNode(`${label} `));
  if (job.state === "running") {
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = job.progress;
    item.append(bar, ` ${Math.round(job.progress * 100)}% ${t("export.running")}`);
  } else if (job.state === "failed") {
    item.append(t("export.failed"));
  } else {
    const link = document.createElement("a");
    link.textContent = t("export.download");
    link.href = `${job.download}?token=${encodeURIComponent(token)}`;
    item.append(link);
  }
}

async function follow(item, id) {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    let job;
    try {
      job = await api(`/api/archive/exports/${encodeURIComponent(id)}`);
    } catch (error) {
      showError(error);
      return;
    }
    renderExport(item, job);
    if (job.state !== "running") return;
  }
}

async function lookupCase(event) {
  event.preventDefault();
  showError(null);
  const number = new FormData($("case-form")).get("number").trim();
  if (!number) return;
  const list = $("case");
  try {
    const c = await api(`/api/archive/cases/${number.split("/").map(encodeURIComponent).join("/")}`);
    const rows = [
      ["case.number", c.number],
      ["case.kind", t(c.pending ? "kind.pending" : `kind.${c.kind}`)],
      ["case.people", String(c.people_count)],
      ["case.crowd", t(c.crowd ? "yes" : "no")],
      ["case.outcome", c.outcome ? t(`outcome.${c.outcome}`) : "—"],
      ["case.sites", c.sites.join(", ")],
      ["case.sessions", c.sessions.join(", ")],
      ["case.summary", c.summary || "—"],
    ];
    if (c.denouncers) rows.push(["case.denouncers", c.denouncers.map((d) => `${d.name} (${d.address})`).join("; ")]);
    else if (c.has_denouncer) rows.push(["case.denouncers", t("case.confidential")]);
    list.replaceChildren();
    for (const [key, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = t(key);
      const dd = document.createElement("dd");
      dd.textContent = value;
      list.append(dt, dd);
    }
    list.hidden = false;
  } catch (error) {
    list.hidden = true;
    showError(error);
  }
}

async function loadAudit() {
  showError(null);
  try {
    const { entries } = await api("/api/archive/audit?limit=200");
    const body = $("audit").querySelector("tbody");
    body.replaceChildren();
    for (const e of entries) {
      const row = body.insertRow();
      cell(row, hanoi(e.at));
      cell(row, `${e.actor} (${e.role}@${e.actor_site})`);
      cell(row, e.action);
      cell(row, e.target);
      cell(row, e.reason);
      cell(row, e.detail ? `${e.result} – ${e.detail}` : e.result);
    }
  } catch (error) {
    showError(error);
  }
}

bindLanguageSwitch($("lang"));
applyI18n();
$("who").textContent = claims.sub ? `${claims.sub} · ${claims.site}` : "";
$("audit").hidden = claims.role !== "administrator";
$("search").addEventListener("submit", search);
$("extract").addEventListener("submit", extract);
$("compose").addEventListener("click", compose);
$("case-form").addEventListener("submit", lookupCase);
$("audit-load").addEventListener("click", loadAudit);
$("file").addEventListener("change", () => playFile(selectedFile()));
onLanguageChange(() => {
  renderResults();
  if (current) renderDetail();
});
const initial = new URLSearchParams(location.search).get("case");
if (initial) $("search").elements.case.value = initial;
search();
