// rayrlhf annotate: one query at a time. Keys and rules are described on the page (index.html) and in docs/annotate.md.
"use strict";

const TOKEN_KEY = "rayrlhf-annotate-token";
const state = { token: null, query: null, best: null, worst: null, rank: [], rankAll: false, busy: false, pollTimer: null };
const $ = (id) => document.getElementById(id);

function readToken() {
  const params = new URLSearchParams(window.location.search);
  if (params.has("token")) {
    sessionStorage.setItem(TOKEN_KEY, params.get("token"));
    history.replaceState(null, "", window.location.pathname);  // keep the token out of the address bar and history
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function show(id, on) { $(id).hidden = !on; }
function setError(msg) { $("error").textContent = msg || ""; show("error", !!msg); }
function setNotice(msg) { $("notice").textContent = msg || ""; show("notice", !!msg); }

async function api(method, path, body) {
  const init = { method, headers: { Authorization: "Bearer " + state.token } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (res.status === 401) {
    setError((data && data.detail) || "your token was refused");
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    showLogin();
  }
  return { status: res.status, ok: res.ok, data };
}

function showLogin() {
  show("task", false); show("empty", false); show("login", true);
  $("token-input").focus();
}

function renderProgress(p) {
  if (!p) return;
  const people = p.people || {};
  const idle = people.people_span_s > 0
    ? ` · people idle ${Math.round(100 * people.people_idle_share)}% of iteration ${people.iteration}` : "";
  $("progress").textContent = `${p.annotator}: ${p.answered_by_you} answered · queue: ${p.waiting} waiting, ${p.done} of ${p.total} done${idle}`;
}

function canSubmit() {
  const k = state.query ? state.query.responses.length : 0;
  return state.rankAll ? state.rank.length === k : state.best !== null && state.worst !== null;
}

function tagFor(slot) {
  if (state.rankAll) {
    const pos = state.rank.indexOf(slot);
    return pos < 0 ? "" : `#${pos + 1}`;
  }
  return slot === state.best ? "BEST" : slot === state.worst ? "WORST" : "";
}

function renderQuery() {
  const q = state.query;
  $("prompt").textContent = q.prompt;
  const list = $("responses");
  list.replaceChildren();
  q.responses.forEach((text, slot) => {
    const li = document.createElement("li");
    li.className = "response";
    li.dataset.slot = slot;
    const head = document.createElement("div");
    head.className = "head";
    const num = document.createElement("span");
    num.className = "num";
    num.textContent = slot + 1;
    const tag = document.createElement("span");
    tag.className = "tag";
    const best = document.createElement("button");
    best.className = "pick-best"; best.textContent = "Best"; best.type = "button";
    best.addEventListener("click", () => mark("best", slot));
    const worst = document.createElement("button");
    worst.className = "pick-worst"; worst.textContent = "Worst"; worst.type = "button";
    worst.addEventListener("click", () => mark("worst", slot));
    const body = document.createElement("pre");
    body.className = "text";
    body.textContent = text;
    head.append(num, tag, best, worst);
    li.append(head, body);
    list.append(li);
  });
  refreshMarks();
}

function refreshMarks() {
  document.querySelectorAll("#responses .response").forEach((li) => {
    const slot = Number(li.dataset.slot);
    const tag = tagFor(slot);
    li.querySelector(".tag").textContent = tag;
    li.classList.toggle("best", state.rankAll ? state.rank[0] === slot : slot === state.best);
    li.classList.toggle("worst", state.rankAll ? state.rank.length > 1 && state.rank[state.rank.length - 1] === slot && state.rank.length === state.query.responses.length : slot === state.worst);
    li.querySelectorAll("button").forEach((b) => { b.hidden = state.rankAll; });
  });
  $("mode-label").textContent = state.rankAll ? "(rank all: press numbers best to worst)" : "(mark the best and the worst)";
  $("rank-mode").checked = state.rankAll;
  $("submit").disabled = !canSubmit() || state.busy;
}

function clearMarks() { state.best = null; state.worst = null; state.rank = []; refreshMarks(); }

function mark(kind, slot) {
  const k = state.query.responses.length;
  const other = kind === "best" ? "worst" : "best";
  state[kind] = state[kind] === slot ? null : slot;
  if (state[other] === slot) state[other] = null;
  if (k === 2 && state[kind] !== null) state[other] = 1 - slot;
  refreshMarks();
}

function press(slot) {
  const k = state.query.responses.length;
  if (slot >= k) return;
  if (state.rankAll) {
    if (state.rank.includes(slot)) return;
    state.rank.push(slot);
    if (state.rank.length === k - 1) state.rank.push([...Array(k).keys()].find((s) => !state.rank.includes(s)));
    refreshMarks();
  } else if (slot === state.best || slot === state.worst) {
    mark(slot === state.best ? "best" : "worst", slot);
  } else {
    mark(state.best === null ? "best" : "worst", slot);
  }
}

function showQuery(q, p) {
  renderProgress(p);
  state.query = q;
  state.best = null; state.worst = null; state.rank = [];
  if (state.pollTimer) { clearTimeout(state.pollTimer); state.pollTimer = null; }
  if (!q) {
    show("task", false); show("empty", true);
    state.pollTimer = setTimeout(loadNext, 5000);
    return;
  }
  show("empty", false); show("login", false); show("task", true);
  renderQuery();
}

async function loadNext() {
  const r = await api("GET", "/api/next");
  if (r.status === 401) return;
  if (!r.ok) { setError((r.data && r.data.detail) || `the server answered ${r.status}`); return; }
  showQuery(r.data.query, r.data.progress);
}

async function send(body, doneMessage) {
  if (state.busy) return;
  state.busy = true; refreshMarks();
  try {
    const r = await api("POST", "/api/answer", body);
    if (r.status === 401) return;
    if (r.ok) { setError(""); setNotice(doneMessage); await loadNext(); return; }
    const detail = (r.data && r.data.detail) || `the server answered ${r.status}`;
    if (r.status === 409 || r.status === 404) { setNotice(detail); setError(""); await loadNext(); return; }
    setError(detail);
  } catch (e) {
    setError("could not reach the annotation server: " + e);
  } finally {
    state.busy = false;
    if (state.query) refreshMarks();
  }
}

function submit() {
  if (!state.query || !canSubmit()) return;
  const body = { query_id: state.query.query_id };
  if (state.rankAll) body.ranking = state.rank; else { body.best = state.best; body.worst = state.worst; }
  send(body, "Saved.");
}

function skip() { if (state.query) send({ query_id: state.query.query_id, skip: true }, "Skipped."); }

async function undo() {
  const r = await api("POST", "/api/undo");
  if (r.status === 401) return;
  if (!r.ok) { setError((r.data && r.data.detail) || `the server answered ${r.status}`); return; }
  setError(""); setNotice("Your last answer was undone: answer it again.");
  showQuery(r.data.query, r.data.progress);
}

function toggleRankAll() { state.rankAll = !state.rankAll; clearMarks(); }

function onKey(ev) {
  if (ev.target instanceof HTMLInputElement && ev.target.type !== "checkbox") return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const key = ev.key;
  if (key === "u" || key === "U") { ev.preventDefault(); undo(); return; }
  if (!state.query) return;
  if (/^[1-9]$/.test(key)) { press(Number(key) - 1); }
  else if (key === "Enter") { submit(); }
  else if (key === "s" || key === "S") { skip(); }
  else if (key === "Escape") { clearMarks(); }
  else if (key === "r" || key === "R") { toggleRankAll(); }
  else if (key === "Backspace" && state.rankAll) { state.rank.pop(); refreshMarks(); }
  else return;
  ev.preventDefault();
}

function start() {
  $("submit").addEventListener("click", submit);
  $("skip").addEventListener("click", skip);
  $("undo").addEventListener("click", undo);
  $("clear").addEventListener("click", clearMarks);
  $("rank-mode").addEventListener("change", () => { state.rankAll = $("rank-mode").checked; clearMarks(); $("rank-mode").blur(); });
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = $("token-input").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    state.token = token;
    $("token-input").value = "";
    show("login", false);
    loadNext();
  });
  document.addEventListener("keydown", onKey);
  state.token = readToken();
  if (state.token) loadNext(); else showLogin();
}

document.addEventListener("DOMContentLoaded", start);
