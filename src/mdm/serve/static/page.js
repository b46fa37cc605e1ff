// The live denoising page: POST /v1/completions with stream: true, draw each step's reveals.
"use strict";
const $ = (id) => document.getElementById(id);
const CELL_W = 26, CELL_H = 30, COLS = 34;
const state = { prompt: [], cells: [], step: 0, nfe: 0, length: 0, revealed: 0, text: "", done: false };
window.mdmState = state;  // read by the browser test

async function loadModel() {
  const card = (await (await fetch("/v1/models")).json()).data[0];
  $("model").textContent = `${card.id} · ${card.mdm.tokenizer} · max length ${card.mdm.max_len}`;
  for (const u of card.mdm.unmaskers) {
    const opt = new Option(`${u.name}`, u.name);
    opt.title = `${u.summary} (settings: ${u.settings.join(", ") || "none"})`;
    $("unmasker").add(opt);
  }
  $("unmasker").value = "topk";
}

function colour(step) {  // early reveals blue, late ones yellow, relative to the steps so far
  const f = state.step > 1 ? (step - 1) / (state.step - 1) : 0;
  return `hsl(${230 - 185 * f} ${70 + 25 * f}% ${55 - 5 * f}%)`;
}

function draw() {
  const canvas = $("canvas"), ctx = canvas.getContext("2d");
  const all = [...state.prompt.map((p) => ({ piece: p, step: -1 })), ...state.cells];
  canvas.height = Math.max(1, Math.ceil(all.length / COLS)) * CELL_H + 4;
  canvas.width = COLS * CELL_W + 4;
  ctx.font = "14px ui-monospace, monospace"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
  all.forEach((c, i) => {
    const x = 2 + (i % COLS) * CELL_W, y = 2 + Math.floor(i / COLS) * CELL_H;
    ctx.fillStyle = c.step === -1 ? "#e5e7eb" : c.step === 0 ? "#334155" : colour(c.step);
    ctx.fillRect(x + 1, y + 1, CELL_W - 2, CELL_H - 2);
    if (c.step !== 0) {
      ctx.fillStyle = c.step === -1 ? "#374151" : "#111";
      const special = /^<[a-z|]+>$/i.test(c.piece);  // <pad>, <eos>, ...: a symbol, not clipped text
      const shown = special ? "◇" : c.piece.replace(/\n/g, "⏎").replace(/ /g, "·");
      ctx.fillText(shown.length > 3 ? shown.slice(0, 2) + "…" : shown, x + CELL_W / 2, y + CELL_H / 2 + 1);
    }
  });
}

function showStats(t0) {
  const secs = (performance.now() - t0) / 1000;
  $("step").textContent = state.step; $("nfe").textContent = state.nfe;
  $("wall").textContent = `${secs.toFixed(2)} s`;
  $("tps").textContent = secs > 0 ? (state.revealed / secs).toFixed(1) : "-";
}

function onChunk(chunk, t0) {
  if (chunk.error) throw new Error(chunk.error.message);
  const m = chunk.mdm, choice = chunk.choices[0];
  if (m.step === 0) {  // the canvas: prompt tokens and `length` masked cells
    state.prompt = m.prompt;
    state.cells = Array.from({ length: m.length }, () => ({ piece: "", step: 0 }));
    state.length = m.length;
  }
  for (const [pos, , piece] of m.revealed) { state.cells[pos] = { piece, step: m.step }; state.revealed++; }
  for (const pos of m.remasked) { state.cells[pos] = { piece: "", step: 0 }; state.revealed--; }
  state.step = m.step; state.nfe = m.nfe;
  state.text += choice.text; $("text").textContent = state.text;
  if (choice.finish_reason) state.done = true;
  draw(); showStats(t0);
}

function body() {
  const spec = $("unmasker").value + ($("options").value.trim() ? ":" + $("options").value.trim() : "");
  const mdm = { unmasker: spec };
  if ($("steps").value) mdm.steps = Number($("steps").value);
  const req = { prompt: $("prompt").value, max_tokens: Number($("max_tokens").value),
                temperature: Number($("temperature").value), seed: Number($("seed").value), stream: true, mdm };
  if ($("stop").value) req.stop = $("stop").value;
  return req;
}

async function run(event) {
  event.preventDefault();
  Object.assign(state, { prompt: [], cells: [], step: 0, nfe: 0, length: 0, revealed: 0, text: "", done: false });
  $("text").textContent = ""; $("text").className = ""; $("go").disabled = true;
  $("status").textContent = "denoising…"; $("status").dataset.state = "running";
  const t0 = performance.now();
  try {
    const res = await fetch("/v1/completions", { method: "POST", headers: { "Content-Type": "application/json" },
                                                 body: JSON.stringify(body()) });
    if (!res.ok) throw new Error((await res.json()).error.message);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {  // one Server-Sent Event per blank line
        const line = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
        onChunk(JSON.parse(line.slice(6)), t0);
      }
    }
    $("status").textContent = "done"; $("status").dataset.state = "done";
  } catch (err) {
    $("text").textContent = err.message; $("text").className = "error";
    $("status").textContent = "error"; $("status").dataset.state = "error";
  } finally {
    $("go").disabled = false;
  }
}

$("form").addEventListener("submit", run);
loadModel().then(draw);
