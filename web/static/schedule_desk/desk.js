// The standalone scheduler's desk (/desk): who is signed in, the language switch, sign
// out, and the desk itself from the home page's scheduler module.
//
// The page works on the sign-in session: GET /api/me (401: to the sign-in page and back
// here); the desk sends the session's CSRF token with every request that changes state.

import { applyI18n, bindLanguageSwitch, onLanguageChange, t } from "/static/shared/i18n.js";
import { renderScheduler } from "/static/home/scheduler.js";
import { api, setSignedOutHandler } from "/static/home/util.js";
import { showError } from "/static/home/scheduler_util.js";

const $ = (id) => document.getElementById(id);

function toSignIn() {
  location.replace(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
}

async function signOut() {
  $("signout").disabled = true;
  try {
    await api("/api/logout", { method: "POST" });
  } catch (error) {
    if (error.status !== 401) {
      $("signout").disabled = false;
      showError($("page-error"), error);
      return;
    }
  }
  location.replace("/login");
}

async function start() {
  bindLanguageSwitch($("lang"));
  applyI18n();
  setSignedOutHandler(toSignIn);
  let me;
  try {
    me = await api("/api/me");
  } catch (error) {
    if (error.status !== 401) showError($("page-error"), error);
    return;
  }
  if (me.must_change_password) {
    toSignIn();
    return;
  }
  $("signout").addEventListener("click", signOut);
  const desk = await renderScheduler($("desk-main"), me);
  const header = () => {
    const site = desk.calendar ? desk.calendar.tree.name(me.site) : me.site;
    $("desk-who").textContent = t("desk.who", { name: me.display_name, site });
    document.title = t("desk.page.title");
  };
  header();
  onLanguageChange(header);
  window.rbDesk = desk;
}

start();
