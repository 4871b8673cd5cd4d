// The playground: plain JavaScript against the server's own API, no build step, no CDN.
"use strict";

const $ = (id) => document.getElementById(id);
let generation = null; // AbortController of the running stream

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function postJSON(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error((data.error && data.error.message) || `${response.status} ${response.statusText}`);
  }
  return data;
}

function selectedModel(id) {
  const value = $(id).value;
  return value || undefined;
}

// -- tabs ----------------------------------------------------------------------------------
document.querySelectorAll("nav button").forEach((button) => {
  button.addEventListener("click", () => {
    document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b === button));
    document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t.id === "tab-" + button.dataset.tab));
    showError("");
  });
});

// -- models --------------------------------------------------------------------------------
async function loadModels() {
  try {
    const response = await fetch("/v1/models");
    const list = (await response.json()).data || [];
    document.querySelectorAll("select[data-capability]").forEach((select) => {
      const able = list.filter((m) => (m.capabilities || []).includes(select.dataset.capability));
      select.innerHTML = "";
      for (const m of able) select.add(new Option(m.id, m.id));
      if (!able.length) select.add(new Option("(none served)", ""));
    });
    $("status").textContent = "models: " + list.map((m) => m.id).join(", ");
  } catch (err) {
    $("status").textContent = "could not list models: " + err.message;
  }
}

// -- generation: server-sent events, text appended as it arrives ------------------------------
function numberOrUndefined(id) {
  const text = $(id).value.trim();
  return text === "" ? undefined : Number(text);
}

function unescapeStop(text) {
  return text.replace(/\\n/g, "\n").replace(/\\t/g, "\t");
}

async function generate() {
  showError("");
  const output = $("gen-output");
  output.textContent = "";
  $("gen-info").textContent = "";
  const chat = $("gen-chat").checked;
  const body = {
    model: selectedModel("gen-model"),
    max_tokens: numberOrUndefined("gen-max-tokens"),
    temperature: numberOrUndefined("gen-temperature"),
    top_p: numberOrUndefined("gen-top-p"),
    top_k: numberOrUndefined("gen-top-k"),
    seed: numberOrUndefined("gen-seed"),
    stream: true,
    stream_options: { include_usage: true },
  };
  const stop = $("gen-stop").value;
  if (stop) body.stop = unescapeStop(stop);
  if (chat) body.messages = [{ role: "user", content: $("gen-prompt").value }];
  else body.prompt = $("gen-prompt").value;

  generation = new AbortController();
  $("gen-run").disabled = true;
  $("gen-stop-button").disabled = false;
  const started = performance.now();
  let firstAt = null;
  let finish = null;
  let usage = null;
  try {
    const response = await fetch(chat ? "/v1/chat/completions" : "/v1/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: generation.signal,
    });
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      throw new Error((data.error && data.error.message) || `${response.status} ${response.statusText}`);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = event.startsWith("data: ") ? event.slice(6) : "";
        if (!data || data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices || []) {
          const text = chat ? (choice.delta && choice.delta.content) || "" : choice.text || "";
          if (text) {
            if (firstAt === null) firstAt = performance.now();
            output.textContent += text;
          }
          if (choice.finish_reason) finish = choice.finish_reason;
        }
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const parts = [`finish: ${finish}`];
    if (firstAt !== null) parts.push(`first text after ${Math.round(firstAt - started)} ms`);
    if (usage) {
      parts.push(`${usage.prompt_tokens} prompt + ${usage.completion_tokens} new tokens`);
      parts.push(`${(usage.completion_tokens / seconds).toFixed(1)} tokens/s`);
    }
    $("gen-info").textContent = parts.join(" · ");
  } catch (err) {
    if (err.name !== "AbortError") showError(err.message);
    else $("gen-info").textContent = "stopped";
  } finally {
    generation = null;
    $("gen-run").disabled = false;
    $("gen-stop-button").disabled = true;
  }
}

$("gen-run").addEventListener("click", generate);
$("gen-stop-button").addEventListener("click", () => generation && generation.abort());

// -- fill-mask -------------------------------------------------------------------------------
function bars(rows) {
  // rows: [[label, score]] -> a small table with proportional bars
  const table = document.createElement("table");
  for (const [label, score] of rows) {
    const tr = table.insertRow();
    tr.insertCell().textContent = label;
    const cell = tr.insertCell();
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.max(1, Math.round(score * 200))}px`;
    cell.append(bar, document.createTextNode(score.toFixed(4)));
  }
  return table;
}

$("mask-run").addEventListener("click", async () => {
  showError("");
  const out = $("mask-output");
  out.textContent = "…";
  try {
    const data = await postJSON("/v1/fill-mask", { model: selectedModel("mask-model"), text: $("mask-text").value });
    out.textContent = "";
    const groups = Array.isArray(data.predictions[0]) ? data.predictions : [data.predictions];
    groups.forEach((group, i) => {
      const title = document.createElement("div");
      title.textContent = `mask ${i + 1}`;
      out.append(title, bars(group.map((p) => [p.token_str.trim() || p.token_str, p.score])));
    });
  } catch (err) {
    out.textContent = "";
    showError(err.message);
  }
});

// -- classification --------------------------------------------------------------------------
$("cls-run").addEventListener("click", async () => {
  showError("");
  const out = $("cls-output");
  out.textContent = "…";
  try {
    const data = await postJSON("/v1/classify", { model: selectedModel("cls-model"), text: $("cls-text").value });
    out.textContent = "";
    const result = data.result;
    if (result && result.probabilities) out.append(bars(Object.entries(result.probabilities)));
    else out.textContent = JSON.stringify(result, null, 2);
  } catch (err) {
    out.textContent = "";
    showError(err.message);
  }
});

// -- embedding similarity --------------------------------------------------------------------
$("emb-run").addEventListener("click", async () => {
  showError("");
  const out = $("emb-output");
  const texts = $("emb-texts").value.split("\n").map((t) => t.trim()).filter((t) => t);
  out.textContent = "…";
  try {
    const data = await postJSON("/v1/embeddings", { model: selectedModel("emb-model"), input: texts });
    const vectors = data.data.map((d) => d.embedding);
    const dot = (a, b) => a.reduce((sum, x, i) => sum + x * b[i], 0);
    const table = document.createElement("table");
    const head = table.insertRow();
    head.insertCell();
    texts.forEach((_, j) => { head.insertCell().textContent = `#${j + 1}`; });
    vectors.forEach((a, i) => {
      const row = table.insertRow();
      row.insertCell().textContent = `#${i + 1} ${texts[i]}`;
      vectors.forEach((b) => {
        const s = dot(a, b);
        const cell = row.insertCell();
        cell.textContent = s.toFixed(3);
        cell.style.background = `rgba(47, 111, 222, ${Math.max(0, s).toFixed(2)})`;
        if (s > 0.6) cell.style.color = "#fff";
      });
    });
    out.textContent = "";
    out.append(table);
  } catch (err) {
    out.textContent = "";
    showError(err.message);
  }
});

// -- attention heatmap -----------------------------------------------------------------------
let attention = null;

function fillSelect(select, values, labelOf) {
  select.innerHTML = "";
  values.forEach((v, i) => select.add(new Option(labelOf(v), String(i))));
}

function drawAttention() {
  if (!attention) return;
  const canvas = $("att-canvas");
  const ctx = canvas.getContext("2d");
  const tokens = attention.tokens;
  const n = tokens.length;
  const layerChoice = $("att-layer").value;
  let matrix;
  if (layerChoice === "rollout") {
    matrix = attention.rollout;
  } else {
    const layer = attention.weights.self[Number(layerChoice)];
    const head = $("att-head").value;
    matrix = head === "mean"
      ? layer[0].map((row, i) => row.map((_, j) => layer.reduce((s, h) => s + h[i][j], 0) / layer.length))
      : layer[Number(head)];
  }
  const margin = 110;
  const cell = Math.max(6, Math.min(36, Math.floor((canvas.width - margin) / n)));
  canvas.height = margin + cell * n + 10;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = "11px sans-serif";
  ctx.fillStyle = "#1d2330";
  for (let i = 0; i < n; i++) {
    ctx.textAlign = "right";
    ctx.fillText(tokens[i].slice(0, 14), margin - 4, margin + i * cell + cell * 0.7);
    ctx.save();
    ctx.translate(margin + i * cell + cell * 0.7, margin - 4);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "left";
    ctx.fillText(tokens[i].slice(0, 14), 0, 0);
    ctx.restore();
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const w = matrix[i][j];
      ctx.fillStyle = `rgba(47, 111, 222, ${Math.min(1, w).toFixed(3)})`;
      ctx.fillRect(margin + j * cell, margin + i * cell, cell - 1, cell - 1);
    }
  }
  $("att-info").textContent = "rows: queries, columns: keys; darker = more attention"
    + (attention.notices.length ? " · " + attention.notices.join("; ") : "");
}

$("att-run").addEventListener("click", async () => {
  showError("");
  try {
    attention = await postJSON("/v1/attention", { model: selectedModel("att-model"), text: $("att-text").value });
    const layers = attention.layers.self;
    fillSelect($("att-layer"), layers, (l) => `layer ${l}`);
    if (attention.rollout) $("att-layer").add(new Option("rollout (all layers)", "rollout"));
    fillSelect($("att-head"), attention.heads, (h) => `head ${h}`);
    $("att-head").add(new Option("mean of heads", "mean"));
    drawAttention();
  } catch (err) {
    showError(err.message);
  }
});
$("att-layer").addEventListener("change", drawAttention);
$("att-head").addEventListener("change", drawAttention);

loadModels();
