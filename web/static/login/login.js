// The sign-in page: user name and password, then (with a one-time password) a new
// password, then on to ?next= (a path of this site only) or the home page.
//
// The form's anti-forgery value is the rb_login cookie the server set with this page;
// it goes back in X-CSRF-Token. After sign-in the session's own CSRF token is used.

import "/static/home/messages.js";
import { addMessages, applyI18n, bindLanguageSwitch, t } from "/static/shared/i18n.js";
import { api, safeNext, setCsrfToken, showError } from "/static/home/util.js";

addMessages({
  vi: {
    "login.page.title": "Đăng nhập — Tiếp công dân trực tuyến",
    "login.title": "Đăng nhập",
    "login.intro": "Dành cho cán bộ các Ban Tiếp công dân và phòng tiếp công dân trực tuyến.",
    "login.user": "Tên đăng nhập",
    "login.password": "Mật khẩu",
    "login.show": "Hiện mật khẩu",
    "login.submit": "Đăng nhập",
    "login.busy": "Đang đăng nhập…",
    "login.help": "Quên mật khẩu hoặc tài khoản bị khóa? Vui lòng liên hệ quản trị viên của đơn vị để được cấp lại mật khẩu.",
    "login.public": "Xem lịch tiếp công dân công khai",
    "err.missing": "Vui lòng nhập tên đăng nhập và mật khẩu.",
    "err.no_cookie": "Trình duyệt đang chặn cookie nên không đăng nhập được. Vui lòng cho phép cookie với trang này rồi tải lại trang.",
    "pw.title": "Đặt mật khẩu mới",
    "pw.intro": "Bạn đang dùng mật khẩu dùng một lần do quản trị viên cấp. Vui lòng đặt mật khẩu mới trước khi tiếp tục.",
    "pw.who": "Tài khoản: {name} ({user})",
    "pw.old": "Mật khẩu hiện tại",
    "pw.new": "Mật khẩu mới (ít nhất 10 ký tự)",
    "pw.hint": "Nên dùng một cụm từ dễ nhớ với mình nhưng khó đoán với người khác; không dùng tên đăng nhập.",
    "pw.confirm": "Nhập lại mật khẩu mới",
    "pw.submit": "Lưu mật khẩu mới",
    "pw.busy": "Đang lưu…",
    "err.pw_mismatch": "Hai lần nhập mật khẩu mới không khớp nhau.",
    "err.pw_old_missing": "Vui lòng nhập mật khẩu hiện tại.",
  },
  en: {
    "login.page.title": "Sign in — Online citizen reception",
    "login.title": "Sign in",
    "login.intro": "For the staff of citizen reception offices and online reception rooms.",
    "login.user": "User name",
    "login.password": "Password",
    "login.show": "Show the password",
    "login.submit": "Sign in",
    "login.busy": "Signing in…",
    "login.help": "Forgot your password, or locked out? Ask your office's administrator for a new one.",
    "login.public": "Public reception schedule",
    "err.missing": "Enter your user name and password.",
    "err.no_cookie": "The browser blocks cookies, so you cannot sign in. Allow cookies for this site and reload the page.",
    "pw.title": "Choose a new password",
    "pw.intro": "You signed in with a one-time password from your administrator. Choose a new password before you go on.",
    "pw.who": "Account: {name} ({user})",
    "pw.old": "Current password",
    "pw.new": "New password (at least 10 characters)",
    "pw.hint": "A phrase easy for you to remember and hard for others to guess; not your user name.",
    "pw.confirm": "New password again",
    "pw.submit": "Save the new password",
    "pw.busy": "Saving…",
    "err.pw_mismatch": "The two new passwords differ.",
    "err.pw_old_missing": "Enter your current password.",
  },
});

const $ = (id) => document.getElementById(id);
const next = safeNext(new URLSearchParams(location.search).get("next") ?? "/");
let me = null;
let oneTimePassword = ""; // typed just now: the "old" password of the change that follows

function loginCookie() {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === "rb_login") return decodeURIComponent(rest.join("="));
  }
  return "";
}

function busy(button, key, on) {
  button.disabled = on;
  button.textContent = t(key);
  button.setAttribute("aria-busy", on ? "true" : "false");
}

function goOn() {
  location.replace(next);
}

function showChange({ askOld }) {
  $("signin").hidden = true;
  $("change").hidden = false;
  $("old-field").hidden = !askOld;
  $("change-who").textContent = me ? t("pw.who", { name: me.display_name, user: me.user }) : "";
  (askOld ? $("old") : $("new")).focus();
}

async function signIn(event) {
  event.preventDefault();
  const errorBox = $("signin-error");
  const user = $("user").value.trim().toLowerCase();
  const password = $("password").value;
  if (!user || !password) {
    showError(errorBox, { code: "missing" });
    (user ? $("password") : $("user")).focus();
    return;
  }
  const csrf = loginCookie();
  if (!csrf) {
    showError(errorBox, { code: "no_cookie" });
    return;
  }
  showError(errorBox, null);
  busy($("signin-submit"), "login.busy", true);
  try {
    me = await api("/api/login", { method: "POST", body: { user, password }, csrf });
  } catch (error) {
    busy($("signin-submit"), "login.submit", false);
    showError(errorBox, error);
    $("password").value = "";
    $("password").focus();
    return;
  }
  setCsrfToken(me.csrf_token);
  if (me.must_change_password) {
    oneTimePassword = password;
    $("password").value = "";
    showChange({ askOld: false });
    return;
  }
  goOn();
}

async function changePassword(event) {
  event.preventDefault();
  const errorBox = $("change-error");
  const askOld = !$("old-field").hidden;
  const old = askOld ? $("old").value : oneTimePassword;
  const fresh = $("new").value;
  let problem = null;
  if (!old) problem = "pw_old_missing";
  else if (fresh.length < 10) problem = "password_too_short";
  else if (fresh !== $("confirm").value) problem = "pw_mismatch";
  else if (fresh === old) problem = "password_unchanged";
  if (problem) {
    showError(errorBox, { code: problem });
    (problem === "pw_old_missing" ? $("old") : problem === "pw_mismatch" ? $("confirm") : $("new")).focus();
    return;
  }
  showError(errorBox, null);
  busy($("change-submit"), "pw.busy", true);
  try {
    me = await api("/api/me/password", { method: "POST", body: { old, new: fresh } });
  } catch (error) {
    busy($("change-submit"), "pw.submit", false);
    showError(errorBox, error);
    if (error.code === "bad_credentials") {
      // The one-time password no longer matches (reset meanwhile): ask for it.
      $("old-field").hidden = false;
      $("old").value = "";
      $("old").focus();
    } else if (error.status === 401) {
      // The sign-in session ended: start again.
      $("change").hidden = true;
      $("signin").hidden = false;
      $("password").focus();
    }
    return;
  }
  oneTimePassword = "";
  goOn();
}

function start() {
  bindLanguageSwitch($("lang"));
  applyI18n();
  $("show-password").addEventListener("change", (event) => {
    $("password").type = event.target.checked ? "text" : "password";
  });
  $("signin-form").addEventListener("submit", signIn);
  $("change-form").addEventListener("submit", changePassword);
  // Already signed in (another tab, or back here): go on, or finish the password change.
  api("/api/me").then(
    (found) => {
      me = found;
      setCsrfToken(me.csrf_token);
      if (me.must_change_password) showChange({ askOld: true });
      else goOn();
    },
    () => {},
  );
}

start();
