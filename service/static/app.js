// confrec's page (docs/web-ui.md): sign in once with a token, then list your batches and
// follow one live. No framework, no build step, nothing from another host. The token is
// sent once, to POST /v1/session; after that the HttpOnly session cookie authenticates
// every call and the event stream, and each call that changes something carries the
// X-Confrec-CSRF header. What the server sends goes into the page as text, never as HTML.

const $ = (id) => document.getElementById(id);
const CSRF = { "X-Confrec-CSRF": "1" };
const JOBS_PER_PAGE = 100;
const BATCHES_PER_PAGE = 50;
const RECONNECT_MS = 5000;

class SignedOut extends Error {}

let generation = 0; // bumped by every view change: late answers of the old view are dropped
let stream = null;
let reconnectTimer = null;

// ---- HTTP --------------------------------------------------------------------------------

async function api(method, path) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") Object.assign(headers, CSRF);
  const response = await fetch(path, {
    method, headers, credentials: "same-origin", cache: "no-store",
  });
  if (response.status === 401) {
    showSignIn();
    throw new SignedOut();
  }
  const text = await response.text();
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch { doc = null; }
  if (!response.ok) {
    const first = doc && Array.isArray(doc.errors) ? doc.errors[0] : null;
    const error = new Error(first ? `${first.title}: ${first.detail}` : `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return doc;
}

function report(error) {
  if (error instanceof SignedOut) return;
  setStatus(error.message || String(error), true);
}

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

// ---- small DOM helpers -------------------------------------------------------------------

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function cell(value, className) {
  return el("td", value === null || value === undefined ? "–" : value, className);
}

function show(section) {
  for (const id of ["sign-in", "batches", "batch"]) $(id).hidden = id !== section;
}

function when(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace(/(\+00:00|Z)$/, " UTC") : "–";
}

function safeHref(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch { return null; }
}

function labelsCell(labels) {
  const td = el("td");
  for (const [key, value] of Object.entries(labels || {})) {
    td.append(el("span", `${key}=${value}`, "label"), " ");
  }
  return td;
}

function throttled(work, ms) {
  // Runs `work` at most once per `ms`; a call while it runs runs it once more after.
  let timer = null;
  let running = false;
  let again = false;
  const run = async () => {
    timer = null;
    running = true;
    again = false;
    try { await work(); } catch (error) { report(error); }
    running = false;
    if (again) schedule();
  };
  const schedule = () => {
    if (running) again = true;
    else if (!timer) timer = setTimeout(run, ms);
  };
  return schedule;
}

// ---- signing in and out ------------------------------------------------------------------

function showSignIn() {
  generation += 1;
  closeStream();
  $("sign-out").hidden = true;
  show("sign-in");
  setStatus("");
  $("token").focus();
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("token");
  const token = input.value.trim();
  input.value = "";
  $("sign-in-error").textContent = "";
  try {
    const response = await fetch("/v1/session", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, ...CSRF },
      credentials: "same-origin",
      cache: "no-store",
    });
    if (!response.ok) {
      $("sign-in-error").textContent = response.status === 401
        ? "That token is not accepted." : `Signing in failed (HTTP ${response.status}).`;
      return;
    }
  } catch {
    $("sign-in-error").textContent = "Signing in failed: the token cannot be sent as given, "
      + "or the service does not answer.";
    return;
  }
  route();
});

$("sign-out").addEventListener("click", async () => {
  try { await api("DELETE", "/v1/session"); } catch (error) { report(error); }
  showSignIn();
});

// ---- the event stream --------------------------------------------------------------------

function closeStream() {
  clearTimeout(reconnectTimer);
  if (stream) stream.close();
  stream = null;
}

function openStream(batch, onEvent, lastEventId = "") {
  closeStream();
  const gen = generation;
  const params = new URLSearchParams();
  if (batch) params.set("batch", batch);
  if (lastEventId) params.set("last_event_id", lastEventId);
  const query = params.toString();
  const source = new EventSource(`/v1/events${query ? `?${query}` : ""}`);
  let last = lastEventId;
  stream = source;
  const live = $("live");
  const take = (kind) => (event) => {
    last = event.lastEventId || last;
    let data = null;
    try { data = JSON.parse(event.data); } catch { return; }
    onEvent(kind, data);
  };
  for (const kind of ["outcome", "recording", "gap"]) source.addEventListener(kind, take(kind));
  // `ready` comes first on every (re)connection, once the stream's place is fixed: from
  // then on nothing that happens is missed.
  source.addEventListener("ready", (event) => {
    last = event.lastEventId || last;
    live.textContent = "live";
    live.className = "live on";
    onEvent("ready", null);
  });
  source.onerror = () => {
    if (source.readyState !== EventSource.CLOSED) {
      live.textContent = "reconnecting";
      live.className = "live";
      return;
    }
    // Refused (signed out, the batch gone, too many streams): ask why, then try again.
    live.textContent = "offline";
    live.className = "live off";
    api("GET", "/v1/batches?limit=1").catch(report);
    reconnectTimer = setTimeout(() => {
      if (gen === generation) openStream(batch, onEvent, last);
    }, RECONNECT_MS);
  };
}

// ---- the list of batches -----------------------------------------------------------------

let batchCursor = null;

function progressCell(batch) {
  const td = el("td");
  const bar = el("progress");
  bar.max = batch.total || 1;
  bar.value = batch.states.finished;
  td.append(bar, " ", `${batch.states.finished}/${batch.total}`);
  return td;
}

function batchRow(batch) {
  const tr = el("tr");
  tr.dataset.batch = batch.batch;
  const link = el("a", batch.batch);
  link.href = `#/batches/${encodeURIComponent(batch.batch)}`;
  const first = el("td");
  first.append(link);
  tr.append(
    first, cell(when(batch.created_at)), progressCell(batch), cell(batch.total, "num"),
    cell(batch.statuses.succeeded, "num"), cell(batch.statuses.failed, "num"),
    cell(batch.recordings.saved, "num"),
  );
  return tr;
}

async function loadBatches(gen, more) {
  const params = new URLSearchParams({ limit: String(BATCHES_PER_PAGE) });
  if (more && batchCursor) params.set("cursor", batchCursor);
  const doc = await api("GET", `/v1/batches?${params}`);
  if (gen !== generation) return;
  const rows = $("batch-rows");
  if (!more) rows.replaceChildren();
  for (const batch of doc.batches) rows.append(batchRow(batch));
  batchCursor = doc.cursor;
  $("more-batches").hidden = !doc.cursor;
  $("no-batches").hidden = rows.children.length > 0;
  $("sign-out").hidden = false;
  setStatus("");
}

function openList() {
  const gen = generation;
  show("batches");
  document.title = "confrec — batches";
  const refresh = throttled(() => loadBatches(gen, false), 1000);
  openStream(null, () => refresh());
  loadBatches(gen, false).catch(report);
  $("more-batches").onclick = () => loadBatches(gen, true).catch(report);
}

// ---- one batch ---------------------------------------------------------------------------

const COUNTS = {
  states: ["queued", "running", "finished"],
  statuses: ["succeeded", "failed"],
  reasons: ["rejected", "retries_exhausted", "invalid"],
  recordings: ["saved", "pending", "not_saved", "unknown", "ambiguous"],
};

function batchLink(id) {
  const link = el("a", id);
  link.href = `#/batches/${encodeURIComponent(id)}`;
  return link;
}

function renderSummary(batch) {
  const { finished } = batch.states;
  $("progress").max = batch.total || 1;
  $("progress").value = finished;
  $("progress-text").textContent = `${finished} of ${batch.total} finished`
    + (batch.in_flight ? "" : " — done");
  for (const [group, names] of Object.entries(COUNTS)) {
    for (const name of names) $(`count-${name}`).textContent = batch[group][name];
  }
  $("count-already_done").textContent = batch.already_done;
  $("batch-meta").textContent = `created ${when(batch.created_at)}`
    + (batch.batch_key ? ` · batch key ${batch.batch_key}` : "");
  const links = $("batch-links");
  links.replaceChildren();
  if (batch.retry_of) links.append("Retry of ", batchLink(batch.retry_of), ". ");
  if (Array.isArray(batch.retries) && batch.retries.length) {
    links.append("Retried as ");
    batch.retries.forEach((id, i) => links.append(i ? ", " : "", batchLink(id)));
    links.append(".");
  }
  const retry = $("retry");
  retry.disabled = retry.dataset.busy === "1" || batch.statuses.failed === 0;
}

function jobsPath(batch, status, cursor) {
  const params = new URLSearchParams({ status, limit: String(JOBS_PER_PAGE) });
  const label = $("label-filter").value.trim();
  if (label) params.set("label", label);
  if (cursor) params.set("cursor", cursor);
  return `/v1/batches/${encodeURIComponent(batch)}/jobs?${params}`;
}

function errorsCell(errors) {
  const td = el("td");
  for (const e of errors || []) {
    const line = el("div", null, "telnyx-error");
    line.append(el("code", e.code), " ", el("strong", e.title));
    if (e.detail) line.append(" — ", e.detail);
    td.append(line);
  }
  return td;
}

function failureRow(job) {
  const tr = el("tr");
  tr.dataset.job = job.job_id;
  tr.title = `job ${job.job_id}` + (job.retry_of ? `, retry of ${job.retry_of}` : "");
  tr.append(
    cell(job.seq, "num"), cell(job.conference_id), labelsCell(job.labels),
    cell(job.reason, "reason"), cell(job.http_status, "num"), errorsCell(job.errors),
    cell(job.attempts, "num"),
  );
  return tr;
}

function recordingsCell(job) {
  const td = el("td");
  for (const rec of job.recordings || []) {
    const line = el("div");
    const urls = rec.recording_urls || rec.public_recording_urls || {};
    line.append(el("code", (rec.recording_id || "").slice(0, 8)), " ");
    for (const [format, url] of Object.entries(urls)) {
      const href = url ? safeHref(url) : null;
      if (!href) continue;
      const link = el("a", format, "download");
      link.href = href;
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      line.append(link, " ");
    }
    if (rec.links_expire_at) line.append(el("span", `links expire ${when(rec.links_expire_at)}`, "muted"));
    td.append(line);
  }
  return td;
}

function recordingRow(job) {
  const tr = el("tr");
  tr.dataset.job = job.job_id;
  tr.title = `job ${job.job_id}`;
  const state = job.recording_state + (job.recording_reason ? ` (${job.recording_reason})` : "");
  tr.append(
    cell(job.seq, "num"), cell(job.conference_id), labelsCell(job.labels), cell(state),
    recordingsCell(job),
  );
  return tr;
}

function jobTable(name, status, keep, row) {
  // One paged table of the batch's jobs; `keep` also filters here, so a label filter that
  // the server applies alone still shows only this table's jobs.
  let cursor = null;
  return async (gen, batch, more) => {
    const doc = await api("GET", jobsPath(batch, status(), more ? cursor : null));
    if (gen !== generation) return;
    const rows = $(`${name}-rows`);
    if (!more) rows.replaceChildren();
    for (const job of doc.jobs.filter(keep)) rows.append(row(job));
    cursor = doc.cursor;
    $(`more-${name}`).hidden = !doc.cursor;
    $(`no-${name}`).hidden = rows.children.length > 0;
  };
}

const loadFailures = jobTable("failures", () => "failed", (j) => j.status === "failed", failureRow);
const recordingFilter = () => $("recording-filter").value;
const loadRecordings = jobTable(
  "recordings", recordingFilter, (j) => j.recording_state === recordingFilter(), recordingRow,
);

function addEvent(kind, data) {
  const list = $("events");
  let text;
  if (kind === "outcome") {
    text = `#${data.seq ?? "?"} ${data.conference_id}: ${data.status} ${data.reason}`;
  } else if (kind === "recording") {
    text = `${data.conference_id}: recording ${data.state}`;
  } else {
    text = "events were trimmed before they could be read; the counts were read again";
  }
  const item = el("li", text, `event ${kind}`);
  item.dataset.kind = kind;
  list.prepend(item);
  while (list.children.length > 50) list.lastChild.remove();
}

async function loadSummary(gen, batch) {
  try {
    const doc = await api("GET", `/v1/batches/${encodeURIComponent(batch)}`);
    if (gen !== generation) return;
    renderSummary(doc);
    setStatus("");
  } catch (error) {
    if (error.status === 404 && gen === generation) {
      setStatus(`No batch ${batch} (or not yours, or expired).`, true);
      return;
    }
    throw error;
  }
}

function openBatch(batch) {
  const gen = generation;
  show("batch");
  document.title = `confrec — batch ${batch}`;
  $("batch-id").textContent = batch;
  $("events").replaceChildren();
  $("retry-result").replaceChildren();
  $("live").textContent = "connecting";
  $("live").className = "live";
  const summary = throttled(() => loadSummary(gen, batch), 300);
  const jobs = throttled(
    () => Promise.all([loadFailures(gen, batch, false), loadRecordings(gen, batch, false)]), 1000,
  );
  openStream(batch, (kind, data) => {
    if (kind !== "ready") addEvent(kind, data);
    summary(); // after a (re)connection too: what happened while it was down is counted
    jobs();
  });
  loadSummary(gen, batch).catch(report);
  loadFailures(gen, batch, false).catch(report);
  loadRecordings(gen, batch, false).catch(report);
  $("more-failures").onclick = () => loadFailures(gen, batch, true).catch(report);
  $("more-recordings").onclick = () => loadRecordings(gen, batch, true).catch(report);
  $("recording-filter").onchange = () => loadRecordings(gen, batch, false).catch(report);
  $("label-filter").onchange = () => jobs();
  $("retry").onclick = () => retry(gen, batch, summary);
}

function jobName(jobId) {
  // "#3 conference" when the job is in the failures table, else its id.
  for (const row of $("failures-rows").children) {
    if (row.dataset.job === jobId) return `#${row.cells[0].textContent} ${row.cells[1].textContent}`;
  }
  return jobId;
}

async function retry(gen, batch, refresh) {
  const button = $("retry");
  button.disabled = true;
  button.dataset.busy = "1";
  const out = $("retry-result");
  out.replaceChildren("Retrying…");
  try {
    const doc = await api("POST", `/v1/batches/${encodeURIComponent(batch)}/retry`);
    if (gen !== generation) return;
    out.replaceChildren();
    const head = el("p", `Retried ${doc.retried.length}`, "retried");
    if (doc.retry_batch) head.append(" into batch ", batchLink(doc.retry_batch));
    head.append(`; ${doc.uncertain.length} not retried.`);
    out.append(head);
    if (doc.uncertain.length) {
      const list = el("ul", null, "uncertain");
      for (const u of doc.uncertain) list.append(el("li", `${jobName(u.job_id)}: ${u.reason}`));
      out.append(list);
    }
  } catch (error) {
    out.replaceChildren();
    report(error);
  } finally {
    button.dataset.busy = "";
    refresh();
  }
}

// ---- routing -----------------------------------------------------------------------------

function route() {
  generation += 1;
  closeStream();
  const match = location.hash.match(/^#\/batches\/(.+)$/);
  if (match) openBatch(decodeURIComponent(match[1]));
  else openList();
}

window.addEventListener("hashchange", route);
route();
