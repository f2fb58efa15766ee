// Vietnamese first, English on request: a small shared dictionary and language switch.
//
// Pages mark static text with data-i18n="key" (text) or data-i18n-attr="attr:key;attr:key"
// (attributes) and call applyI18n(); dynamic text calls t(key, params) and re-renders in an
// onLanguageChange() callback. Each page may add its own keys with addMessages().
// The choice is kept in localStorage ("rb.lang"); ?lang=en|vi in the address overrides it.

export const LANGUAGES = ["vi", "en"];
const STORAGE_KEY = "rb.lang";

const messages = {
  vi: {
    "app.name": "Tiếp công dân trực tuyến",
    "lang.switch": "English",
    "lang.switch.title": "Switch to English",
    "common.loading": "Đang tải…",
    "common.retry": "Thử lại",
    "common.close": "Đóng",
    "common.error": "Lỗi",
    "common.details": "Chi tiết",

    "state.connecting": "Đang kết nối",
    "state.connected": "Đã kết nối",
    "state.disconnected": "Mất kết nối",
    "state.left": "Đã rời phiên",
    "state.reconnecting": "Đang kết nối lại",

    "role.room": "Phòng tiếp",
    "role.operator": "Điều hành",

    "room.title": "Phòng tiếp công dân trực tuyến",
    "room.you": "Điểm cầu của bạn",
    "room.you.site": "{site} (bạn)",
    "room.leave": "Rời phiên",
    "room.rejoin": "Tham gia lại",
    "room.recorded": "Phiên tiếp công dân này đang được ghi hình và ghi âm để lưu trữ theo quy định.",
    "room.clock": "Giờ Hà Nội",
    "room.schedule": "Lịch: {start} – {end}",
    "room.sites": "Các điểm cầu",
    "room.no.remote": "Chưa có điểm cầu nào khác kết nối.",
    "room.waiting.media": "Đang chờ hình ảnh…",
    "room.phase.init": "Đang chuẩn bị",
    "room.phase.connecting": "Đang kết nối máy chủ",
    "room.phase.waiting": "Chưa đến giờ vào phiên",
    "room.waiting.open": "Phòng tiếp được vào phiên từ {at} (giờ Việt Nam), còn {left}. Trang sẽ tự kết nối khi đến giờ.",
    "room.phase.joined": "Đã vào phiên",
    "room.phase.reconnecting": "Mất kết nối, đang thử lại",
    "room.phase.left": "Bạn đã rời phiên",
    "room.phase.dropped": "Máy chủ đã ngắt kết nối điểm cầu này",
    "room.phase.error": "Không vào được phiên",
    "room.phase.closed": "Phiên đã kết thúc",
    "room.media.video": "hình",
    "room.media.audio": "tiếng",
    "room.muted": "Đã tắt tiếng",
    "room.onair.live": "Trực tiếp",
    "room.onair.live.detail": "Điểm cầu đang lên cầu: Trung ương và các điểm cầu trực tiếp khác thấy và nghe điểm cầu này.",
    "room.onair.live.host": "Hình và tiếng của điểm cầu này đến mọi điểm cầu trong phiên.",
    "room.onair.standby": "Chờ",
    "room.onair.standby.detail": "Điểm cầu đang chờ: chỉ người điều hành xem trước; Trung ương và các điểm cầu khác chưa thấy, chưa nghe điểm cầu này.",
    "room.onair.muted": "Người điều hành đã tắt micrô của điểm cầu này",
    "room.onair.case": "Vụ việc đang xem xét: {case} (từ {since})",
    "room.sound": "Bật âm thanh các điểm cầu",

    "room.kiosk.return": "Chế độ kiosk: sau {seconds} giây trở về màn hình chờ, tự vào phiên tiếp theo trong ngày.",
    "room.kiosk.stay": "Ở lại trang này",

    "date.placeholder": "ngày/tháng/năm",
    "date.hint": "Ghi ngày theo dạng ngày/tháng/năm, ví dụ 04/12/2026. Phím mũi tên lên, xuống: sang ngày sau, ngày trước.",
    "date.invalid": "Ngày không hợp lệ: ghi theo dạng ngày/tháng/năm, ví dụ 04/12/2026.",
    "date.before": "Ngày phải từ {day} trở đi.",
    "date.after": "Ngày phải đến {day} là muộn nhất.",

    "closed.title.at": "Phiên đã kết thúc lúc {time}",
    "closed.title": "Phiên đã kết thúc",
    "closed.reason": "Lý do: {reason}.",
    "closed.reason.closed": "đã đóng",
    "closed.reason.cancelled": "đã huỷ",
    "closed.reason.ended": "hết giờ theo lịch",

    "error.title": "Không thể tham gia phiên tiếp",
    "error.token_missing": "Đường dẫn không có mã truy cập. Hãy mở đúng đường dẫn được cấp.",
    "error.token_invalid": "Mã truy cập không hợp lệ.",
    "error.token_expired": "Mã truy cập đã hết hạn. Hãy xin cấp mã mới.",
    "error.token_not_yet_valid": "Mã truy cập chưa đến thời gian hiệu lực.",
    "error.unknown_session": "Không tìm thấy phiên tiếp công dân này.",
    "error.session_closed": "Phiên tiếp công dân đã kết thúc hoặc bị hủy.",
    "error.site_not_in_session": "Điểm cầu của bạn không tham gia phiên này.",
    "error.forbidden_role": "Vai trò của mã truy cập không được phép vào trang này.",
    "error.not_allowed": "Thao tác không được phép.",
    "error.bad_request": "Yêu cầu không hợp lệ.",
    "error.bad_sdp": "Thông số kết nối hình/tiếng không hợp lệ.",
    "error.internal": "Lỗi máy chủ.",
    "error.media_unavailable": "Không mở được camera hoặc micrô; bạn vẫn xem và nghe được các điểm cầu khác.",
    "error.webrtc_failed": "Không thiết lập được kết nối hình/tiếng.",
    "error.server_unreachable": "Không kết nối được máy chủ.",
    "error.server_restarting": "Máy chủ đang khởi động lại, đang kết nối lại…",
    "error.unknown": "Đã xảy ra lỗi.",
  },
  en: {
    "app.name": "Online citizen reception",
    "lang.switch": "Tiếng Việt",
    "lang.switch.title": "Chuyển sang tiếng Việt",
    "common.loading": "Loading…",
    "common.retry": "Retry",
    "common.close": "Close",
    "common.error": "Error",
    "common.details": "Details",

    "state.connecting": "Connecting",
    "state.connected": "Connected",
    "state.disconnected": "Disconnected",
    "state.left": "Left",
    "state.reconnecting": "Reconnecting",

    "role.room": "Reception room",
    "role.operator": "Operator",

    "room.title": "Online citizen reception room",
    "room.you": "Your site",
    "room.you.site": "{site} (you)",
    "room.leave": "Leave",
    "room.rejoin": "Join again",
    "room.recorded": "This reception session is being recorded (video and audio) for the archive, as the law requires.",
    "room.clock": "Hanoi time",
    "room.schedule": "Scheduled: {start} – {end}",
    "room.sites": "Sites",
    "room.no.remote": "No other site is connected yet.",
    "room.waiting.media": "Waiting for video…",
    "room.phase.init": "Preparing",
    "room.phase.connecting": "Connecting to the server",
    "room.phase.waiting": "Not open yet",
    "room.waiting.open": "The room may join from {at} (Vietnam time), in {left}. The page connects by itself then.",
    "room.phase.joined": "In the session",
    "room.phase.reconnecting": "Connection lost, retrying",
    "room.phase.left": "You left the session",
    "room.phase.dropped": "The server disconnected this site",
    "room.phase.error": "Could not join the session",
    "room.phase.closed": "The session has ended",
    "room.media.video": "video",
    "room.media.audio": "audio",
    "room.muted": "Muted",
    "room.onair.live": "Live",
    "room.onair.live.detail": "This site is on air: the central office and the other live sites see and hear it.",
    "room.onair.live.host": "This site's video and sound go to every site of the session.",
    "room.onair.standby": "Standby",
    "room.onair.standby.detail": "This site is on standby: only the operator previews it; the central office and the other sites do not see or hear it yet.",
    "room.onair.muted": "The operator muted this site's microphone",
    "room.onair.case": "Case under discussion: {case} (since {since})",
    "room.sound": "Turn on the sites' sound",

    "room.kiosk.return": "Kiosk mode: back to the waiting screen in {seconds} s, to join the day's next session by itself.",
    "room.kiosk.stay": "Stay on this page",

    "date.placeholder": "dd/mm/yyyy",
    "date.hint": "Write the day as day/month/year, for example 04/12/2026. Arrow up and down: the next and previous day.",
    "date.invalid": "Not a valid day: write it as day/month/year, for example 04/12/2026.",
    "date.before": "The day must be {day} or later.",
    "date.after": "The day must be {day} at the latest.",

    "closed.title.at": "The session ended at {time}",
    "closed.title": "The session has ended",
    "closed.reason": "Reason: {reason}.",
    "closed.reason.closed": "closed",
    "closed.reason.cancelled": "cancelled",
    "closed.reason.ended": "its scheduled time is over",

    "error.title": "Cannot join the reception session",
    "error.token_missing": "The address has no access token. Open the exact link you were given.",
    "error.token_invalid": "The access token is not valid.",
    "error.token_expired": "The access token has expired. Ask for a new one.",
    "error.token_not_yet_valid": "The access token is not valid yet.",
    "error.unknown_session": "This reception session does not exist.",
    "error.session_closed": "The reception session has ended or was cancelled.",
    "error.site_not_in_session": "Your site does not take part in this session.",
    "error.forbidden_role": "The token's role may not open this page.",
    "error.not_allowed": "This action is not allowed.",
    "error.bad_request": "The request was not valid.",
    "error.bad_sdp": "The audio/video connection parameters were not valid.",
    "error.internal": "Server error.",
    "error.media_unavailable": "Camera or microphone could not be opened; you can still see and hear the other sites.",
    "error.webrtc_failed": "The audio/video connection could not be set up.",
    "error.server_unreachable": "The server cannot be reached.",
    "error.server_restarting": "The server is restarting, reconnecting…",
    "error.unknown": "Something went wrong.",
  },
};

const listeners = new Set();
let current = initialLanguage();

function initialLanguage() {
  const fromUrl = new URLSearchParams(globalThis.location?.search ?? "").get("lang");
  if (LANGUAGES.includes(fromUrl)) return fromUrl;
  try {
    const stored = globalThis.localStorage?.getItem(STORAGE_KEY);
    if (LANGUAGES.includes(stored)) return stored;
  } catch {
    // Storage may be disabled (private mode, file://); Vietnamese is the default anyway.
  }
  return "vi";
}

/** Add a page's own keys: addMessages({vi: {...}, en: {...}}). */
export function addMessages(extra) {
  for (const lang of LANGUAGES) Object.assign(messages[lang], extra[lang] ?? {});
}

export function getLanguage() {
  return current;
}

/** The text for `key` in the current language, with {name} placeholders filled. */
export function t(key, params = {}) {
  const text = messages[current][key] ?? messages.vi[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** Whether `key` exists (so callers can fall back, e.g. for unknown error codes). */
export function has(key) {
  return key in messages[current] || key in messages.vi;
}

/** Fill data-i18n and data-i18n-attr elements under `root`. */
export function applyI18n(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":").map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
  document.documentElement.lang = current;
}

export function setLanguage(lang) {
  if (!LANGUAGES.includes(lang) || lang === current) return;
  current = lang;
  try {
    globalThis.localStorage?.setItem(STORAGE_KEY, lang);
  } catch {
    // Not persisted; the switch still works for this page.
  }
  applyI18n();
  for (const fn of listeners) fn(lang);
}

/** Call `fn(lang)` after every switch; returns a function that unsubscribes. */
export function onLanguageChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Make `button` toggle between Vietnamese and English. */
export function bindLanguageSwitch(button) {
  button.dataset.i18n = "lang.switch";
  button.dataset.i18nAttr = "title:lang.switch.title";
  button.addEventListener("click", () => setLanguage(current === "vi" ? "en" : "vi"));
  applyI18n(button.parentElement ?? document);
}
