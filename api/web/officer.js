"use strict";
// Officer review page: lists tickets, shows sealed evidence, records confirm/reject with a reason.

const I18N = {
  zh: {
    title: "非现场执法 · 违法线索审核", officer: "审核人", officerPlaceholder: "执法人员姓名/编号",
    pending: "待审核", confirmed: "已确认", rejected: "已驳回", all: "全部",
    notice: "AI 识别结果仅为线索，须经执法人员审核确认后方可作为处罚依据。",
    camera: "点位", zone: "区域", time: "时间", object: "目标", statusLabel: "状态",
    reasonPlaceholder: "审核意见（必填）", confirm: "确认违法", reject: "驳回",
    empty: "暂无工单", needReason: "请填写审核意见", needActor: "请填写审核人",
    decidedBy: "审核", beijing: "(北京时间)", loadFailed: "加载失败：", langButton: "English",
    ongoing: "仍在持续", endedAt: "结束于", tampered: "证据校验失败，不能确认：", evidenceNote: "证据说明：",
    kinds: { muck_truck: "渣土车未密闭", street_stall: "占道经营", shared_bike_misparked: "共享单车乱停放" },
    statuses: { pending_review: "待审核", confirmed: "已确认违法", rejected: "已驳回" },
    actions: { confirm: "确认", reject: "驳回" },
    artifacts: { original_clip: "原始视频", snapshot: "原始截图", annotated_snapshot: "标注截图", crop: "目标截图", plate_crop: "车牌截图", manifest: "证据清单", manifest_signature: "清单签名" },
  },
  en: {
    title: "Non-site enforcement · Review queue", officer: "Officer", officerPlaceholder: "Officer name / ID",
    pending: "Pending", confirmed: "Confirmed", rejected: "Rejected", all: "All",
    notice: "AI findings are only leads: an officer must review and confirm them before they can support a penalty.",
    camera: "Camera", zone: "Zone", time: "Time", object: "Object", statusLabel: "Status",
    reasonPlaceholder: "Review note (required)", confirm: "Confirm violation", reject: "Reject",
    empty: "No tickets", needReason: "Please enter a review note", needActor: "Please enter the officer",
    decidedBy: "Decided", beijing: "(Beijing time)", loadFailed: "Could not load: ", langButton: "中文",
    ongoing: "still ongoing", endedAt: "ended", tampered: "Evidence fails its integrity check, cannot be confirmed: ",
    evidenceNote: "Evidence note: ",
    kinds: { muck_truck: "Uncovered muck truck", street_stall: "Street stall", shared_bike_misparked: "Misparked shared bike" },
    statuses: { pending_review: "Pending review", confirmed: "Confirmed", rejected: "Rejected" },
    actions: { confirm: "confirmed", reject: "rejected" },
    artifacts: { original_clip: "Original clip", snapshot: "Snapshot", annotated_snapshot: "Annotated", crop: "Object crop", plate_crop: "Plate crop", manifest: "Manifest", manifest_signature: "Manifest signature" },
  },
};

let lang = localStorage.getItem("nonsite.lang") || "zh";
const t = () => I18N[lang];

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t()[el.dataset.i18n]; });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t()[el.dataset.i18nPlaceholder]; });
  document.getElementById("lang-toggle").textContent = t().langButton;
  document.title = t().title;
}

// Cases are judged in Beijing time whatever the browser's own zone is.
function formatTime(iso) {
  const text = new Date(iso).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { timeZone: "Asia/Shanghai", hour12: false });
  return `${text} ${t().beijing}`;
}

function show(message) { document.getElementById("message").textContent = message || ""; }

async function api(path, options = {}) {
  const response = await authFetch(path, { headers: { "Content-Type": "application/json" }, ...options });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ") : body.detail;
    throw new Error(`${response.status}: ${detail || response.statusText}`);
  }
  return body;
}

function renderTicket(ticket) {
  const node = document.getElementById("ticket-template").content.firstElementChild.cloneNode(true);
  node.dataset.ticketId = ticket.id;
  node.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t()[el.dataset.i18n]; });
  node.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t()[el.dataset.i18nPlaceholder]; });
  const byKind = Object.fromEntries(ticket.artifacts.map((a) => [a.kind, a]));
  const still = byKind.annotated_snapshot || byKind.snapshot;
  const img = node.querySelector(".snapshot");
  if (still) { img.src = still.url; img.alt = t().artifacts[still.kind]; } else { img.remove(); }
  const video = node.querySelector(".clip");
  if (byKind.original_clip) { video.src = byKind.original_clip.url; } else { video.remove(); }
  node.querySelector(".kind").textContent = t().kinds[ticket.kind] || ticket.kind;
  node.querySelector(".ticket-id").textContent = `#${ticket.id}`;
  node.querySelector(".camera").textContent = ticket.camera;
  node.querySelector(".zone").textContent = ticket.zone;
  const ended = ticket.state === "ended" && ticket.ended_at ? `${t().endedAt} ${formatTime(ticket.ended_at)}` : t().ongoing;
  node.querySelector(".time").textContent = `${formatTime(ticket.captured_at)} · ${ended}`;
  const notes = Object.values(ticket.violation.notes || {});
  if (notes.length) { warn(node, t().evidenceNote + notes.join("; ")); }
  node.querySelector(".object").textContent = `${ticket.label} · track ${ticket.track_id}`;
  const status = node.querySelector(".status");
  status.textContent = t().statuses[ticket.status];
  status.classList.add(ticket.status);
  const list = node.querySelector(".evidence");
  ticket.artifacts.forEach((a) => {
    const li = document.createElement("li");
    const link = document.createElement("a");
    link.href = a.url; link.target = "_blank"; link.textContent = t().artifacts[a.kind] || a.kind;
    li.append(link, ` sha256 ${a.sha256.slice(0, 16)}…`);
    list.append(li);
  });
  const decision = ticket.decisions[ticket.decisions.length - 1];
  if (decision) {
    node.querySelector(".decision-form").remove();
    node.querySelector(".decision").textContent =
      `${t().decidedBy}: ${decision.actor} ${t().actions[decision.action]} · ${formatTime(decision.decided_at)} · ${decision.reason}`;
  } else {
    node.querySelector(".confirm").addEventListener("click", () => decide(ticket.id, "confirm", node));
    node.querySelector(".reject").addEventListener("click", () => decide(ticket.id, "reject", node));
    checkIntegrity(ticket.id, node);
  }
  return node;
}

function warn(node, text) {
  const line = document.createElement("p");
  line.className = "warning";
  line.textContent = text;
  node.querySelector(".info").insertBefore(line, node.querySelector(".evidence"));
}

// The server re-hashes the evidence; a ticket whose evidence no longer matches its seal cannot be confirmed.
async function checkIntegrity(ticketId, node) {
  try {
    const report = await api(`/api/v1/tickets/${ticketId}/integrity`);
    if (!report.ok) {
      warn(node, t().tampered + report.problems.join("; "));
      node.classList.add("tampered");
      node.querySelector(".confirm").disabled = true;
    }
  } catch (error) {
    warn(node, t().loadFailed + error.message);
  }
}

async function decide(ticketId, action, node) {
  const reason = node.querySelector(".reason").value.trim();
  if (reason.length < 2) { show(t().needReason); node.querySelector(".reason").focus(); return; }
  try {
    const ticket = await api(`/api/v1/tickets/${ticketId}/${action}`, { method: "POST", body: JSON.stringify({ reason }) });
    show("");
    node.replaceWith(renderTicket(ticket));
  } catch (error) {
    show(error.message);
  }
}

async function load() {
  const filter = document.getElementById("status-filter").value;
  const query = filter ? `?status=${filter}&limit=100` : "?limit=100";
  const container = document.getElementById("tickets");
  try {
    const page = await api(`/api/v1/tickets${query}`);
    container.replaceChildren(...page.items.map(renderTicket));
    if (!page.items.length) { container.textContent = t().empty; }
    show("");
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
document.getElementById("status-filter").addEventListener("change", load);
session.lang = () => lang;
session.onSignedIn = load;  // the decision's actor is whoever signed in: the server takes it from the token
applyLanguage();
renderWhoAmI();
load();
