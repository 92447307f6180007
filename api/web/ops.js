"use strict";
// Operations centre: channel grid (status, snapshot, rates, time analysed per enforcement window),
// live alerts pushed by the server (Server-Sent Events) and today's counts per kind.

const I18N = {
  zh: {
    title: "城运中心 · 实时监控", connecting: "正在连接实时推送…", live: "实时推送已连接", lost: "推送中断，正在重连…",
    integrityFailed: "证据完整性校验失败", reviewLink: "审核工作台", today: "今日线索", channels: "通道状态", alerts: "实时告警", langButton: "English",
    total: "合计", noChannels: "暂无通道上报", noAlerts: "暂无新告警", loadFailed: "加载失败：",
    inputFps: "输入", analysedFps: "分析", fps: "帧/秒", dropped: "丢帧", reconnects: "重连",
    lastFrame: "最新画面", never: "尚无画面", stale: "（管线无上报）", analysedOf: "已分析", beijing: "(北京时间)",
    status: { online: "在线", stalled: "卡顿", reconnecting: "重连中", offline: "离线" },
    kinds: { muck_truck: "渣土车未密闭", street_stall: "占道经营", shared_bike_misparked: "共享单车乱停放" },
    plate: "车牌", recordStream: "录像主码流",
  },
  en: {
    integrityFailed: "Evidence failed its fixity check", title: "Operations centre · Live", connecting: "Connecting to live alerts…", live: "Live alerts connected",
    lost: "Live alerts lost, reconnecting…", reviewLink: "Review queue", today: "Today", channels: "Channels",
    alerts: "Live alerts", langButton: "中文", total: "Total", noChannels: "No channel has reported yet",
    noAlerts: "No new alerts", loadFailed: "Could not load: ", inputFps: "in", analysedFps: "analysed", fps: "fps",
    dropped: "dropped", reconnects: "reconnects", lastFrame: "Last frame", never: "no frame yet",
    stale: " (no report from the pipeline)", analysedOf: "analysed", beijing: "(Beijing time)",
    status: { online: "online", stalled: "stalled", reconnecting: "reconnecting", offline: "offline" },
    kinds: { muck_truck: "Uncovered muck truck", street_stall: "Street stall", shared_bike_misparked: "Misparked shared bike" },
    plate: "plate", recordStream: "main (evidence) stream",
  },
};

let lang = localStorage.getItem("nonsite.lang") || "zh";
const t = () => I18N[lang];
const alerts = [];  // newest first, as received (kept to re-render on a language switch)
const integrityAlerts = [];  // evidence found missing or altered by the fixity check, newest first
let streamState = "connecting";

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t()[el.dataset.i18n]; });
  document.getElementById("lang-toggle").textContent = t().langButton;
  document.title = t().title;
  setStreamState(streamState);
}

function formatTime(iso) {
  const text = new Date(iso).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { timeZone: "Asia/Shanghai", hour12: false });
  return `${text} ${t().beijing}`;
}

function show(message) { document.getElementById("message").textContent = message || ""; }

async function getJson(path) {
  const response = await authFetch(path);
  if (!response.ok) { throw new Error(`${response.status} ${response.statusText}`); }
  return response.json();
}

function duration(seconds) {
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(Math.floor(seconds % 60)).padStart(2, "0")}s`;
}

function renderChannel(channel) {
  const node = document.getElementById("channel-template").content.firstElementChild.cloneNode(true);
  node.dataset.camera = channel.camera_id;
  node.classList.add(channel.status);
  const img = node.querySelector(".snapshot");
  if (channel.snapshot_url) { img.src = channel.snapshot_url; img.alt = channel.camera_id; }  // versioned URL: cached until it changes
  node.querySelector(".camera").textContent = channel.camera_id;
  node.querySelector(".badge").textContent = t().status[channel.status] + (channel.stale ? t().stale : "");
  node.querySelector(".rates").textContent =
    `${t().inputFps} ${channel.input_fps.toFixed(1)} · ${t().analysedFps} ${channel.analysed_fps.toFixed(1)} ${t().fps}` +
    ` · ${t().dropped} ${channel.dropped} · ${t().reconnects} ${channel.reconnects}`;
  node.querySelector(".last-frame").textContent =
    `${t().lastFrame}: ${channel.last_frame_at ? formatTime(channel.last_frame_at) : t().never}`;
  const newest = {};
  channel.windows.forEach((w) => { newest[w.rule] = w; });
  const list = node.querySelector(".windows");
  Object.values(newest).forEach((w) => {
    const li = document.createElement("li");
    li.className = "window";
    const share = w.elapsed_s > 0 ? Math.min(100, Math.round((100 * w.analysed_s) / w.elapsed_s)) : 0;
    li.textContent = `${w.rule}: ${t().analysedOf} ${duration(w.analysed_s)} / ${duration(w.elapsed_s)} (${share}%)`;
    list.append(li);
  });
  const problems = [channel.last_error];
  if (channel.record_status && channel.record_status !== "online") {
    problems.push(`${t().recordStream}: ${t().status[channel.record_status]} ${channel.record_error || ""}`);
  }
  node.querySelector(".error").textContent = problems.filter(Boolean).join(" · ");
  return node;
}

function renderAlert(alert, fresh) {
  const node = document.getElementById("alert-template").content.firstElementChild.cloneNode(true);
  node.dataset.ticketId = alert.ticket_id;
  if (fresh) { node.classList.add("new"); }
  const img = node.querySelector(".thumb");
  if (alert.snapshot_url) { img.src = alert.snapshot_url; img.alt = t().kinds[alert.kind] || alert.kind; } else { img.remove(); }
  node.querySelector(".kind").textContent = t().kinds[alert.kind] || alert.kind;
  node.querySelector(".ticket-link").textContent = `#${alert.ticket_id}`;
  node.querySelector(".where").textContent =
    `${alert.camera} · ${alert.zone} · ${alert.label}` + (alert.plate ? ` · ${t().plate} ${alert.plate}` : "");
  node.querySelector(".when").textContent = formatTime(alert.captured_at);
  return node;
}

function renderIntegrityAlert(failure, fresh) {
  const node = document.getElementById("alert-template").content.firstElementChild.cloneNode(true);
  node.classList.add("integrity");
  if (fresh) { node.classList.add("new"); }
  node.querySelector(".thumb").remove();
  node.querySelector(".kind").textContent = t().integrityFailed;
  node.querySelector(".ticket-link").textContent = `#${failure.ticket_id}`;
  node.querySelector(".where").textContent =
    `${failure.camera} · ${failure.kind} ${failure.sha256.slice(0, 12)}… · ${failure.problem}`;
  node.querySelector(".when").textContent = formatTime(failure.detected_at);
  return node;
}

function renderAlerts() {
  const list = document.getElementById("alerts");
  if (!alerts.length && !integrityAlerts.length) { list.textContent = t().noAlerts; return; }
  list.replaceChildren(
    ...integrityAlerts.map((f) => renderIntegrityAlert(f, false)), ...alerts.map((a) => renderAlert(a, false)));
}

async function loadChannels() {
  try {
    const page = await getJson("/api/v1/channels");
    const grid = document.getElementById("channels");
    grid.replaceChildren(...page.items.map(renderChannel));
    if (!page.items.length) { grid.textContent = t().noChannels; }
    const counts = document.getElementById("channel-counts");
    counts.replaceChildren(...Object.entries(page.counts).map(([status, n]) => {
      const li = document.createElement("li");
      li.className = `count-${status}`;
      li.textContent = `${t().status[status]} ${n}`;
      return li;
    }));
    show("");
  } catch (error) {
    show(t().loadFailed + error.message);
  }
}

async function loadToday() {
  try {
    const stats = await getJson("/api/v1/stats/today");
    const list = document.getElementById("today-counts");
    const items = Object.keys(I18N.zh.kinds).map((kind) => [kind, stats.by_kind[kind] || 0]);
    list.replaceChildren(...items.map(([kind, n]) => {
      const li = document.createElement("li");
      li.dataset.kind = kind;
      li.textContent = `${t().kinds[kind]} ${n}`;
      return li;
    }), Object.assign(document.createElement("li"), { className: "total", textContent: `${t().total} ${stats.total}` }));
  } catch (error) {
    show(t().loadFailed + error.message);
  }
}

function setStreamState(state) {
  streamState = state;
  const badge = document.getElementById("stream-state");
  badge.className = `stream-state ${state}`;
  badge.textContent = t()[state];
}

// The newest alerts first, then the stream from just after them. The browser reconnects by itself and sends
// Last-Event-ID, so an alert filed while it was away still arrives.
async function connect() {
  let after = "";
  try {
    const recent = await getJson("/api/v1/alerts?limit=20");
    alerts.push(...recent);
    renderAlerts();
    after = `?after=${recent.length ? recent[0].ticket_id : 0}`;
  } catch (error) {
    show(t().loadFailed + error.message);
  }
  const source = new EventSource(`/api/v1/alerts/stream${after}`);
  source.addEventListener("ready", () => setStreamState("live"));
  source.addEventListener("alert", (event) => {
    const alert = JSON.parse(event.data);
    if (alerts.some((a) => a.ticket_id === alert.ticket_id)) { return; }
    alerts.unshift(alert);
    alerts.splice(200);
    const list = document.getElementById("alerts");
    if (alerts.length === 1) { list.replaceChildren(); }
    list.prepend(renderAlert(alert, true));
    while (list.children.length > alerts.length) { list.lastElementChild.remove(); }  // a wall screen runs for weeks
    loadToday();
  });
  source.addEventListener("integrity", (event) => {
    integrityAlerts.unshift(JSON.parse(event.data));
    integrityAlerts.splice(50);
    renderAlerts();
  });
  source.addEventListener("error", () => {
    setStreamState("lost");
    if (source.readyState === EventSource.CLOSED) {  // an HTTP error: the browser gives up, so try again ourselves
      source.close();
      setTimeout(connect, 5000);
    }
  });
}

document.getElementById("lang-toggle").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("nonsite.lang", lang);
  applyLanguage();
  renderWhoAmI();
  renderAlerts();
  loadChannels();
  loadToday();
});
session.lang = () => lang;
session.onSignedIn = () => { loadChannels(); loadToday(); };  // the alert stream retries by itself
applyLanguage();
renderWhoAmI();
renderAlerts();
loadChannels();
loadToday();
setInterval(loadChannels, 5000);
connect();
