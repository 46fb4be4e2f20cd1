// tfstyle web page: send the form to /api/jobs, poll the job, show and offer the result.
"use strict";

const $ = (id) => document.getElementById(id);
let current = null;      // id of the job this tab is waiting for
let resultUrl = null;    // object URL of the last result (revoked when replaced)
const previewUrls = [];

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

function setStatus(text) { $("status").textContent = text; }

function busy(on) {
  $("run").disabled = on;
  $("cancel").disabled = !on;
  $("progress").hidden = !on;
}

async function detail(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
    return JSON.stringify(body.detail);
  } catch (e) {
    return `the server answered ${response.status} ${response.statusText}`;
  }
}

function styleEntries() {
  // uploaded styles first, then saved ones: the order the weights are sent in
  const uploaded = Array.from($("style").files).map((f) => ({ name: f.name, url: URL.createObjectURL(f) }));
  const saved = Array.from(document.querySelectorAll("#saved input:checked"))
    .map((c) => ({ name: c.value, url: c.dataset.url }));
  return uploaded.concat(saved);
}

function refreshInputs() {
  previewUrls.splice(0).forEach((u) => URL.revokeObjectURL(u));
  const content = $("content").files[0];
  const img = $("content-preview");
  if (content) {
    img.src = URL.createObjectURL(content);
    previewUrls.push(img.src);
    img.hidden = false;
    img.onerror = () => { img.hidden = true; };
  } else {
    img.hidden = true;
  }
  const styles = styleEntries();
  const box = $("style-previews");
  box.replaceChildren(...styles.map((s) => {
    const el = document.createElement("img");
    el.src = s.url;
    el.alt = s.name;
    el.onerror = () => { el.hidden = true; };
    if (s.url.startsWith("blob:")) previewUrls.push(s.url);
    return el;
  }));
  const weights = $("weights");
  const old = {};
  weights.querySelectorAll("input").forEach((i) => { old[i.dataset.name] = i.value; });
  weights.replaceChildren(...styles.map((s) => {
    const label = document.createElement("label");
    const input = document.createElement("input");
    Object.assign(input, { type: "range", min: "0", max: "1", step: "0.05", value: old[s.name] || "1" });
    input.dataset.name = s.name;
    label.append(input, " " + s.name);
    return label;
  }));
  $("weights-box").hidden = styles.length < 2;
}

function dropInto(zoneId, inputId, multiple) {
  const zone = $(zoneId);
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const files = Array.from(e.dataTransfer.files);
    if (!files.length) return;
    const list = new DataTransfer();
    (multiple ? files : files.slice(0, 1)).forEach((f) => list.items.add(f));
    $(inputId).files = list.files;
    refreshInputs();
  });
}

async function loadInfo() {
  const info = await (await fetch("/api/info")).json();
  const engine = $("engine");
  engine.replaceChildren(...info.engines.map((name) => new Option(name, name, false, name === info.engine_default)));
  const lim = info.limits;
  Object.assign($("size"), { min: lim.min_size, max: lim.max_size, value: lim.default_size });
  $("limits").textContent = `${lim.types.join(", ")}; up to ${lim.max_upload_mb} MB and ` +
    `${(lim.max_pixels / 1e6).toFixed(0)} MP per image; up to ${lim.max_styles} styles.`;
  const saved = $("saved");
  saved.replaceChildren(...info.styles.map((s) => {
    const label = document.createElement("label");
    const box = Object.assign(document.createElement("input"), { type: "checkbox", name: "saved", value: s.name });
    box.dataset.url = s.url;
    box.addEventListener("change", refreshInputs);
    const img = Object.assign(document.createElement("img"), { src: s.url, alt: s.name, loading: "lazy" });
    label.append(img, box, s.name);
    return label;
  }));
  $("saved-box").hidden = info.styles.length === 0;
}

function formData() {
  const data = new FormData();
  const content = $("content").files[0];
  if (content) data.append("content", content, content.name);
  Array.from($("style").files).forEach((f) => data.append("style", f, f.name));
  document.querySelectorAll("#saved input:checked").forEach((c) => data.append("saved", c.value));
  const weights = Array.from(document.querySelectorAll("#weights input")).map((i) => i.value);
  if (weights.length > 1) data.append("weights", weights.join(","));
  for (const name of ["engine", "alpha", "preserve_color", "size"]) data.append(name, $(name).value);
  return data;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function run(event) {
  event.preventDefault();
  showError("");
  busy(true);
  setStatus("Uploading…");
  $("progress").removeAttribute("value");
  let response;
  try {
    response = await fetch("/api/jobs", { method: "POST", body: formData() });
  } catch (e) {
    busy(false);
    setStatus("");
    showError("Cannot reach the server (is `tfstyle serve` still running?)");
    return;
  }
  if (!response.ok) {
    busy(false);
    setStatus("");
    showError(await detail(response));
    return;
  }
  const job = await response.json();
  current = job.id;
  await follow(job.id);
}

async function follow(id) {
  const started = performance.now();
  while (current === id) {
    let status;
    try {
      const r = await fetch(`/api/jobs/${id}`);
      if (!r.ok) { showError(await detail(r)); break; }
      status = await r.json();
    } catch (e) {
      showError("Lost contact with the server");
      break;
    }
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    if (status.state === "queued") {
      $("progress").removeAttribute("value");
      setStatus(`Waiting in the queue (${status.position} ahead)… ${secs} s`);
    } else if (status.state === "running") {
      $("progress").value = status.progress;
      const steps = status.total ? ` — step ${status.done} of ${status.total}` : "";
      setStatus(`Stylizing${steps}… ${secs} s`);
    } else if (status.state === "done") {
      await showResult(id, secs);
      break;
    } else if (status.state === "cancelled") {
      setStatus("Cancelled.");
      break;
    } else {
      showError(status.message || "the job failed");
      setStatus("");
      break;
    }
    await sleep(250);
  }
  if (current === id) current = null;
  busy(false);
}

async function showResult(id, secs) {
  const r = await fetch(`/api/jobs/${id}/result`);
  if (!r.ok) { showError(await detail(r)); return; }
  const blob = await r.blob();
  if (resultUrl) URL.revokeObjectURL(resultUrl);
  resultUrl = URL.createObjectURL(blob);
  const img = $("result");
  await new Promise((resolve) => { img.onload = resolve; img.onerror = resolve; img.src = resultUrl; });
  img.hidden = false;
  img.dataset.job = id;
  const link = $("download");
  link.href = resultUrl;
  link.hidden = false;
  setStatus(`Done in ${secs} s (${img.naturalWidth}×${img.naturalHeight} px).`);
  fetch(`/api/jobs/${id}`, { method: "DELETE" }).catch(() => {});  // the page holds the image now
}

async function cancel() {
  const id = current;
  if (!id) return;
  setStatus("Cancelling…");
  try { await fetch(`/api/jobs/${id}/cancel`, { method: "POST" }); } catch (e) { /* shown by the poll */ }
}

document.addEventListener("DOMContentLoaded", () => {
  $("alpha").addEventListener("input", () => { $("alpha-value").textContent = Number($("alpha").value).toFixed(2); });
  $("content").addEventListener("change", refreshInputs);
  $("style").addEventListener("change", refreshInputs);
  dropInto("content-drop", "content", false);
  dropInto("style-drop", "style", true);
  $("form").addEventListener("submit", run);
  $("cancel").addEventListener("click", cancel);
  loadInfo().catch(() => showError("Cannot reach the server"));
});
