// cnnkit serve: the explorer's page (docs/serve.md is the contract with the server).
// Plain browser JavaScript, no build step; every request goes to the same-origin /api/* routes.
"use strict";

const T0 = performance.now();

const state = {
  model: null,          // GET /api/model
  layers: {},           // layer id -> layer
  samples: [],          // GET /api/samples
  input: null,          // {"sample": k} or {"pixels": base64}
  inputBytes: null,     // the input's (C, H, W) uint8 pixels, when known
  pixelCache: {},       // sample index -> Uint8Array
  columns: {},          // layer id -> {el, maps, pager, label, canvases, page, seq}
  prediction: null,     // the last rendered /api/predict answer
  updates: 0,           // predictions rendered so far
  ready: false,
  unit: null,           // the selected unit {layer, channel, y, x}
  unitSeq: 0,
  animating: false,
  animation: 0,         // the running animation's number (a new one ends the old loop)
  attackStale: true,
  playgroundDone: false,
  drawDirty: false,
};

// ---- small helpers ------------------------------------------------------------------------

// The first element matching a CSS selector.
function $(selector) {
  return document.querySelector(selector);
}

// A new element with attributes (data-* via "data-..."), a class and children.
function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of [].concat(children)) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// A number with thousands separators.
function fmtInt(n) {
  return Number(n).toLocaleString("en-US");
}

// A number with a fixed count of decimals (and a minus sign that never shows as "-0.00").
function fmt(v, digits = 4) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const text = Number(v).toFixed(digits);
  return /^-0\.?0*$/.test(text) ? text.slice(1) : text;
}

// A probability as a percentage with one decimal.
function pct(p) {
  return `${(p * 100).toFixed(1)}%`;
}

// A shape list as "6x28x28".
function shapeText(shape) {
  return shape && shape.length ? shape.join("x") : "–";
}

// The display name of class i.
function className(i) {
  const classes = state.model && state.model.classes;
  if (i === null || i === undefined) return "–";
  return classes && classes[i] !== undefined ? String(classes[i]) : `class ${i}`;
}

// A promise that resolves after ms milliseconds.
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---- base64 pixels ------------------------------------------------------------------------

// base64 text to bytes.
function b64ToBytes(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

// bytes to base64 text, in chunks so large images do not overflow the call stack.
function bytesToB64(bytes) {
  let raw = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    raw += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  }
  return btoa(raw);
}

// ---- the API and the error banner ---------------------------------------------------------

// Shows a message in the red banner.
function showError(message) {
  const banner = $("#error");
  banner.textContent = message;
  banner.hidden = false;
}

// Hides the banner after a successful request.
function clearError() {
  const banner = $("#error");
  banner.textContent = "";
  banner.hidden = true;
}

// GET (no body) or POST (JSON or raw bytes) to an /api route; a non-2xx answer shows its error and throws.
async function api(path, body, opts = {}) {
  const init = {};
  if (body instanceof ArrayBuffer || body instanceof Uint8Array) {
    init.method = "POST";
    init.body = body;
    init.headers = {"Content-Type": opts.type || "application/octet-stream"};
  } else if (body !== undefined) {
    init.method = "POST";
    init.body = JSON.stringify(body);
    init.headers = {"Content-Type": "application/json"};
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (!opts.quiet) showError(`${path}: the server cannot be reached (${err.message})`);
    throw err;
  }
  let data = null;
  try { data = await response.json(); } catch (err) { data = null; }
  if (!response.ok) {
    const message = (data && data.error) || `${response.status} ${response.statusText}`;
    if (!opts.quiet) showError(message);
    throw new Error(message);
  }
  if (!opts.quiet) clearError();
  return data;
}

// A request runner with at most one request in flight: the newest queued job wins, older ones are dropped.
function latestWins(send) {
  let busy = false;
  let queued = null;
  async function pump() {
    busy = true;
    while (queued) {
      const job = queued;
      queued = null;
      try { await send(job()); } catch (err) { /* already shown in the banner */ }
    }
    busy = false;
  }
  return function request(job) {
    queued = job;
    if (!busy) pump();
  };
}

// ---- colours and drawing ------------------------------------------------------------------

// A 256-entry RGB lookup table interpolated between colour stops.
function makeLut(stops) {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = i / 255 * (stops.length - 1);
    const k = Math.min(stops.length - 2, Math.floor(t));
    const f = t - k;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(stops[k][c] * (1 - f) + stops[k + 1][c] * f);
  }
  return lut;
}

const VIRIDIS = makeLut([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]]);
const RDBU = makeLut([[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]]);
const HOT = makeLut([[0, 0, 0], [160, 0, 0], [255, 90, 0], [255, 200, 0], [255, 255, 200]]);

// The LUT index of value v: diverging around 0 when lo < 0 < hi, else sequential over [lo, hi].
function colourIndex(v, lo, hi) {
  if (lo < 0 && hi > 0) {
    const m = Math.max(-lo, hi);
    return Math.max(0, Math.min(255, Math.round((v / m + 1) * 127.5)));
  }
  return hi > lo ? Math.max(0, Math.min(255, Math.round((v - lo) / (hi - lo) * 255))) : 0;
}

// The LUT (diverging or sequential) for a value range.
function lutFor(lo, hi) {
  return lo < 0 && hi > 0 ? RDBU : VIRIDIS;
}

// A CSS colour for value v in a range.
function cssColour(v, lo, hi) {
  const lut = lutFor(lo, hi);
  const i = colourIndex(v, lo, hi) * 3;
  return `rgb(${lut[i]}, ${lut[i + 1]}, ${lut[i + 2]})`;
}

// Draws (C, H, W) uint8 pixels: grey for one channel, RGB planes for three or more.
function drawPixels(canvas, bytes, C, H, W) {
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(W, H);
  const plane = H * W;
  for (let i = 0; i < plane; i++) {
    const r = bytes ? bytes[i] : 0;
    image.data[i * 4] = r;
    image.data[i * 4 + 1] = bytes && C >= 3 ? bytes[plane + i] : r;
    image.data[i * 4 + 2] = bytes && C >= 3 ? bytes[2 * plane + i] : r;
    image.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

// Draws the current input (C, S, S) onto a canvas.
function drawInput(canvas, bytes) {
  const m = state.model;
  drawPixels(canvas, bytes, m.in_chans, m.input_size, m.input_size);
}

// Draws one channel of a map: real values min + data/255*(max-min), coloured by their range.
function drawChannel(canvas, data, lo, hi, H, W) {
  if (canvas.width !== W) canvas.width = W;
  if (canvas.height !== H) canvas.height = H;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(W, H);
  const lut = lutFor(lo, hi);
  for (let i = 0; i < H * W; i++) {
    const v = lo + data[i] / 255 * (hi - lo);
    const k = colourIndex(v, lo, hi) * 3;
    image.data[i * 4] = lut[k];
    image.data[i * 4 + 1] = lut[k + 1];
    image.data[i * 4 + 2] = lut[k + 2];
    image.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

// The (H, W) of a map's channel from the layer's shape; a vector is 1x1 per channel.
function mapGeometry(shape) {
  if (shape.length >= 3) return {vector: false, H: shape[shape.length - 2], W: shape[shape.length - 1]};
  if (shape.length === 2) return {vector: false, H: 1, W: shape[1]};
  return {vector: true, H: 1, W: 1};
}

// ---- header and tabs ----------------------------------------------------------------------

// Fills the header with the model's name, architecture and size.
function renderHeader(model) {
  $("#model-name").textContent = model.name;
  $("#model-arch").textContent = model.architecture;
  $("#model-params").textContent = `${fmtInt(model.parameters)} parameters`;
  $("#model-macs").textContent = `${fmtInt(model.macs)} MACs`;
  $("#model-task").textContent = `${model.task} · ${model.in_chans}x${model.input_size}x${model.input_size}`;
  document.title = `${model.name} · cnnkit serve`;
}

// Shows one tab's section and hides the others.
function showTab(name) {
  for (const button of document.querySelectorAll("button[data-tab]")) {
    button.classList.toggle("active", button.dataset.tab === name);
    button.setAttribute("aria-selected", button.dataset.tab === name ? "true" : "false");
    $(`#tab-${button.dataset.tab}`).hidden = button.dataset.tab !== name;
  }
  if (name === "attack" && state.attackStale && state.input) requestAttack();
  if (name === "playground" && !state.playgroundDone) requestPlayground();
}

// The tab that is showing.
function currentTab() {
  const active = document.querySelector("button[data-tab].active");
  return active ? active.dataset.tab : "overview";
}

// ---- the input: samples, upload, drawing --------------------------------------------------

// The (cached) pixels of test image k.
async function samplePixels(index, quiet = false) {
  if (!state.pixelCache[index]) {
    const answer = await api(`/api/samples/${index}`, undefined, {quiet});
    state.pixelCache[index] = b64ToBytes(answer.pixels);
  }
  return state.pixelCache[index];
}

// The buttons of the test images, each with a thumbnail canvas filled later.
function renderSampleButtons(samples) {
  const box = $("#samples");
  box.textContent = "";
  for (const s of samples) {
    const caption = s.class !== null && s.class !== undefined ? s.class : s.label !== null && s.label !== undefined ? `label ${s.label}` : `#${s.index}`;
    const button = el("button", {type: "button", class: "sample", "data-testid": "sample", "data-index": s.index,
      title: `test image ${s.index}: ${caption}`}, [el("canvas", {width: 1, height: 1}), el("span", {text: caption})]);
    button.addEventListener("click", () => chooseSample(s.index));
    box.append(button);
  }
}

// Fills the thumbnails one after another, in the background (errors stay quiet).
async function loadThumbnails() {
  for (const s of state.samples) {
    try {
      const bytes = await samplePixels(s.index, true);
      const canvas = document.querySelector(`button[data-testid="sample"][data-index="${s.index}"] canvas`);
      if (canvas) drawInput(canvas, bytes);
    } catch (err) { /* a missing thumbnail is not worth a banner */ }
  }
}

// Makes test image k the input.
function chooseSample(index) {
  stopAnimation();
  const sample = state.samples.find((s) => s.index === index) || {index};
  const caption = `test image ${index}` + (sample.class ? ` · ${sample.class}` : "");
  setInput({sample: index}, state.pixelCache[index] || null, caption);
  for (const b of document.querySelectorAll('button[data-testid="sample"]')) {
    b.classList.toggle("active", Number(b.dataset.index) === index);
  }
  if (!state.pixelCache[index]) {
    samplePixels(index).then((bytes) => {
      if (state.input && state.input.sample === index) {
        state.inputBytes = bytes;
        drawInput($("#input-view"), bytes);
      }
    }).catch(() => {});
  }
}

// Sets the input, redraws its view and predicts (and re-attacks when the Attack tab shows).
function setInput(input, bytes, caption) {
  state.input = input;
  state.inputBytes = bytes;
  drawInput($("#input-view"), bytes);
  $("#input-caption").textContent = caption || "";
  for (const b of document.querySelectorAll('button[data-testid="sample"]')) b.classList.remove("active");
  predict();
  state.attackStale = true;
  if (currentTab() === "attack") requestAttack();
}

// Sends the chosen file's bytes to /api/upload and makes the answer the input.
async function onUpload(event) {
  const file = event.target.files && event.target.files[0];
  if (!file) return;
  try {
    const bytes = await file.arrayBuffer();
    const answer = await api("/api/upload", bytes, {type: file.type || "application/octet-stream"});
    stopAnimation();
    setInput({pixels: answer.pixels}, b64ToBytes(answer.pixels), `upload · ${file.name}`);
  } catch (err) { /* shown in the banner */ }
}

// Wires the drawing canvas: thick white strokes on black, predictions while drawing.
function setupDrawing() {
  const canvas = $("#draw");
  const ctx = canvas.getContext("2d");
  clearDrawing();
  let last = null;
  const point = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) / r.width * canvas.width, (e.clientY - r.top) / r.height * canvas.height];
  };
  const stroke = (from, to) => {
    ctx.strokeStyle = "#fff";
    ctx.fillStyle = "#fff";
    ctx.lineWidth = canvas.width / 10;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(from[0], from[1]);
    ctx.lineTo(to[0], to[1]);
    ctx.stroke();
  };
  canvas.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    if (canvas.setPointerCapture) { try { canvas.setPointerCapture(e.pointerId); } catch (err) { /* synthetic */ } }
    last = point(e);
    stroke(last, last);
    drawingChanged();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!last) return;
    const p = point(e);
    stroke(last, p);
    last = p;
    drawingChanged();
  });
  const finish = () => {
    if (!last) return;
    last = null;
    predictDrawing();
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  $("#clear").addEventListener("click", () => {
    clearDrawing();
    predictDrawing();
  });
}

// Paints the drawing canvas black.
function clearDrawing() {
  const canvas = $("#draw");
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}

// The drawing downsampled to input_size as (C, H, W) uint8 pixels (red channel or R, G, B planes).
function drawingPixels() {
  const S = state.model.input_size;
  const C = state.model.in_chans;
  const small = document.createElement("canvas");
  small.width = S;
  small.height = S;
  const ctx = small.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage($("#draw"), 0, 0, S, S);
  const rgba = ctx.getImageData(0, 0, S, S).data;
  const bytes = new Uint8Array(C * S * S);
  for (let c = 0; c < C; c++) {
    const offset = c < 3 && C >= 3 ? c : 0;
    for (let i = 0; i < S * S; i++) bytes[c * S * S + i] = rgba[i * 4 + offset];
  }
  return bytes;
}

// Marks the drawing as changed and asks for a (throttled) prediction of it.
function drawingChanged() {
  state.drawDirty = true;
  predictDrawing();
}

// Queues a prediction of the newest drawing; it becomes the input when the request goes out.
function predictDrawing() {
  stopAnimation();
  for (const b of document.querySelectorAll('button[data-testid="sample"]')) b.classList.remove("active");
  predictRunner(() => {
    const bytes = drawingPixels();
    state.input = {pixels: bytesToB64(bytes)};
    state.inputBytes = bytes;
    state.drawDirty = false;
    drawInput($("#input-view"), bytes);
    $("#input-caption").textContent = "drawing";
    state.attackStale = true;
    return state.input;
  });
}

// ---- predictions and the overview ---------------------------------------------------------

// Sends one /api/predict for an input and renders the answer.
const predictRunner = latestWins(async (input) => {
  const answer = await api("/api/predict", {input, page: 0});
  renderPrediction(answer, input);
});

// Queues a prediction of the current input.
function predict() {
  predictRunner(() => state.input);
}

// Builds one column per layer (and a final column for the class probabilities).
function buildOverview(model) {
  const row = $("#layers");
  row.textContent = "";
  let previous = "input";
  for (const layer of model.layers) {
    row.append(buildColumn(layer, previous, model.page_size));
    previous = layer.id;
  }
  const probs = el("div", {class: "layer-col card probs-col", id: "output-column"}, [
    el("div", {class: "layer-title", text: "output"}),
    el("div", {id: "prediction", class: "prediction", text: "…"}),
    el("div", {id: "probs", class: "probs"}),
  ]);
  row.append(probs);
  row.addEventListener("click", onMapClick);
}

// One layer's card: title, shape, parameters, the layers it reads, its maps and a pager.
function buildColumn(layer, previous, pageSize) {
  const inputs = layer.inputs || [];
  const branch = inputs.length > 1 || (inputs.length === 1 && inputs[0] !== previous);
  const col = el("div", {class: `layer-col card kind-${layer.kind}` + (branch ? " branch" : ""),
    "data-testid": "layer", "data-layer": layer.id});
  col.append(el("div", {class: "layer-title", text: layer.name, title: layer.id}));
  col.append(el("div", {class: "layer-meta", text: `${layer.type} · ${shapeText(layer.shape)}`}));
  col.append(el("div", {class: "layer-meta", text: `${fmtInt(layer.parameters)} params`}));
  if (branch) col.append(el("div", {class: "reads", text: `reads: ${inputs.join(" + ") || "–"}`}));
  const maps = el("div", {class: "maps", text: ""});
  col.append(maps);
  const entry = {el: col, maps, canvases: {}, channelKey: "", page: 0, seq: 0, pager: null, label: null, layer};
  const channels = layer.shape.length ? layer.shape[0] : 0;
  if ((layer.shape.length === 1 || layer.shape.length === 3) && channels > pageSize) {
    entry.pages = Math.ceil(channels / pageSize);
    entry.label = el("span", {class: "page-label", text: `1/${entry.pages}`});
    const prev = el("button", {type: "button", "data-testid": "page-prev", title: "previous channels", text: "‹"});
    const next = el("button", {type: "button", "data-testid": "page-next", title: "next channels", text: "›"});
    prev.addEventListener("click", () => turnPage(layer.id, -1));
    next.addEventListener("click", () => turnPage(layer.id, +1));
    entry.pager = el("div", {class: "pager"}, [prev, entry.label, next]);
    col.append(entry.pager);
  }
  state.columns[layer.id] = entry;
  updatePager(entry);
  return col;
}

// Shows the page number and enables the pager's buttons.
function updatePager(entry) {
  if (!entry.pager) return;
  entry.label.textContent = `${entry.page + 1}/${entry.pages}`;
  entry.pager.querySelector('[data-testid="page-prev"]').disabled = entry.page <= 0;
  entry.pager.querySelector('[data-testid="page-next"]').disabled = entry.page >= entry.pages - 1;
}

// Moves a column to the previous or next page of channels.
function turnPage(layerId, step) {
  const entry = state.columns[layerId];
  const page = Math.max(0, Math.min(entry.pages - 1, entry.page + step));
  if (page === entry.page) return;
  entry.page = page;
  updatePager(entry);
  fetchPage(layerId, page);
}

// Fetches one page of a layer's maps for the current input (stale answers are dropped).
async function fetchPage(layerId, page) {
  const entry = state.columns[layerId];
  const seq = ++entry.seq;
  try {
    const map = await api("/api/maps", {input: state.input, layer: layerId, page});
    if (seq === entry.seq && entry.page === page) renderMap(layerId, map);
  } catch (err) { /* shown in the banner */ }
}

// Renders an /api/predict answer: every column's maps, the probabilities, the counters.
function renderPrediction(answer, input) {
  state.prediction = answer;
  const maps = {};
  for (const map of answer.maps || []) maps[map.layer] = map;
  for (const [id, entry] of Object.entries(state.columns)) {
    if (entry.page > 0) {
      fetchPage(id, entry.page);
    } else if (maps[id]) {
      entry.seq++;
      renderMap(id, maps[id]);
    } else {
      entry.maps.textContent = "no map";
      entry.maps.classList.add("muted");
    }
  }
  renderProbabilities(answer);
  state.updates++;
  if (!state.ready) {
    state.ready = true;
    document.body.dataset.ready = "1";
    window.cnnkit = {renderMs: performance.now() - T0, updates: state.updates};
    afterFirstRender();
  } else if (window.cnnkit) {
    window.cnnkit.updates = state.updates;
  }
  if (state.unit && !state.animating) refreshUnit();
}

// Draws one map page into its column, reusing the canvases when the channels are the same.
function renderMap(layerId, map) {
  const entry = state.columns[layerId];
  const geo = mapGeometry(map.shape);
  const key = map.channels.join(",");
  if (entry.channelKey !== key) makeCanvases(entry, layerId, map.channels, geo);
  const data = b64ToBytes(map.data);
  const plane = geo.H * geo.W;
  if (geo.vector) {
    drawVectorCells(entry, map, data);
  } else {
    map.channels.forEach((c, j) => {
      const canvas = entry.canvases[c];
      drawChannel(canvas, data.subarray(j * plane, (j + 1) * plane), map.min[j], map.max[j], geo.H, geo.W);
      canvas.title = `channel ${c}: ${fmt(map.min[j], 3)} … ${fmt(map.max[j], 3)}`;
    });
  }
  if (entry.pages) {
    entry.page = Math.floor(map.channels[0] / state.model.page_size);
    updatePager(entry);
  }
  placeMarker();
}

// Creates the canvases of one page of channels (never more than a page).
function makeCanvases(entry, layerId, channels, geo) {
  entry.maps.textContent = "";
  entry.maps.classList.remove("muted");
  entry.maps.classList.toggle("vector", geo.vector);
  entry.canvases = {};
  for (const c of channels) {
    const canvas = el("canvas", {"data-testid": "map", "data-layer": layerId, "data-channel": c,
      width: geo.W, height: geo.H, class: geo.vector ? "map cell" : "map"});
    entry.canvases[c] = canvas;
    entry.maps.append(el("span", {class: "map-wrap"}, [canvas]));
  }
  entry.channelKey = channels.join(",");
}

// Colours each value of a vector page as one cell, on the page's common range.
function drawVectorCells(entry, map, data) {
  const values = map.channels.map((c, j) => map.min[j] + data[j] / 255 * (map.max[j] - map.min[j]));
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  map.channels.forEach((c, j) => {
    const canvas = entry.canvases[c];
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = cssColour(values[j], lo, hi);
    ctx.fillRect(0, 0, 1, 1);
    canvas.title = `unit ${c}: ${fmt(values[j], 4)}`;
  });
}

// The class probabilities as bars, and the predicted class.
function renderProbabilities(answer) {
  const box = $("#probs");
  const pred = $("#prediction");
  box.textContent = "";
  if (answer.top !== null && answer.top !== undefined) pred.dataset.top = String(answer.top);
  if (!answer.probabilities) {
    pred.textContent = "no class probabilities for this task";
    return;
  }
  const probs = answer.probabilities;
  pred.textContent = `Predicted: ${className(answer.top)} (${pct(probs[answer.top])})`;
  probs.forEach((p, i) => {
    const bar = el("span", {class: "bar"});
    bar.style.width = `${Math.max(0, Math.min(100, p * 100))}%`;
    box.append(el("div", {class: "prob" + (i === answer.top ? " top" : ""), "data-testid": "prob",
      "data-class": i, "data-prob": String(p), title: pct(p)}, [
      el("span", {class: "prob-name", text: className(i)}),
      el("span", {class: "prob-track"}, [bar]),
      el("span", {class: "prob-value", text: pct(p)}),
    ]));
  });
}

// ---- one unit's computation ---------------------------------------------------------------

// A map click: the unit under the pointer, in the map's H x W (0, 0 for a vector).
function onMapClick(event) {
  const canvas = event.target.closest('canvas[data-testid="map"]');
  if (!canvas) return;
  const layer = state.layers[canvas.dataset.layer];
  const geo = mapGeometry(layer.shape);
  let y = 0;
  let x = 0;
  if (!geo.vector) {
    const r = canvas.getBoundingClientRect();
    y = Math.max(0, Math.min(geo.H - 1, Math.floor((event.clientY - r.top) / r.height * geo.H)));
    x = Math.max(0, Math.min(geo.W - 1, Math.floor((event.clientX - r.left) / r.width * geo.W)));
  }
  stopAnimation();
  loadUnit({layer: layer.id, channel: Number(canvas.dataset.channel), y, x}).catch(() => {});
}

// Requests /api/unit for a selection and renders it (an older answer never overwrites a newer one).
async function loadUnit(sel) {
  const seq = ++state.unitSeq;
  const answer = await api("/api/unit", {input: state.input, layer: sel.layer, channel: sel.channel, y: sel.y, x: sel.x});
  if (seq !== state.unitSeq) return;
  state.unit = sel;
  renderUnit(answer, sel);
  placeMarker();
  $("#slide").disabled = false;
}

// Recomputes the selected unit for a new input.
function refreshUnit() {
  loadUnit(state.unit).catch(() => {});
}

// Outlines the selected unit on its map canvas (when that channel is on the page).
function placeMarker() {
  const old = document.querySelector(".unit-marker");
  if (old) old.remove();
  for (const c of document.querySelectorAll("canvas.map.selected")) c.classList.remove("selected");
  if (!state.unit) return;
  const entry = state.columns[state.unit.layer];
  const canvas = entry && entry.canvases[state.unit.channel];
  if (!canvas) return;
  canvas.classList.add("selected");
  const geo = mapGeometry(entry.layer.shape);
  if (geo.vector) return;
  const marker = el("span", {class: "unit-marker"});
  marker.style.left = `${state.unit.x / geo.W * 100}%`;
  marker.style.top = `${state.unit.y / geo.H * 100}%`;
  marker.style.width = `${100 / geo.W}%`;
  marker.style.height = `${100 / geo.H}%`;
  canvas.parentElement.append(marker);
}

// Fills #unit with a unit's computation: the receptive field and the arithmetic of its kind.
function renderUnit(answer, sel) {
  const panel = $("#unit");
  const layer = state.layers[sel.layer];
  panel.dataset.layer = sel.layer;
  panel.dataset.channel = String(sel.channel);
  panel.dataset.y = String(sel.y);
  panel.dataset.x = String(sel.x);
  panel.dataset.value = String(answer.value);
  panel.dataset.kind = answer.kind;
  delete panel.dataset.sum;
  const body = $("#unit-body");
  body.textContent = "";
  body.classList.remove("muted");
  const spatial = layer && layer.shape.length === 3;
  body.append(el("p", {class: "unit-title", text: `${sel.layer} (${layer ? layer.type : answer.kind}) · channel ${sel.channel}` +
    (spatial ? ` · y ${sel.y}, x ${sel.x}` : "") + ` · value ${fmt(answer.value)}`}));
  const row = el("div", {class: "unit-row"});
  row.append(fieldFigure(answer.field, answer.source));
  const detail = el("div", {class: "unit-detail"});
  row.append(detail);
  body.append(row);
  if (answer.kind === "conv") panel.dataset.sum = String(renderConv(detail, answer));
  else if (answer.kind === "pool") renderPool(detail, answer);
  else if (answer.kind === "linear") renderLinear(detail, answer);
  else renderElementwise(detail, answer, layer);
}

// The input image with the unit's receptive field as a rectangle.
function fieldFigure(field, source) {
  const S = state.model.input_size;
  const scale = Math.max(1, Math.ceil(140 / S));
  const canvas = el("canvas", {class: "field", width: S * scale, height: S * scale, id: "unit-field"});
  const small = document.createElement("canvas");
  drawInput(small, state.inputBytes);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, S * scale, S * scale);
  if (field) {
    ctx.strokeStyle = "#ff3b30";
    ctx.lineWidth = 2;
    ctx.strokeRect(field.x0 * scale + 1, field.y0 * scale + 1, (field.x1 - field.x0 + 1) * scale - 2,
      (field.y1 - field.y0 + 1) * scale - 2);
  }
  const text = field ? `receptive field rows ${field.y0}–${field.y1}, columns ${field.x0}–${field.x1}` : "";
  return el("figure", {class: "field-fig"}, [canvas, el("figcaption", {text: `${text}${source ? ` · reads ${source}` : ""}`})]);
}

// A small grid of numbers (2 decimals), coloured around 0 by the grid's own range; mark = [r, c] to highlight.
function numberGrid(rows, mark) {
  const grid2d = Array.isArray(rows[0]) ? rows : [rows];
  const flat = grid2d.flat();
  const m = Math.max(1e-12, ...flat.map((v) => Math.abs(v)));
  const grid = el("div", {class: "grid"});
  grid.style.gridTemplateColumns = `repeat(${grid2d[0].length}, auto)`;
  grid2d.forEach((row, r) => row.forEach((v, c) => {
    const cell = el("span", {class: "cell", text: fmt(v, 2), title: String(v)});
    cell.style.background = cssColour(v, -m, m);
    if (Math.abs(v) / m > 0.6) cell.classList.add("light");
    if (mark && mark[0] === r && mark[1] === c) cell.classList.add("mark");
    grid.append(cell);
  }));
  return grid;
}

// Sums every number of a nested list.
function sumDeep(values) {
  return Array.isArray(values) ? values.reduce((s, v) => s + sumDeep(v), 0) : Number(values);
}

// Convolution: per input channel the patch, the kernel, their products and sum; then the formula.
function renderConv(box, a) {
  const products = a.products || [];
  const total = sumDeep(products);
  const bias = a.bias === null || a.bias === undefined ? 0 : a.bias;
  const sum = total + bias;
  const w = a.window || {};
  box.append(el("p", {class: "muted", text: `kernel's top-left tap at input (${w.y}, ${w.x}), stride ${(w.stride || []).join("x")}, ` +
    `dilation ${(w.dilation || []).join("x")}; ${products.length} input channel(s)`}));
  const shown = Math.min(8, products.length);
  for (let c = 0; c < shown; c++) {
    const name = a.in_channels ? a.in_channels[c] : c;
    box.append(el("div", {class: "conv-row"}, [
      el("span", {class: "conv-label", text: `in ${name}`}),
      labelled("patch", numberGrid(a.patch[c])), el("span", {class: "op", text: "⊙"}),
      labelled("kernel", numberGrid(a.kernel[c])), el("span", {class: "op", text: "="}),
      labelled("products", numberGrid(products[c])),
      el("span", {class: "op", text: `Σ = ${fmt(a.channel_sums ? a.channel_sums[c] : sumDeep(products[c]), 4)}`}),
    ]));
  }
  if (products.length > shown) {
    box.append(el("p", {class: "muted", text: `... ${products.length - shown} more input channels (included in the sum)`}));
  }
  let formula = `Σ products = ${fmt(total)} + bias ${fmt(bias)} = ${fmt(sum)}`;
  if (a.activation) formula += ` → ${a.activation.name} → ${fmt(a.activation.value)}`;
  box.append(el("p", {class: "formula", text: formula}));
  box.append(el("p", {class: "muted", text: `the model's own value: ${fmt(a.value)}`}));
  return sum;
}

// A grid under a small caption.
function labelled(caption, node) {
  return el("div", {class: "labelled"}, [el("div", {class: "muted", text: caption}), node]);
}

// Pooling: the window with its arg-max highlighted, or its average.
function renderPool(box, a) {
  const w = a.window || {};
  box.append(el("p", {class: "muted", text: `${a.mode || (a.argmax ? "max" : "average")} pooling window at input (${w.y}, ${w.x})`}));
  box.append(labelled("window", numberGrid(a.patch, a.argmax)));
  if (a.argmax) {
    box.append(el("p", {class: "formula", text: `max at [${a.argmax.join(", ")}] = ${fmt(a.value)}`}));
  } else {
    const flat = [].concat(...a.patch.map((r) => [].concat(r)));
    box.append(el("p", {class: "formula", text: `average of ${flat.length} = ${fmt(sumDeep(flat))} / ${flat.length} = ` +
      `${fmt(sumDeep(flat) / Math.max(1, flat.length))} (model: ${fmt(a.value)})`}));
  }
}

// Fully connected: the largest terms, then the whole sum with its bias.
function renderLinear(box, a) {
  const table = el("table", {class: "terms"});
  table.append(el("tr", {}, ["index", "input", "weight", "product"].map((h) => el("th", {text: h}))));
  for (const t of a.terms || []) {
    table.append(el("tr", {}, [el("td", {text: t.index}), el("td", {text: fmt(t.input)}),
      el("td", {text: fmt(t.weight)}), el("td", {text: fmt(t.product)})]));
  }
  box.append(el("p", {class: "muted", text: `the ${(a.terms || []).length} largest of ${fmtInt(a.count)} products`}));
  box.append(table);
  let formula = `Σ ${fmtInt(a.count)} products + bias ${fmt(a.bias)} = ${fmt(a.sum)}`;
  if (a.activation) formula += ` → ${a.activation.name} → ${fmt(a.activation.value)}`;
  box.append(el("p", {class: "formula", text: formula}));
  box.append(el("p", {class: "muted", text: `the model's own value: ${fmt(a.value)}`}));
}

// A layer that maps each value on its own: input → value, with BatchNorm's formula.
function renderElementwise(box, a, layer) {
  const type = layer ? layer.type : "f";
  if (a.mean !== undefined) {
    box.append(el("p", {class: "formula", text: `(x − mean) / √(var + eps) · weight + bias = ` +
      `(${fmt(a.input)} − ${fmt(a.mean)}) / √(${fmt(a.var)} + ${a.eps}) · ${fmt(a.weight)} + ${fmt(a.bias)} = ${fmt(a.value)}`}));
  } else if (a.input !== null && a.input !== undefined) {
    box.append(el("p", {class: "formula", text: `${type}(${fmt(a.input)}) = ${fmt(a.value)}`}));
  } else {
    box.append(el("p", {class: "formula", text: `${type} → ${fmt(a.value)}`}));
  }
}

// The output positions the animation visits: all of them, or an even subset of at most 64.
function slidePositions(shape) {
  const geo = mapGeometry(shape);
  if (geo.vector) return [[0, 0]];
  const sy = geo.H * geo.W <= 64 ? 1 : Math.ceil(geo.H / 8);
  const sx = geo.H * geo.W <= 64 ? 1 : Math.ceil(geo.W / 8);
  const positions = [];
  for (let y = 0; y < geo.H; y += sy) for (let x = 0; x < geo.W; x += sx) positions.push([y, x]);
  return positions;
}

// Starts or stops the kernel sliding over the selected channel's outputs.
function toggleAnimation() {
  if (state.animating) stopAnimation();
  else if (state.unit) animate();
}

// Stops the animation (if it runs).
function stopAnimation() {
  state.animating = false;
  state.animation++;
  $("#slide").textContent = "Animate";
  $("#slide").classList.remove("running");
}

// Steps through the unit positions, one /api/unit in flight, about 200 ms a step.
async function animate() {
  state.animating = true;
  const run = ++state.animation;
  const button = $("#slide");
  button.textContent = "Stop";
  button.classList.add("running");
  const {layer, channel} = state.unit;
  const positions = slidePositions(state.layers[layer].shape);
  let i = Math.max(0, positions.findIndex(([y, x]) => y === state.unit.y && x === state.unit.x)) + 1;
  while (state.animating && run === state.animation) {
    const [y, x] = positions[i % positions.length];
    i++;
    const started = performance.now();
    try {
      await loadUnit({layer, channel, y, x});
    } catch (err) {
      if (run === state.animation) stopAnimation();
      break;
    }
    await sleep(Math.max(0, 200 - (performance.now() - started)));
  }
}

// ---- playground ---------------------------------------------------------------------------

// An integer from a number input, clamped to [lo, hi] (the default when empty).
function intOf(selector, lo, hi, fallback) {
  const v = parseInt($(selector).value, 10);
  return Number.isFinite(v) ? Math.max(lo, Math.min(hi, v)) : fallback;
}

// The playground's request from its controls.
function playgroundParams() {
  return {
    size: intOf("#pg-size", 3, 16, 7), kernel: $("#pg-kernel").value, padding: $("#pg-padding").value,
    stride: intOf("#pg-stride", 1, 4, 1), dilation: intOf("#pg-dilation", 1, 3, 1), image: $("#pg-image").value,
  };
}

// Sends one /api/playground and draws it.
const playgroundRunner = latestWins(async (params) => {
  const answer = await api("/api/playground", params);
  renderPlayground(answer, params);
});

// Queues a playground request with the controls' newest values.
function requestPlayground() {
  state.playgroundDone = true;
  playgroundRunner(playgroundParams);
}

// A 2-D list (or the first plane of a 3-D one) as rows.
function rowsOf(values) {
  let rows = values;
  while (Array.isArray(rows[0]) && Array.isArray(rows[0][0])) rows = rows[0];
  return Array.isArray(rows[0]) ? rows : [rows];
}

// A playground grid of cells, with numbers when it is small, colour always.
function playgroundGrid(values, role, numbers) {
  const rows = rowsOf(values);
  const flat = rows.flat();
  const lo = Math.min(...flat);
  const hi = Math.max(...flat);
  const grid = el("div", {class: `pg-grid ${role}` + (numbers ? "" : " dense")});
  grid.style.gridTemplateColumns = `repeat(${rows[0].length}, auto)`;
  rows.forEach((row, r) => row.forEach((v, c) => {
    const cell = el("span", {class: "pg-cell", "data-r": r, "data-c": c, title: String(v), text: numbers ? fmt(v, 2) : ""});
    cell.style.background = cssColour(v, lo, hi === lo ? lo + 1 : hi);
    if (colourIndex(v, lo, hi) < 110 && !(lo < 0 && hi > 0)) cell.classList.add("light");
    grid.append(cell);
  }));
  return grid;
}

// Draws the playground's input, kernel, output, formula and matrix A_w.
function renderPlayground(a, params) {
  const input = rowsOf(a.input);
  const kernel = rowsOf(a.kernel);
  const output = rowsOf(a.output);
  $("#pg-input").replaceChildren(playgroundGrid(input, "input", input.length <= 10));
  $("#pg-kernel-grid").replaceChildren(playgroundGrid(kernel, "kernel", true));
  const out = $("#pg-output");
  out.replaceChildren(playgroundGrid(output, "output", output.length <= 10 && output[0].length <= 10));
  const size = Array.isArray(a.output_size) ? a.output_size.join("x") : typeof a.output_size === "number" ? `${a.output_size}x${a.output_size}` : String(a.output_size);
  out.dataset.size = size;
  $("#pg-size-text").textContent = size;
  $("#pg-formula").textContent = a.formula || "";
  wirePlaygroundHover(out, a, params, kernel);
  drawMatrix(a.matrix);
}

// Hovering an output cell highlights the input cells its kernel reads.
function wirePlaygroundHover(out, a, params, kernel) {
  const kh = kernel.length;
  const kw = kernel[0].length;
  const d = params.dilation;
  const s = params.stride;
  const pads = a.padding || [[0, 0], [0, 0]];
  const inputGrid = $("#pg-input .pg-grid");
  out.querySelector(".pg-grid").addEventListener("mouseover", (e) => {
    const cell = e.target.closest(".pg-cell");
    if (!cell || !inputGrid) return;
    const oy = Number(cell.dataset.r);
    const ox = Number(cell.dataset.c);
    const wanted = new Set();
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      wanted.add(`${oy * s - pads[0][0] + ky * d},${ox * s - pads[1][0] + kx * d}`);
    }
    for (const c of inputGrid.children) c.classList.toggle("hl", wanted.has(`${c.dataset.r},${c.dataset.c}`));
    for (const c of out.querySelectorAll(".pg-cell.hl")) c.classList.remove("hl");
    cell.classList.add("hl");
  });
  out.querySelector(".pg-grid").addEventListener("mouseleave", () => {
    for (const c of document.querySelectorAll("#tab-playground .pg-cell.hl")) c.classList.remove("hl");
  });
}

// The matrix A_w as a heat map (or a note when the input is too large for it).
function drawMatrix(matrix) {
  const canvas = $("#pg-matrix");
  const note = $("#pg-matrix-note");
  if (!matrix) {
    canvas.hidden = true;
    note.textContent = "A_w is shown for inputs up to 8x8";
    return;
  }
  const rows = matrix.length;
  const cols = matrix[0].length;
  canvas.hidden = false;
  canvas.width = cols;
  canvas.height = rows;
  canvas.style.width = `${Math.min(640, cols * 8)}px`;
  const flat = matrix.flat();
  const m = Math.max(1e-12, ...flat.map((v) => Math.abs(v)));
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(cols, rows);
  flat.forEach((v, i) => {
    const k = colourIndex(v, -m, m) * 3;
    image.data.set([RDBU[k], RDBU[k + 1], RDBU[k + 2], 255], i * 4);
  });
  ctx.putImageData(image, 0, 0);
  note.textContent = `${rows} output pixels x ${cols} input pixels; red positive, blue negative, white zero`;
}

// ---- explain and activation maximisation --------------------------------------------------

// Fills the target and layer selects from the model.
function buildExplainControls(model) {
  const target = $("#explain-target");
  for (const [i, name] of (model.classes || []).entries()) target.append(el("option", {value: i, text: `${i}: ${name}`}));
  const select = $("#max-layer");
  let candidates = model.layers.filter((l) => l.kind === "conv");
  if (!candidates.length) candidates = model.layers.filter((l) => l.shape.length === 3);
  for (const l of candidates) select.append(el("option", {value: l.id, text: `${l.name} (${l.shape[0]} ch)`}));
  select.addEventListener("change", updateMaxChannel);
  updateMaxChannel();
}

// Bounds the channel input by the chosen layer's channel count.
function updateMaxChannel() {
  const layer = state.layers[$("#max-layer").value];
  const input = $("#max-channel");
  if (!layer) return;
  input.max = String(layer.shape[0] - 1);
  if (Number(input.value) > layer.shape[0] - 1) input.value = "0";
}

// Waits until the current input's pixels are known (a test image's are fetched once).
async function ensureInputBytes() {
  if (!state.inputBytes && state.input && "sample" in state.input) {
    state.inputBytes = await samplePixels(state.input.sample);
  }
  return state.inputBytes;
}

// Runs /api/explain and overlays its heat map on the input.
async function runExplain() {
  const canvas = $("#explain-map");
  canvas.dataset.done = "0";
  const method = $("#explain-method").value;
  const value = $("#explain-target").value;
  const input = state.input;
  try {
    const answer = await api("/api/explain", {input, method, target: value === "" ? null : Number(value)});
    const bytes = await ensureInputBytes();
    drawOverlay(canvas, bytes, answer.map);
    canvas.dataset.target = String(answer.target);
    canvas.dataset.done = "1";
    $("#explain-info").textContent = `${method.replace("_", " ")} for class ${className(answer.target)}` +
      (value === "" ? " (the predicted class)" : "");
  } catch (err) { /* shown in the banner */ }
}

// The input image with a heat map blended over it (alpha grows with the heat).
function drawOverlay(canvas, bytes, map) {
  const S = state.model.input_size;
  const C = state.model.in_chans;
  const shape = map.shape || [S, S];
  const geo = {H: shape.length >= 2 ? shape[shape.length - 2] : 1, W: shape[shape.length - 1]};
  const heat = b64ToBytes(map.data);
  canvas.width = S;
  canvas.height = S;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(S, S);
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
    const i = y * S + x;
    const hy = Math.min(geo.H - 1, Math.floor(y * geo.H / S));
    const hx = Math.min(geo.W - 1, Math.floor(x * geo.W / S));
    const h = heat[hy * geo.W + hx];
    const alpha = 0.75 * h / 255;
    const base = [0, 1, 2].map((c) => (bytes ? bytes[(C >= 3 ? c : 0) * S * S + i] : 0));
    for (let c = 0; c < 3; c++) image.data[i * 4 + c] = Math.round(base[c] * 0.8 * (1 - alpha) + HOT[h * 3 + c] * alpha);
    image.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

// Runs /api/maximize for the chosen layer and channel and shows the image.
async function runMaximize() {
  const canvas = $("#max-image");
  canvas.dataset.done = "0";
  const layer = $("#max-layer").value;
  const channel = intOf("#max-channel", 0, 1e6, 0);
  $("#max-info").textContent = `optimising ${layer} channel ${channel}…`;
  try {
    const answer = await api("/api/maximize", {layer, channel, steps: 64});
    drawInput(canvas, b64ToBytes(answer.pixels));
    canvas.dataset.done = "1";
    $("#max-info").textContent = `${layer} channel ${channel}: mean activation ${fmt(answer.activation)}`;
  } catch (err) {
    $("#max-info").textContent = "";
  }
}

// ---- attack -------------------------------------------------------------------------------

// The epsilon slider's value as a number.
function epsValue() {
  return Number(parseFloat($("#eps").value).toFixed(3));
}

// Sends one /api/attack and draws it.
const attackRunner = latestWins(async (req) => {
  const answer = await api("/api/attack", req);
  await ensureInputBytes();
  renderAttack(answer, req);
});

// Queues an attack with the newest method, epsilon and input.
function requestAttack() {
  $("#eps-value").textContent = epsValue().toFixed(3);
  if (!state.input) return;
  state.attackStale = false;
  attackRunner(() => ({input: state.input, method: $("#attack-method").value, eps: epsValue(), steps: 10}));
}

// A prediction's text: class name and confidence.
function predictionText(prefix, result) {
  if (!result || result.top === null || result.top === undefined) return `${prefix}: no class scores`;
  const p = result.probabilities ? ` (${pct(result.probabilities[result.top])})` : "";
  return `${prefix}: ${className(result.top)}${p}`;
}

// Draws the clean input, the perturbation and the adversarial image, with both predictions.
function renderAttack(a, req) {
  drawInput($("#adv-image"), b64ToBytes(a.pixels));
  drawInput($("#adv-perturbation"), b64ToBytes(a.perturbation));
  drawInput($("#adv-clean"), state.inputBytes);
  $("#clean-prediction").textContent = predictionText("Clean", a.clean);
  const adv = $("#adv-prediction");
  adv.textContent = predictionText(`Adversarial (ε = ${req.eps})`, a.adversarial);
  adv.dataset.top = String(a.adversarial.top);
  adv.dataset.eps = String(req.eps);
  const flipped = a.adversarial.top !== a.clean.top;
  adv.classList.toggle("flipped", flipped);
  adv.dataset.flipped = flipped ? "1" : "0";
  if (flipped) adv.append(el("span", {class: "flip", text: " flipped!"}));
  $("#adv-linf").textContent = `‖δ‖∞ = ${fmt(a.linf)} (${req.method}, ${req.method === "pgd" ? `${req.steps} steps` : "one step"})`;
}

// ---- start --------------------------------------------------------------------------------

// Connects the controls that need no model.
function wireControls() {
  for (const button of document.querySelectorAll("button[data-tab]")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  $("#upload").addEventListener("change", onUpload);
  $("#slide").addEventListener("click", toggleAnimation);
  for (const id of ["#pg-size", "#pg-kernel", "#pg-padding", "#pg-stride", "#pg-dilation", "#pg-image"]) {
    $(id).addEventListener("input", requestPlayground);
    $(id).addEventListener("change", requestPlayground);
  }
  $("#explain-run").addEventListener("click", runExplain);
  $("#max-run").addEventListener("click", runMaximize);
  $("#eps").addEventListener("input", requestAttack);
  $("#eps").addEventListener("change", requestAttack);
  $("#attack-method").addEventListener("change", requestAttack);
}

// Background work once the first prediction shows: thumbnails and the playground.
function afterFirstRender() {
  loadThumbnails();
  if (!state.playgroundDone) requestPlayground();
}

// Loads the model and the test images, builds the page and predicts the first input.
async function main() {
  wireControls();
  let model;
  try {
    model = await api("/api/model");
  } catch (err) {
    return;
  }
  state.model = model;
  for (const layer of model.layers) state.layers[layer.id] = layer;
  renderHeader(model);
  for (const id of ["#input-view", "#explain-map", "#max-image", "#adv-image", "#adv-perturbation", "#adv-clean"]) {
    drawInput($(id), null);
  }
  buildOverview(model);
  buildExplainControls(model);
  setupDrawing();
  try {
    state.samples = (await api("/api/samples", undefined, {quiet: true})).samples || [];
  } catch (err) {
    state.samples = [];
  }
  renderSampleButtons(state.samples);
  if (state.samples.length) chooseSample(state.samples[0].index);
  else predictDrawing();
}

main();
