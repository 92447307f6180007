"use strict";
// Auditor page: replays a case (evidence, the audit timeline) and runs on it the checks of `nonsite verify`.

const I18N = {
  zh: {
    title: "非现场执法 · 证据审计", verifyLog: "核验审计日志", langButton: "English",
    notice: "每个案件的证据、审核记录与审计日志均可离线核验：导出案件包后运行 nonsite verify。",
    pick: "请从左侧选择案件", checks: "核验项目", check: "项目", result: "结果", details: "说明",
    timeline: "审计时间线", when: "时间", who: "人员", what: "操作", outcome: "结果", export: "导出案件包（zip）",
    pass: "通过", fail: "未通过", verified: "核验通过：证据、签名与审计记录均完整", notVerified: "核验未通过：",
    logIntact: "审计日志完整", logBroken: "审计日志异常：", entries: "条记录", loadFailed: "加载失败：",
    empty: "暂无案件", beijing: "(北京时间)",
    kinds: { muck_truck: "渣土车未密闭", street_stall: "占道经营", shared_bike_misparked: "共享单车乱停放" },
    statuses: { pending_review: "待审核", confirmed: "已确认违法", rejected: "已驳回" },
    outcomes: { ok: "成功", refused: "被拒绝", failed: "校验失败" },
    actions: {
      "ticket.created": "AI 立案", "ticket.event": "AI 更新", "ticket.viewed": "查看案件", "ticket.integrity_checked": "证据校验",
      "evidence.downloaded": "调阅证据", "ticket.exported": "导出案件", "ticket.verified": "核验案件包",
      "ticket.confirmed": "确认违法", "ticket.rejected": "驳回",
    },
    checkNames: {
      "index-signature": "案件包目录签名", "keys-trusted": "签名密钥", files: "文件完整性（SHA-256）",
      "manifest-signature": "证据清单签名", "manifest-covers-evidence": "清单覆盖全部证据", "audit-checkpoint": "审计检查点签名",
      "audit-inclusion": "审计记录包含证明", "audit-complete": "审计记录齐全", "decision-recorded": "审核决定有记录",
    },
  },
  en: {
    title: "Non-site enforcement · Evidence audit", verifyLog: "Verify the audit log", langButton: "中文",
    notice: "Every case's evidence, decisions and audit entries can be verified offline: export the case, then run nonsite verify.",
    pick: "Choose a case on the left", checks: "Checks", check: "Check", result: "Result", details: "Details",
    timeline: "Audit timeline", when: "When", who: "Who", what: "Action", outcome: "Outcome", export: "Export the case (zip)",
    pass: "pass", fail: "FAIL", verified: "Verified: evidence, signatures and audit entries are intact", notVerified: "Not verified: ",
    logIntact: "The audit log is intact", logBroken: "The audit log does not verify: ", entries: "entries", loadFailed: "Could not load: ",
    empty: "No cases", beijing: "(Beijing time)",
    kinds: { muck_truck: "Uncovered muck truck", street_stall: "Street stall", shared_bike_misparked: "Misparked shared bike" },
    statuses: { pending_review: "Pending review", confirmed: "Confirmed", rejected: "Rejected" },
    outcomes: { ok: "ok", refused: "refused", failed: "failed" },
    actions: {
      "ticket.created": "filed by the AI", "ticket.event": "updated by the AI", "ticket.viewed": "viewed",
      "ticket.integrity_checked": "integrity checked", "evidence.downloaded": "evidence opened", "ticket.exported": "exported",
      "ticket.verified": "bundle verified", "ticket.confirmed": "confirmed", "ticket.rejected": "rejected",
    },
    checkNames: {
      "index-signature": "Bundle index signature", "keys-trusted": "Signing keys", files: "Files intact (SHA-256)",
      "manifest-signature": "Manifest signature", "manifest-covers-evidence": "Manifest lists all evidence",
      "audit-checkpoint": "Audit checkpoint signature", "audit-inclusion": "Audit entries proven in the log",
      "audit-complete": "No audit entry missing", "decision-recorded": "Decision recorded",
    },
  },
};

let lang = localStorage.getItem("nonsite.lang") || "zh";
let selected = null;
const t = () => I18N[lang];

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t()[el.dataset.i18n]; });
  document.getElementById("lang-toggle").textContent = t().langButton;
  document.title = t().title;
}

function formatTime(iso) {
  const text = new Date(iso).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { timeZone: "Asia/Shanghai", hour12: false });
  return `${text} ${t().beijing}`;
}

function show(message) { document.getElementById("message").textContent = message || ""; }

async function api(path) {
  const response = await authFetch(path);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) { throw new Error(`${response.status}: ${body.detail || response.statusText}`); }
  return body;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) { td.className = className; }
  row.append(td);
}

async function openCase(ticket) {
  selected = ticket.id;
  document.querySelectorAll("#cases button").forEach((b) => b.classList.toggle("selected", Number(b.dataset.ticketId) === ticket.id));
  const node = document.getElementById("case-template").content.firstElementChild.cloneNode(true);
  node.dataset.ticketId = ticket.id;
  node.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t()[el.dataset.i18n]; });
  node.querySelector(".kind").textContent = t().kinds[ticket.kind] || ticket.kind;
  node.querySelector(".ticket-id").textContent = `#${ticket.id} · ${ticket.camera}`;
  node.querySelector(".status").textContent = t().statuses[ticket.status];
  const byKind = Object.fromEntries(ticket.artifacts.map((a) => [a.kind, a]));
  const still = byKind.annotated_snapshot || byKind.snapshot;
  if (still) { node.querySelector(".snapshot").src = still.url; } else { node.querySelector(".snapshot").remove(); }
  if (byKind.original_clip) { node.querySelector(".clip").src = byKind.original_clip.url; } else { node.querySelector(".clip").remove(); }
  node.querySelector(".export").href = `/api/v1/tickets/${ticket.id}/export`;
  document.getElementById("case").replaceChildren(node);
  try {
    const report = await api(`/api/v1/tickets/${ticket.id}/verification`);
    const verdict = node.querySelector(".verdict");
    const failed = report.checks.filter((c) => !c.ok);
    verdict.className = `verdict ${report.ok ? "pass" : "fail"}`;
    verdict.textContent = report.ok ? t().verified : t().notVerified + failed.map((c) => t().checkNames[c.name] || c.name).join("、");
    const body = node.querySelector(".checks tbody");
    report.checks.forEach((c) => {
      const row = document.createElement("tr");
      row.dataset.check = c.name;
      cell(row, t().checkNames[c.name] || c.name);
      cell(row, c.ok ? t().pass : t().fail, c.ok ? "pass" : "fail");
      cell(row, [...c.problems, c.detail].filter(Boolean).join("; "));
      body.append(row);
    });
    const timeline = await api(`/api/v1/tickets/${ticket.id}/audit`);
    const rows = node.querySelector(".timeline tbody");
    timeline.entries.forEach(({ entry }) => {
      const row = document.createElement("tr");
      row.dataset.action = entry.action;
      cell(row, String(entry.seq));
      cell(row, formatTime(entry.at));
      cell(row, `${entry.actor} (${signinText().roles[entry.role] || entry.role})`);
      const note = entry.detail.reason ? ` · ${entry.detail.reason}` : "";
      cell(row, (t().actions[entry.action] || entry.action) + note);
      cell(row, t().outcomes[entry.outcome] || entry.outcome, entry.outcome === "ok" ? "pass" : "fail");
      rows.append(row);
    });
    show("");
  } catch (error) {
    show(t().loadFailed + error.message);
  }
}

async function load() {
  const list = document.getElementById("cases");
  try {
    const page = await api("/api/v1/tickets?limit=200");
    list.replaceChildren(...page.items.map((ticket) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.ticketId = ticket.id;
      button.textContent = `#${ticket.id} ${t().kinds[ticket.kind] || ticket.kind} · ${t().statuses[ticket.status]}`;
      button.addEventListener("click", () => openCase(ticket));
      li.append(button);
      return li;
    }));
    if (!page.items.length) { list.textContent = t().empty; }
    const again = page.items.find((ticket) => ticket.id === selected);
    if (again) { openCase(again); }
    show("");
  } catch (error) {
    show(t().loadFailed + error.message);
  }
}

async function verifyLog() {
  const box = document.getElementById("log-result");
  try {
    const report = await api("/api/v1/audit/verify");
    box.className = report.ok ? "pass" : "fail";
    box.textContent = report.ok
      ? `${t().logIntact} (${report.entries} ${t().entries})`
      : t().logBroken + report.findings.map((f) => (f.position ? `#${f.position} ` : "") + f.problem).join("; ");
  } catch (error) {
    show(t().loadFailed + error.message);
  }
}

document.getElementById("lang-toggle").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("nonsite.lang", lang);
  applyLanguage();
  renderWhoAmI();
  load();
});
document.getElementById("verify-log").addEventListener("click", verifyLog);
session.lang = () => lang;
session.onSignedIn = load;
applyLanguage();
renderWhoAmI();
load();
