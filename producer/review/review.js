// smallcut review page: polls the /v1 API; no framework, no build step.
"use strict";
const $ = (sel) => document.querySelector(sel);
const body = document.body;
const batchId = body.dataset.batch;
const POLL_MS = 1500;
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

// ------------------------------------------------------------------ batch list
async function refreshList() {
  const data = await api("/v1/batches?limit=50");
  const rows = data.batches.map((b) => `<tr data-batch="${esc(b.batch)}">
    <td><a href="/batches/${encodeURIComponent(b.batch)}">${esc(b.batch)}</a></td><td>${esc(when(b.created))}</td>
    <td>${bar(b)}</td><td>${b.done}</td><td>${b.failed}</td><td>${b.skipped}</td><td>${b.total}</td>
    <td>${b.throughput.toFixed(2)}/s</td><td>${b.is_finished ? "finished" : esc(secs(b.eta))}</td></tr>`);
  $("#batch-table tbody").innerHTML = rows.join("");
  $("#no-batches").hidden = rows.length > 0;
}

// ------------------------------------------------------------------ one batch
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
    `${b.queued + b.processing} waiting of ${b.total}` + (b.is_finished ? ` — finished in ${secs(b.elapsed)}` : b.eta != null ? ` — ETA ${secs(b.eta)}` : "");
  return b;
}
async function loadItems() {
  const all = [];
  let cursor = 0;
  do {
    const page = await api(`/v1/batches/${encodeURIComponent(batchId)}/items?limit=500&cursor=${cursor}`);
    all.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && all.length < 5000);
  items = all;
  const f = await api(`/v1/batches/${encodeURIComponent(batchId)}/flags`);
  flagged = new Set(f.keys);
  $("#flag-count").textContent = flagged.size;
  renderGallery();
}
function frameShare(f) { return f >= 0.01 ? `${(100 * f).toFixed(0)}%` : `${(100 * f).toFixed(2)}%`; }
function total(t) { return Object.entries(t || {}).filter(([k]) => k !== "head").reduce((a, [, v]) => a + v, 0); }
function renderGallery() {
  const mode = $("#filter").value;
  let list = items.slice();
  if (mode === "failed" || mode === "skipped") list = list.filter((o) => o.state === mode);
  else if (mode === "flagged") list = list.filter((o) => flagged.has(o.source));
  else if (mode === "slowest") list = list.filter((o) => o.timings).sort((a, b) => total(b.timings) - total(a.timings));
  // the smallest cut-out region relative to its frame: where small objects vanish or come out ragged
  else if (mode === "smallest") list = list.filter((o) => o.objects > 0).sort((a, b) => a.min_object_frac - b.min_object_frac);
  else list.sort((a, b) => a.key.localeCompare(b.key));
  const thumb = (url) => `/v1/preview?key=${encodeURIComponent(url)}`;
  $("#gallery").innerHTML = list.slice(0, 500).map((o) => {
    const isFlagged = flagged.has(o.source);
    const cut = o.state === "done" || o.state === "skipped"
      ? `<img class="cut" loading="lazy" alt="cut-out" src="${thumb(o.output)}">`
      : `<div class="empty">${esc(o.state)}</div>`;
    return `<div class="card${isFlagged ? " flagged" : ""}" data-key="${esc(o.source)}" data-state="${esc(o.state)}">
      <div class="pair"><img loading="lazy" alt="source" src="${thumb(o.source)}">${cut}</div>
      <div class="meta"><b>${esc(o.key)}</b> <span class="state-${esc(o.state)}">${esc(o.state)}</span>
        ${o.timings ? `· ${Math.round(total(o.timings))} ms` : ""} ${o.width ? `· ${o.width}×${o.height}` : ""}
        ${o.objects ? `· ${o.objects} object${o.objects > 1 ? "s" : ""}, smallest ${frameShare(o.min_object_frac)} of the frame` : ""}</div>
      ${o.state === "failed" ? `<div class="reason">${esc(o.error)}</div>` : ""}
      <button type="button" class="flag">${isFlagged ? "unflag" : "flag"}</button></div>`;
  }).join("");
}
async function toggleFlag(card) {
  const key = card.dataset.key;
  const base = `/v1/batches/${encodeURIComponent(batchId)}/flags`;
  if (flagged.has(key)) {
    await api(`${base}?key=${encodeURIComponent(key)}`, {method: "DELETE"});
    flagged.delete(key);
  } else {
    await api(base, {method: "POST", body: JSON.stringify({key})});
    flagged.add(key);
  }
  $("#flag-count").textContent = flagged.size;
  renderGallery();
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
  let lastCompleted = -1;
  loop(async () => {
    const b = await refreshBatch();
    if (b.completed !== lastCompleted) { lastCompleted = b.completed; await loadItems(); }
    return true;
  });
  $("#filter").addEventListener("change", renderGallery);
  $("#gallery").addEventListener("error", (ev) => {  // an unreadable source has no thumbnail
    if (ev.target.tagName === "IMG") {
      const d = document.createElement("div");
      d.className = "empty";
      d.textContent = "no preview";
      ev.target.replaceWith(d);
    }
  }, true);
  $("#gallery").addEventListener("click", (ev) => {
    const btn = ev.target.closest("button.flag");
    if (btn) toggleFlag(btn.closest(".card")).catch((e) => { $("#message").textContent = e.message; });
  });
  $("#retry").addEventListener("click", async () => {
    try {
      const r = await api(`/v1/batches/${encodeURIComponent(batchId)}/retry-failed`, {method: "POST"});
      $("#message").textContent = `${r.queued} failed objects queued again`;
    } catch (e) { $("#message").textContent = e.message; }
  });
}
