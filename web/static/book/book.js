// The reception book page (issue 11): write and complete entries, read the book of the
// reader's province, the watch list (overdue deadlines marked) and the reports with
// charts (by province, kind and week: plain SVG) and their XLSX and printable downloads.
// The token comes from ?token= (the server mints it for a signed-in clerk or
// administrator) and is sent as a Bearer header; downloads carry it as ?token=.
// Tests read window.rbbook (the last entry saved, the last report shown).

import {
  addMessages,
  applyI18n,
  bindLanguageSwitch,
  getLanguage,
  onLanguageChange,
  t,
} from "/static/shared/i18n.js";
import { bookMessages } from "/static/book/book_messages.js";

addMessages(bookMessages);

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token") ?? "";
const state = { saved: null, report: null, entries: [], watch: [] };
/** site id -> {name, name_en}, from the public site list (ids where it is missing). */
const siteNames = new Map();
window.rbbook = state;

/** Today's date in Hanoi, YYYY-MM-DD. */
function today() {
  return new Date().toLocaleDateString("sv-SE", { timeZone: "Asia/Ho_Chi_Minh" });
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const code = body?.error?.code ?? `http_${response.status}`;
    const err = new Error(body?.error?.message ?? code);
    err.code = code;
    throw err;
  }
  return body;
}

function showError(err) {
  const box = $("error");
  if (!err) {
    box.hidden = true;
    return;
  }
  const key = `err.${err.code}`;
  const text = t(key);
  box.textContent = text === key ? `${t("err.generic")} ${err.message} (${err.code})` : `${text} (${err.message})`;
  box.hidden = false;
}

function siteName(id) {
  const site = siteNames.get(id);
  if (!site) return id;
  return getLanguage() === "en" && site.name_en ? site.name_en : site.name;
}

async function loadSiteNames() {
  try {
    const { sites } = await api("/api/sites");
    for (const site of sites) siteNames.set(site.id, site);
  } catch {
    // Ids stand in for names; the book works without them.
  }
}

function withToken(path) {
  return `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
}

// ---------------------------------------------------------------- the entry form

function lines(text) {
  return text.split("\n").map((s) => s.trim()).filter(Boolean);
}

function formBody(form) {
  const f = new FormData(form);
  const body = {
    received_on: f.get("received_on"),
    kind: f.get("kind"),
    channel: f.get("channel"),
    session_id: f.get("session_id").trim(),
    recording_marker: f.get("recording_marker").trim(),
    persons: [{ name: f.get("name").trim(), address: f.get("address").trim(), id_number: f.get("id_number").trim() }],
    people_count: Number(f.get("people_count") || 1),
    representatives: lines(f.get("representatives")).map((name) => ({ name })),
    summary: f.get("summary").trim(),
    prior_bodies: lines(f.get("prior_bodies")),
    outcome: f.get("outcome") || null,
    forwarded_to: f.get("forwarded_to").trim(),
    refusal_reason: f.get("refusal_reason") || null,
    official: f.get("official").trim(),
    complex: f.get("complex") === "on",
    note: f.get("note").trim(),
  };
  if (f.get("version")) body.expect_version = Number(f.get("version"));
  return body;
}

function fillForm(entry) {
  const form = $("entry-form");
  const set = (name, value) => {
    form.elements[name].value = value ?? "";
  };
  set("id", entry.id);
  set("version", entry.version);
  set("received_on", entry.received_on);
  set("kind", entry.kind);
  set("channel", entry.channel);
  set("session_id", entry.session_id);
  set("recording_marker", entry.recording_marker);
  const person = entry.persons[0] ?? {};
  set("name", person.name);
  set("address", person.address);
  set("id_number", person.id_number);
  set("people_count", entry.people_count);
  set("representatives", entry.representatives.map((p) => p.name).join("\n"));
  set("summary", entry.summary);
  set("prior_bodies", entry.prior_bodies.join("\n"));
  set("outcome", entry.outcome ?? "");
  set("forwarded_to", entry.forwarded_to);
  set("refusal_reason", entry.refusal_reason ?? "");
  set("official", entry.official);
  form.elements.complex.checked = entry.complex;
  set("note", "");
  $("entry-heading").textContent = t("entry.edit", { number: entry.reference, version: entry.version });
  form.scrollIntoView();
}

async function onSave(event) {
  event.preventDefault();
  const form = event.target;
  const id = form.elements.id.value;
  showError(null);
  try {
    const body = formBody(form);
    const saved = id
      ? await api(`/api/book/entries/${id}`, { method: "PUT", body: JSON.stringify(body) })
      : await api("/api/book/entries", { method: "POST", body: JSON.stringify(body) });
    state.saved = saved;
    $("status").textContent = t("entry.saved", {
      number: saved.reference,
      version: saved.version,
      deadline: saved.deadline ?? t("entry.no_deadline"),
    });
    resetForm();
    await Promise.all([loadEntries(), loadReport()]);
  } catch (err) {
    showError(err);
  }
}

function resetForm() {
  const form = $("entry-form");
  form.reset();
  form.elements.id.value = "";
  form.elements.version.value = "";
  form.elements.received_on.value = today();
  $("entry-heading").textContent = t("entry.new");
}

// ---------------------------------------------------------------- the book

function monthRange(month) {
  const [y, m] = month.split("-").map(Number);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return { start: `${month}-01`, end: `${month}-${String(last).padStart(2, "0")}` };
}

async function loadEntries() {
  const month = $("entries-filter").elements.month.value || today().slice(0, 7);
  const query = new URLSearchParams(monthRange(month));
  const { entries } = await api(`/api/book/entries?${query}`);
  state.entries = entries;
  $("entries-xlsx").href = withToken(`/api/book/entries.xlsx?${query}`);
  $("entries-body").replaceChildren(
    ...entries.map((e) => {
      const row = document.createElement("tr");
      row.className = e.overdue ? "overdue" : "";
      row.dataset.id = e.id;
      const cells = [
        e.reference,
        e.received_on,
        e.persons.map((p) => p.name).join(", "),
        e.people_count + (e.crowd ? ` (${t("crowd")})` : ""),
        t(`kind.${e.kind}`),
        t(`channel.${e.channel}`) + (e.recording_marker ? ` · ${e.recording_marker}` : ""),
        e.outcome ? t(`outcome.${e.outcome}`) + (e.forwarded_to ? `: ${e.forwarded_to}` : "") : t("outcome.pending"),
        e.deadline ?? "",
      ].map((text, i) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (i === 2 && e.masked) td.className = "masked";
        if (i === 7) td.className = "deadline";
        return td;
      });
      const action = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "complete";
      button.textContent = t("entry.complete");
      button.addEventListener("click", () => fillForm(e));
      action.append(button);
      row.append(...cells, action);
      return row;
    }),
  );
}

// ---------------------------------------------------------------- the watch list

async function loadWatch() {
  const { items } = await api("/api/book/watch");
  state.watch = items;
  $("watch-body").replaceChildren(
    ...items.map((item) => {
      const row = document.createElement("tr");
      row.className = item.overdue ? "overdue" : "";
      const history = item.history
        .map((h) => {
          const detail = h.change === "status" ? t(`wstatus.${h.detail}`) : h.detail;
          return `${h.at.slice(0, 10)} ${t(`change.${h.change}`)}: ${detail}`;
        })
        .join("; ");
      const cells = [
        siteName(item.site),
        t(`watch.${item.kind}`),
        item.title,
        String(item.people_count),
        item.official,
        t(`wstatus.${item.status}`),
        item.next_dialogue ?? "",
        item.deadline ?? "",
        history,
      ].map((text, i) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (i === 7) td.className = "deadline";
        return td;
      });
      row.append(...cells, watchActions(item));
      return row;
    }),
  );
}

const WATCH_STATUSES = ["following", "dialogue", "resolved", "closed"];

/** Change status and next dialogue of an item in place (each change is a history line). */
function watchActions(item) {
  const td = document.createElement("td");
  const status = document.createElement("select");
  status.className = "watch-status";
  for (const value of WATCH_STATUSES) {
    const option = new Option(t(`wstatus.${value}`), value, false, value === item.status);
    status.append(option);
  }
  const dialogue = document.createElement("input");
  dialogue.type = "date";
  dialogue.className = "watch-dialogue";
  dialogue.value = item.next_dialogue ?? "";
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = t("watch.update");
  button.addEventListener("click", async () => {
    showError(null);
    try {
      await api(`/api/book/watch/${item.id}`, {
        method: "PUT",
        body: JSON.stringify({
          status: status.value === item.status ? null : status.value,
          next_dialogue: dialogue.value && dialogue.value !== item.next_dialogue ? dialogue.value : null,
        }),
      });
      await loadWatch();
    } catch (err) {
      showError(err);
    }
  });
  td.append(status, dialogue, button);
  return td;
}

async function onWatch(event) {
  event.preventDefault();
  const f = new FormData(event.target);
  showError(null);
  try {
    await api("/api/book/watch", {
      method: "POST",
      body: JSON.stringify({
        kind: f.get("kind"),
        title: f.get("title").trim(),
        people_count: Number(f.get("people_count") || 0),
        official: f.get("official").trim(),
        next_dialogue: f.get("next_dialogue") || null,
        deadline: f.get("deadline") || null,
      }),
    });
    event.target.reset();
    await loadWatch();
  } catch (err) {
    showError(err);
  }
}

// ---------------------------------------------------------------- reports and charts

const COLUMNS = [
  ["sessions_held", "col.sessions"], ["online_links", "col.links"], ["entries", "col.entries"],
  ["people", "col.people"], ["crowd", "col.crowd"], ["online", "col.online"],
  ["kind:complaint", "kind.complaint"], ["kind:denunciation", "kind.denunciation"],
  ["kind:petition", "kind.petition"], ["kind:mixed", "kind.mixed"],
  ["outcome:accepted", "outcome.accepted"], ["outcome:forwarded", "outcome.forwarded"],
  ["outcome:guided", "outcome.guided"], ["outcome:refused", "outcome.refused"],
  ["outcome:pending", "outcome.pending"], ["resolved", "col.resolved"], ["watch_changes", "col.watch"],
];

function cell(counts, key) {
  if (key.startsWith("kind:")) return counts.by_kind[key.slice(5)];
  if (key.startsWith("outcome:")) return counts.by_outcome[key.slice(8)];
  return counts[key];
}

async function loadReport() {
  const f = new FormData($("report-form"));
  const period = f.get("period");
  const day = f.get("day") || today();
  const report = await api(`/api/book/reports/${period}?day=${day}`);
  state.report = report;
  const query = `day=${day}`;
  $("report-xlsx").href = withToken(`/api/book/reports/${period}/xlsx?${query}`);
  $("report-print").href = withToken(`/api/book/reports/${period}/print?${query}`);
  $("report-range").textContent = t("reports.range", { start: report.start, end: report.end });
  const head = document.createElement("tr");
  for (const label of [report.group_by === "site" ? "col.site" : "col.province", ...COLUMNS.map((c) => c[1])]) {
    const th = document.createElement("th");
    th.textContent = t(label);
    head.append(th);
  }
  $("report-head").replaceChildren(head);
  const rows = Object.entries(report.rows).map(([name, counts]) => reportRow(name, counts));
  rows.push(reportRow(t("col.total"), report.total, "total"));
  $("report-body").replaceChildren(...rows);
  drawCharts(report);
  await drawWeeks(report);
}

function reportRow(name, counts, cls = "") {
  const row = document.createElement("tr");
  row.className = cls;
  row.dataset.group = name;
  const th = document.createElement("th");
  th.textContent = cls === "total" ? name : siteName(name);
  row.append(th);
  for (const [key] of COLUMNS) {
    const td = document.createElement("td");
    td.className = "n";
    td.dataset.key = key;
    td.textContent = String(cell(counts, key));
    row.append(td);
  }
  return row;
}

const SVG = "http://www.w3.org/2000/svg";

function bars(svg, items, series = 1) {
  // items: [{label, values: [current, previous?]}]
  const width = 340;
  const height = 220;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const max = Math.max(1, ...items.flatMap((i) => i.values));
  const slot = (width - 20) / Math.max(1, items.length);
  const barWidth = Math.max(2, (slot - 4) / series);
  const nodes = [];
  items.forEach((item, i) => {
    item.values.forEach((value, s) => {
      const h = ((height - 40) * value) / max;
      const rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("class", s === 0 ? "bar" : "bar prev");
      rect.setAttribute("x", String(10 + i * slot + s * barWidth));
      rect.setAttribute("y", String(height - 25 - h));
      rect.setAttribute("width", String(barWidth));
      rect.setAttribute("height", String(h));
      const title = document.createElementNS(SVG, "title");
      title.textContent = `${item.label}: ${value}`;
      rect.append(title);
      nodes.push(rect);
    });
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", String(10 + i * slot));
    label.setAttribute("y", String(height - 10));
    label.textContent = item.label.length > 10 ? `${item.label.slice(0, 9)}…` : item.label;
    nodes.push(label);
  });
  svg.replaceChildren(...nodes);
}

function drawCharts(report) {
  const previous = report.previous?.rows ?? {};
  const groups = [...new Set([...Object.keys(report.rows), ...Object.keys(previous)])].sort();
  bars(
    $("chart-province"),
    groups.map((g) => ({
      label: siteName(g),
      values: report.previous ? [report.rows[g]?.entries ?? 0, previous[g]?.entries ?? 0] : [report.rows[g]?.entries ?? 0],
    })),
    report.previous ? 2 : 1,
  );
  bars(
    $("chart-kind"),
    Object.entries(report.total.by_kind).map(([kind, n]) => ({ label: t(`kind.${kind}`), values: [n] })),
  );
}

/** Entries per ISO week of the period, from the book (the reader's scope, as the report). */
async function drawWeeks(report) {
  const { entries } = await api(`/api/book/entries?start=${report.start}&end=${report.end}&limit=5000`);
  const weeks = new Map();
  for (const e of entries) {
    const d = new Date(`${e.received_on}T00:00:00Z`);
    const monday = new Date(d);
    monday.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
    const key = monday.toISOString().slice(0, 10);
    weeks.set(key, (weeks.get(key) ?? 0) + 1);
  }
  bars(
    $("chart-week"),
    [...weeks.entries()].sort().map(([monday, n]) => ({ label: monday.slice(5), values: [n] })),
  );
}

// ---------------------------------------------------------------- start

function claims() {
  try {
    return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return {};
  }
}

async function start() {
  bindLanguageSwitch($("lang"));
  applyI18n();
  const who = claims();
  $("who").textContent = who.sub ? `${who.sub} · ${who.site ?? ""}` : "";
  $("entry-form").addEventListener("submit", onSave);
  $("entry-reset").addEventListener("click", (event) => {
    event.preventDefault();
    resetForm();
  });
  $("entries-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    loadEntries().catch(showError);
  });
  $("watch-form").addEventListener("submit", onWatch);
  $("report-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadReport().catch(showError);
  });
  onLanguageChange(() => Promise.all([loadEntries(), loadWatch(), loadReport()]).catch(showError));
  resetForm();
  $("entries-filter").elements.month.value = today().slice(0, 7);
  $("report-form").elements.day.value = today();
  const prefill = new URLSearchParams(location.search);
  if (prefill.get("day")) {
    $("report-form").elements.day.value = prefill.get("day");
    $("entries-filter").elements.month.value = prefill.get("day").slice(0, 7);
  }
  try {
    await loadSiteNames();
    await Promise.all([loadEntries(), loadWatch(), loadReport()]);
    document.body.dataset.ready = "true";
  } catch (err) {
    showError(err);
  }
}

start();
