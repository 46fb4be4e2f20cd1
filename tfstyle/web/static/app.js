// tfstyle web page: send the form to /api/jobs, poll the job, show and offer the result;
// the Live view streams the camera through /api/live.
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

// ---------------------------------------------------------------- Live view
// At most two frames in flight (one being stylized, the next waiting on the server), so the engine
// never idles while frames travel; a slow server means fewer frames per second, never a queue.
// Each frame goes out as an 8-byte tag (its send time) + JPEG and comes back with the same tag.
// window.tfstyleLive holds the numbers (frames drawn, frames/s over 2 s, latencies in ms).
const LIVE_DEPTH = 2;
const live = { ws: null, stream: null, inflight: 0, shown: [], latencies: [], frames: 0 };
window.tfstyleLive = { frames: 0, fps: 0, latency_ms: 0, latencies: [], running: false, error: "" };

function liveStats() {
  const now = performance.now();
  live.shown = live.shown.filter((t) => now - t < 2000);
  const span = live.shown.length > 1 ? (live.shown[live.shown.length - 1] - live.shown[0]) / 1000 : 0;
  const fps = span > 0 ? (live.shown.length - 1) / span : 0;
  const recent = live.latencies.slice(-20);
  const latency = recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : 0;
  Object.assign(window.tfstyleLive, { frames: live.frames, fps, latency_ms: latency, latencies: live.latencies });
  $("live-stats").textContent = `${fps.toFixed(1)} frames/s · ${latency.toFixed(0)} ms per frame`;
}

function sendFrame() {
  const video = $("live-camera");
  const ws = live.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN || !video.videoWidth || live.inflight >= LIVE_DEPTH) return;
  live.inflight += 1;
  const long = Number($("live-size").value) || 256;
  const scale = long / Math.max(video.videoWidth, video.videoHeight);
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  canvas.toBlob((blob) => {
    if (!blob || live.ws !== ws || ws.readyState !== WebSocket.OPEN) { live.inflight -= 1; return; }
    const tag = new Float64Array([performance.now()]);
    ws.send(new Blob([tag, blob]));
  }, "image/jpeg", 0.85);
}

async function showLiveFrame(blob) {
  if (blob.size <= 8) {  // the server dropped that frame (it was behind): send another
    live.inflight = Math.max(0, live.inflight - 1);
    sendFrame();
    return;
  }
  const sentAt = new Float64Array(await blob.slice(0, 8).arrayBuffer())[0];
  const bitmap = await createImageBitmap(blob.slice(8, blob.size, "image/jpeg"));
  live.inflight = Math.max(0, live.inflight - 1);
  sendFrame();  // the next frame leaves before this one is drawn
  const out = $("live-output");
  if (out.width !== bitmap.width || out.height !== bitmap.height) Object.assign(out, { width: bitmap.width, height: bitmap.height });
  out.getContext("2d").drawImage(bitmap, 0, 0);
  bitmap.close();
  const now = performance.now();
  live.latencies.push(now - sentAt);
  if (live.latencies.length > 500) live.latencies.shift();
  live.shown.push(now);
  live.frames += 1;
  liveStats();
}

async function startLive() {
  showError("");
  const saved = Array.from(document.querySelectorAll("#saved input:checked")).map((c) => c.value);
  const uploaded = $("style").files[0];
  if (!saved.length && !uploaded) { showError("Live: choose a style first (upload one or pick a saved style)"); return; }
  try {
    live.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (e) {
    showError(`Live: no camera (${e.message || e.name})`);
    return;
  }
  const video = $("live-camera");
  video.srcObject = live.stream;
  await video.play().catch(() => {});
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/api/live`);
  ws.binaryType = "blob";
  live.ws = ws;
  Object.assign(live, { shown: [], latencies: [], frames: 0, inflight: 0 });
  $("live-start").disabled = true;
  $("live-stop").disabled = false;
  ws.onopen = async () => {
    const engines = Array.from($("engine").options).map((o) => o.value);
    const options = {
      size: Number($("live-size").value) || 256,
      engine: engines.includes("tflite") ? "tflite" : $("engine").value,
      alpha: Number($("alpha").value),
      saved: saved.slice(0, 1),
    };
    ws.send(JSON.stringify(options));
    if (!saved.length) ws.send(await uploaded.arrayBuffer());
    window.tfstyleLive.running = true;
    for (let i = 0; i < LIVE_DEPTH; i += 1) sendFrame();
  };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") {
      const message = JSON.parse(event.data);
      if (message.error) { window.tfstyleLive.error = message.error; showError(`Live: ${message.error}`); }
      return;
    }
    showLiveFrame(event.data).catch(() => {});
  };
  ws.onclose = () => { if (live.ws === ws) stopLive(); };
}

function stopLive() {
  const ws = live.ws;
  live.ws = null;
  if (ws) ws.close();
  if (live.stream) live.stream.getTracks().forEach((t) => t.stop());
  live.stream = null;
  window.tfstyleLive.running = false;
  $("live-start").disabled = false;
  $("live-stop").disabled = true;
}

document.addEventListener("DOMContentLoaded", () => {
  $("live-start").addEventListener("click", startLive);
  $("live-stop").addEventListener("click", stopLive);
  $("alpha").addEventListener("input", () => { $("alpha-value").textContent = Number($("alpha").value).toFixed(2); });
  $("content").addEventListener("change", refreshInputs);
  $("style").addEventListener("change", refreshInputs);
  dropInto("content-drop", "content", false);
  dropInto("style-drop", "style", true);
  $("form").addEventListener("submit", run);
  $("cancel").addEventListener("click", cancel);
  loadInfo().catch(() => showError("Cannot reach the server"));
});
