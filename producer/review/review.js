// smallcut review page: polls the /v1 API; no framework, no build step.
"use strict";
const $ = (sel) => document.querySelector(sel);
const body = document.body;
const batchId = body.dataset.batch;
const POLL_MS = 1500;
const ITEMS_EVERY_MS = 10000;
let items = [];
let flagged = new Set();

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
async function api(path, opts) {
  const r = await fetch(path, Object.assign({credentials: "same-origin", headers: {"Content-Type": "application/json"}}, opts));
  if (!r.ok) {
    let msg = r.status + "";
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r.json();
}
function pct(b) { return Math.floor((b.progress || 0) * 100); }
function when(t) { return t ? new Date(t * 1000).toLocaleString() : ""; }
function secs(s) { return s == null ? "" : s < 90 ? Math.round(s) + " s" : Math.round(s / 60) + " min"; }
function bar(b, big) {
  const p = pct(b);
  const ok = b.total ? Math.floor(100 * (b.done + b.skipped) / b.total) : 0;
  const cls = b.failed ? "fill failed" : "fill";
  return `<div class="bar${big ? " big" : ""}" data-pct="${p}"><div class="${cls}" style="width:${p}%;--ok:${p ? Math.floor(100 * ok / p) : 0}%"></div><span>${p}%</span></div>`;
}

// finished, still listing, open (event and API batches never close) or an ETA; never an empty cell
function progressText(b) {
  const waiting = b.queued + b.processing;
  if (b.is_finished) return `finished ${b.finished ? "at " + new Date(b.finished * 1000).toLocaleTimeString() + ", " : ""}in ${secs(b.elapsed)}`;
  if (!b.listed && waiting === 0) return b.total ? "open, nothing waiting" : "listing…";
  if (b.eta != null) return `ETA ${secs(b.eta)}`;
  return b.listed ? "estimating…" : "listing…";
}

// ------------------------------------------------------------------ batch list
async function refreshList() {
  const data = await api("/v1/batches?limit=50");
  const rows = data.batches.map((b) => `<tr data-batch="${esc(b.batch)}">
    <td><a href="/batches/${encodeURIComponent(b.batch)}">${esc(b.batch)}</a></td><td>${esc(when(b.created))}</td>
    <td>${bar(b)}</td><td>${b.done}</td><td>${b.failed}</td><td>${b.skipped}</td><td>${b.total}</td>
    <td>${b.throughput.toFixed(2)}/s</td><td class="eta">${esc(progressText(b))}</td></tr>`);
  $("#batch-table tbody").innerHTML = rows.join("");
  $("#no-batches").hidden = rows.length > 0;
}

// ------------------------------------------------------------------ one batch
const PAGE = 500;
let offset = 0;
let total = 0;
let current = -1;  // index of the selected card on this page (keyboard and viewer)

async function refreshBatch() {
  const b = await api(`/v1/batches/${encodeURIComponent(batchId)}`);
  $("#batch-title").textContent = `batch ${b.batch}`;
  const p = pct(b);
  $("#batch-fill").style.width = p + "%";
  $("#batch-fill").className = b.failed ? "fill failed" : "fill";
  const ok = b.total ? 100 * (b.done + b.skipped) / b.total : 0;
  $("#batch-fill").style.setProperty("--ok", (p ? Math.floor(100 * ok / p) : 0) + "%");
  $("#batch-pct").textContent = p + "%";
  $("#batch-fill").parentElement.dataset.pct = p;
  $("#batch-counts").textContent = `${b.done} done, ${b.failed} failed, ${b.skipped} skipped, ` +
    `${b.queued + b.processing} waiting of ${b.total} — ${progressText(b)}`;
  return b;
}
function query() {
  const mode = $("#filter").value;
  const q = new URLSearchParams({offset, limit: PAGE});
  if (["failed", "skipped", "done"].includes(mode)) q.set("state", mode);
  else if (mode === "flagged") q.set("flagged", "true");
  else if (mode === "slowest" || mode === "smallest") q.set("sort", mode);
  return q;
}
let loadSeq = 0;  // answers can arrive out of order (a poll and a filter change): only the newest counts
async function loadItems() {
  const seq = ++loadSeq;
  const page = await api(`/v1/batches/${encodeURIComponent(batchId)}/review?${query()}`);
  if (seq !== loadSeq) return;
  if (page.items.length === 0 && page.total > 0 && offset > 0) {  // the filter shrank below this page
    offset = Math.max(0, Math.floor((page.total - 1) / PAGE) * PAGE);
    return loadItems();
  }
  items = page.items;
  total = page.total;
  const f = await api(`/v1/batches/${encodeURIComponent(batchId)}/flags`);
  if (seq !== loadSeq) return;
  flagged = new Set(f.keys);
  $("#flag-count").textContent = flagged.size;
  const n = (x) => x.toLocaleString("en-US");
  $("#page-info").textContent = total ? `${n(offset + 1)}–${n(offset + items.length)} of ${n(total)}` : "nothing to show";
  $("#prev").disabled = offset === 0;
  $("#next").disabled = offset + items.length >= total;
  current = Math.min(current, items.length - 1);
  renderGallery();
}
function frameShare(f) { return f >= 0.01 ? `${(100 * f).toFixed(0)}%` : `${(100 * f).toFixed(2)}%`; }
const thumb = (url) => `/v1/preview?key=${encodeURIComponent(url)}`;
const full = (url) => `/v1/image?key=${encodeURIComponent(url)}`;
// the outputs of a key's profiles (and objects): each one's profile, canvas, and for an object of a
// split frame its box and area in the photo; the thumbnail is the first (non-zip) one
function outputsLine(o) {
  const outs = o.outputs || [];
  if (!outs.length || (outs.length === 1 && outs[0].profile === "default" && outs[0].object == null)) return "";
  return `<div class="outputs">${outs.map((x) => {
    const obj = x.object != null
      ? ` #${x.object}: box ${x.source_box[2]}×${x.source_box[3]} at ${x.source_box[0]},${x.source_box[1]}, ${x.area.toLocaleString("en-US")} px`
      : "";
    return `<span class="output" title="${esc(x.output)}">${esc(x.profile)}${esc(obj)} · ${x.width}×${x.height}</span>`;
  }).join(" ")}</div>`;
}
function renderGallery() {
  $("#gallery").innerHTML = items.map((o, i) => {
    const isFlagged = flagged.has(o.source);
    const cut = (o.state === "done" || o.state === "skipped") && o.output
      ? `<img class="cut" loading="lazy" alt="cut-out" src="${thumb(o.output)}">`
      : `<div class="empty">${esc(o.state)}</div>`;
    return `<div class="card${isFlagged ? " flagged" : ""}${i === current ? " current" : ""}" tabindex="-1" data-i="${i}"
      data-key="${esc(o.source)}" data-state="${esc(o.state)}">
      <div class="pair"><img loading="lazy" alt="source" src="${thumb(o.source)}">${cut}</div>
      <div class="meta"><div class="key" title="${esc(o.key)}"><bdi>${esc(o.key)}</bdi></div>
        <span class="state-${esc(o.state)}">${esc(o.state)}</span>
        ${o.total_ms != null ? `<span class="ms">· ${Math.round(o.total_ms)} ms</span>` : ""}
        ${o.width ? `<span>· ${o.width}×${o.height}</span>` : ""}
        ${o.objects ? `<span>· ${o.objects} object${o.objects > 1 ? "s" : ""}, smallest ${frameShare(o.min_object_frac)} of the frame</span>` : ""}
        ${outputsLine(o)}</div>
      ${o.state === "failed" ? `<div class="reason">${esc(o.error)}</div>` : ""}
      <button type="button" class="flag">${isFlagged ? "unflag" : "flag"}</button></div>`;
  }).join("");
}
async function toggleFlag(key) {
  const base = `/v1/batches/${encodeURIComponent(batchId)}/flags`;
  if (flagged.has(key)) {
    await api(`${base}?key=${encodeURIComponent(key)}`, {method: "DELETE"});
    flagged.delete(key);
  } else {
    await api(base, {method: "POST", body: JSON.stringify({key})});
    flagged.add(key);
  }
  $("#flag-count").textContent = flagged.size;
  const card = document.querySelector(`.card[data-key="${CSS.escape(key)}"]`);
  if (card) {
    card.classList.toggle("flagged", flagged.has(key));
    card.querySelector("button.flag").textContent = flagged.has(key) ? "unflag" : "flag";
  }
  if (!$("#viewer").hidden) $("#viewer-flag").textContent = flagged.has(key) ? "unflag" : "flag";
}

// ------------------------------------------------------------------ selection, pages, keyboard
function select(i) {
  const cards = document.querySelectorAll(".card");
  if (!cards.length) return;
  current = Math.max(0, Math.min(i, cards.length - 1));
  cards.forEach((c) => c.classList.toggle("current", Number(c.dataset.i) === current));
  cards[current].focus({preventScroll: true});
  cards[current].scrollIntoView({block: "nearest"});
  if (!$("#viewer").hidden) openViewer(current);
}
async function turnPage(delta, selectAt) {
  const next = offset + delta * PAGE;
  if (next < 0 || next >= total) return false;
  offset = next;
  current = -1;
  await loadItems();
  if (selectAt != null) select(selectAt === "last" ? items.length - 1 : selectAt);
  return true;
}
async function move(delta) {
  const i = current + delta;
  if (i >= items.length) { await turnPage(1, 0); return; }
  if (i < 0 && current >= 0) { await turnPage(-1, "last"); return; }
  select(Math.max(0, i));
}

// ------------------------------------------------------------------ full-size before/after with zoom
let zoomMode = "fit";
let objectBox = null;  // [x0, y0, x1, y1] of the cut-out's opaque pixels, in image pixels
function openViewer(i) {
  const o = items[i];
  if (!o) return;
  current = i;
  $("#viewer").hidden = false;
  $("#viewer").dataset.key = o.source;
  $("#viewer-key").textContent = o.key;
  $("#viewer-flag").textContent = flagged.has(o.source) ? "unflag" : "flag";
  objectBox = null;
  $("#viewer").dataset.box = "";
  const before = $("#viewer-before");
  const after = $("#viewer-after");
  before.src = full(o.source);
  if (o.output && (o.state === "done" || o.state === "skipped")) {
    after.hidden = false;
    after.onload = () => { objectBox = opaqueBox(after); $("#viewer").dataset.box = objectBox ? objectBox.join(",") : "none"; applyZoom(); };
    after.src = full(o.output);
  } else {
    after.hidden = true;
    after.removeAttribute("src");
  }
  before.onload = applyZoom;
}
function closeViewer() {
  $("#viewer").hidden = true;
  select(current);
}
// the bounding box of the pixels the cut-out keeps (alpha, or grey level for a mask), read in a canvas
function opaqueBox(img) {
  const w = img.naturalWidth, h = img.naturalHeight;
  const canvas = document.createElement("canvas");
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  ctx.drawImage(img, 0, 0);
  const px = ctx.getImageData(0, 0, w, h).data;
  let x0 = w, y0 = h, x1 = -1, y1 = -1, anyClear = false;
  for (let i = 3; i < px.length; i += 4) if (px[i] < 255) { anyClear = true; break; }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const k = 4 * (y * w + x);
      const kept = anyClear ? px[k + 3] > 127 : px[k] > 127;  // RGBA cut-out, else a grey mask
      if (kept) { if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y; }
    }
  }
  return x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1];
}
function applyZoom() {
  const img = $("#viewer-before");
  const iw = img.naturalWidth, ih = img.naturalHeight;
  if (!iw) return;
  const pane = document.querySelector("#viewer .pane");
  const pw = pane.clientWidth, ph = pane.clientHeight;
  let box = [0, 0, iw, ih];
  if (zoomMode !== "fit" && objectBox) {
    const [x0, y0, x1, y1] = objectBox;
    const m = 0.15 * Math.max(x1 - x0, y1 - y0);  // a margin so the edge is seen against its background
    box = [Math.max(0, x0 - m), Math.max(0, y0 - m), Math.min(iw, x1 + m), Math.min(ih, y1 + m)];
  }
  let scale = Math.min(pw / (box[2] - box[0]), ph / (box[3] - box[1]));
  if (zoomMode === "1:1") scale = 1;
  if (zoomMode === "object") scale = Math.min(scale, 16);
  const cx = (box[0] + box[2]) / 2, cy = (box[1] + box[3]) / 2;
  const t = `translate(${pw / 2 - cx * scale}px, ${ph / 2 - cy * scale}px) scale(${scale})`;
  for (const el of [img, $("#viewer-after")]) el.style.transform = t;
  $("#viewer").dataset.zoom = zoomMode;
  $("#viewer").dataset.scale = scale.toFixed(4);
  document.querySelectorAll("#viewer [data-zoom]").forEach((b) => b.classList.toggle("on", b.dataset.zoom === zoomMode));
}
function setZoom(mode) { zoomMode = mode; applyZoom(); }

function onKey(ev) {
  if (ev.target.closest && ev.target.closest("select, input, textarea")) return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const inViewer = !$("#viewer").hidden;
  const act = {
    ArrowRight: () => move(1), j: () => move(1), ArrowLeft: () => move(-1), k: () => move(-1),
    f: () => current >= 0 && items[current] && toggleFlag(items[current].source),
    n: () => turnPage(1, inViewer ? 0 : null), p: () => turnPage(-1, inViewer ? 0 : null),
    Enter: () => current >= 0 && !inViewer && openViewer(current),
    Escape: () => inViewer && closeViewer(),
    z: () => inViewer && setZoom({fit: "object", object: "1:1", "1:1": "fit"}[zoomMode]),
  }[ev.key];
  if (!act) return;
  ev.preventDefault();
  Promise.resolve(act()).catch((e) => { $("#message").textContent = e.message; });
}

// ------------------------------------------------------------------ wiring
function loop(fn) {
  const tick = async () => {
    let again = true;
    try { again = (await fn()) !== false; } catch (e) { $("#message") && ($("#message").textContent = e.message); }
    if (again) setTimeout(tick, POLL_MS);
  };
  tick();
}
if (body.dataset.login) {
  $("#login").hidden = false;
} else if (!batchId) {
  $("#batches").hidden = false;
  loop(refreshList);
} else {
  $("#batch").hidden = false;
  $("#manifest").href = `/v1/batches/${encodeURIComponent(batchId)}/flags.txt`;
  // the counters poll every 1.5 s; the cards of a running batch at most every 10 s (each page is
  // filtered and sorted over the whole batch on the server), and once more when it finishes
  let lastCompleted = -1;
  let lastLoad = 0;
  loop(async () => {
    const b = await refreshBatch();
    const due = lastCompleted < 0 || b.is_finished || Date.now() - lastLoad > ITEMS_EVERY_MS;
    if (b.completed !== lastCompleted && due) {
      lastCompleted = b.completed;
      lastLoad = Date.now();
      await loadItems();
    }
    return true;
  });
  $("#filter").addEventListener("change", () => {
    offset = 0;
    current = -1;
    $("#gallery").innerHTML = "";  // no card of the previous filter stays clickable while the next loads
    $("#page-info").textContent = "loading…";
    loadItems().catch((e) => { $("#message").textContent = e.message; });
  });
  $("#prev").addEventListener("click", () => turnPage(-1));
  $("#next").addEventListener("click", () => turnPage(1));
  document.addEventListener("keydown", onKey);
  $("#gallery").addEventListener("error", (ev) => {  // an unreadable source has no thumbnail
    if (ev.target.tagName === "IMG") {
      const d = document.createElement("div");
      d.className = "empty";
      d.textContent = "no preview";
      ev.target.replaceWith(d);
    }
  }, true);
  $("#gallery").addEventListener("click", (ev) => {
    const card = ev.target.closest(".card");
    if (!card) return;
    const btn = ev.target.closest("button.flag");
    if (btn) {
      toggleFlag(card.dataset.key).catch((e) => { $("#message").textContent = e.message; });
    } else {
      select(Number(card.dataset.i));
      openViewer(current);
    }
  });
  document.querySelectorAll("#viewer [data-zoom]").forEach((b) => b.addEventListener("click", () => setZoom(b.dataset.zoom)));
  $("#viewer-flag").addEventListener("click", () => items[current] && toggleFlag(items[current].source));
  $("#viewer-prev").addEventListener("click", () => move(-1));
  $("#viewer-next").addEventListener("click", () => move(1));
  $("#viewer-close").addEventListener("click", closeViewer);
  window.addEventListener("resize", () => { if (!$("#viewer").hidden) applyZoom(); });
  $("#retry").addEventListener("click", async () => {
    try {
      const r = await api(`/v1/batches/${encodeURIComponent(batchId)}/retry-failed`, {method: "POST"});
      $("#message").textContent = `${r.queued} failed objects queued again`;
    } catch (e) { $("#message").textContent = e.message; }
  });
}
