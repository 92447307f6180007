"use strict";
// Signing in, shared by the pages. The sign-in answer carries a short-lived token (kept for this tab only and
// sent as a Bearer header with every change) and sets an HttpOnly cookie, which the server accepts for reads
// only: it is what lets <img>, <video> and the alert stream load evidence.

const SIGNIN_TEXT = {
  zh: { heading: "登录", username: "用户名", password: "密码", submit: "登录", failed: "登录失败：", signedInAs: "当前用户", signOut: "退出",
        roles: { officer: "执法人员", auditor: "审计员", operator: "运维人员", legal_reviewer: "法制审核", admin: "管理员", pipeline: "分析服务" } },
  en: { heading: "Sign in", username: "User name", password: "Password", submit: "Sign in", failed: "Sign-in failed: ", signedInAs: "Signed in as", signOut: "Sign out",
        roles: { officer: "officer", auditor: "auditor", operator: "operator", legal_reviewer: "legal reviewer", admin: "admin", pipeline: "pipeline" } },
};

const session = {
  token: sessionStorage.getItem("nonsite.token"),
  user: JSON.parse(sessionStorage.getItem("nonsite.user") || "null"),
  onSignedIn: () => {},
  lang: () => "zh",
};

function signinText() { return SIGNIN_TEXT[session.lang()]; }

async function authFetch(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (session.token) { headers.Authorization = `Bearer ${session.token}`; }
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) { askToSignIn(); }
  return response;
}

function renderWhoAmI() {
  const box = document.getElementById("whoami");
  if (!box) { return; }
  box.replaceChildren();
  if (!session.user) { return; }
  const name = document.createElement("span");
  name.className = "user";
  name.textContent = `${signinText().signedInAs}: ${session.user.username} (${signinText().roles[session.user.role] || session.user.role})`;
  const out = document.createElement("button");
  out.type = "button";
  out.id = "sign-out";
  out.textContent = signinText().signOut;
  out.addEventListener("click", async () => {
    await fetch("/api/v1/auth/logout", { method: "POST" });
    sessionStorage.removeItem("nonsite.token");
    sessionStorage.removeItem("nonsite.user");
    session.token = null;
    session.user = null;
    renderWhoAmI();
    askToSignIn();
  });
  box.append(name, out);
}

function askToSignIn() {
  let dialog = document.getElementById("signin");
  if (!dialog) {
    dialog = document.createElement("dialog");
    dialog.id = "signin";
    dialog.innerHTML = `<form method="dialog"><h2></h2>
      <label><span class="u"></span> <input name="username" autocomplete="username" required></label>
      <label><span class="p"></span> <input name="password" type="password" autocomplete="current-password" required></label>
      <p class="error" role="alert"></p><button type="submit"></button></form>`;
    document.body.append(dialog);
    dialog.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = event.target;
      const response = await fetch("/api/v1/auth/token", { method: "POST", body: new URLSearchParams(new FormData(form)) });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        form.querySelector(".error").textContent = signinText().failed + (body.detail || response.statusText);
        return;
      }
      session.token = body.access_token;
      session.user = body.user;
      sessionStorage.setItem("nonsite.token", session.token);
      sessionStorage.setItem("nonsite.user", JSON.stringify(session.user));
      form.reset();
      form.querySelector(".error").textContent = "";
      dialog.close();
      renderWhoAmI();
      session.onSignedIn();
    });
  }
  dialog.querySelector("h2").textContent = signinText().heading;
  dialog.querySelector(".u").textContent = signinText().username;
  dialog.querySelector(".p").textContent = signinText().password;
  dialog.querySelector("button").textContent = signinText().submit;
  if (!dialog.open) { dialog.showModal(); }
}
