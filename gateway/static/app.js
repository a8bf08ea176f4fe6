// MelancIA web chat: streams answers over SSE from POST /api/v1/query/stream (fetch +
// ReadableStream, since EventSource cannot POST), shows sources, model, latency, and takes
// thumbs up/down. Aborting the fetch makes the gateway cancel the generation on the worker.
"use strict";

(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const form = $("#formulario");
  const input = $("#pergunta");
  const sendButton = $("#enviar");
  const stopButton = $("#parar");
  const newButton = $("#nova");
  const log = $("#conversa");
  const status = $("#estado");
  const keyInput = $("#chave");
  const maxTokensInput = $("#max-tokens");
  const template = $("#modelo-turno");
  const HISTORY_MESSAGES = 6;
  const MAX_TURN_CHARS = 4000;

  let history = [];
  let controller = null;

  // The question form sticks to the bottom of the screen: keep focused or scrolled-to
  // elements (the thumbs, the sources) from hiding behind it.
  const padForForm = () => {
    document.documentElement.style.scrollPaddingBottom = `${form.offsetHeight + 16}px`;
  };
  new ResizeObserver(padForForm).observe(form);
  padForForm();

  // Follow a streaming answer only while the reader is at the bottom of the page.
  const nearBottom = () => innerHeight + scrollY >= document.documentElement.scrollHeight - 80;
  const follow = (wasNearBottom) => {
    if (wasNearBottom) scrollTo({ top: document.documentElement.scrollHeight });
  };

  keyInput.value = sessionStorage.getItem("melancia-chave") || "";
  keyInput.addEventListener("change", () => {
    sessionStorage.setItem("melancia-chave", keyInput.value.trim());
  });

  const number = (value, digits = 0) =>
    value.toLocaleString("pt-BR", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const seconds = (ms) => `${number(ms / 1000, 1)} s`;

  function requestHeaders() {
    const headers = { "Content-Type": "application/json", Accept: "text/event-stream" };
    const key = keyInput.value.trim();
    if (key) headers.Authorization = `Bearer ${key}`;
    return headers;
  }

  function maxTokens() {
    const value = Number.parseInt(maxTokensInput.value, 10);
    return Number.isFinite(value) ? Math.min(Math.max(value, 1), 2048) : 256;
  }

  function setBusy(busy) {
    sendButton.disabled = busy;
    stopButton.disabled = !busy;
    form.setAttribute("aria-busy", String(busy));
  }

  // An error response as a Portuguese sentence (the server's detail kept for specifics).
  async function describe(response) {
    let detail = "";
    try {
      const body = await response.json();
      detail = typeof body.detail === "string" ? body.detail : body.error?.message || "";
    } catch {
      detail = response.statusText;
    }
    const known = {
      401: "Credenciais ausentes ou inválidas: informe a chave de API em Configurações.",
      403: "Esta chave de API não tem permissão para esta ação.",
      404: "Não encontrado.",
      422: "Pergunta inválida.",
      429: "Muitas perguntas ao mesmo tempo; tente de novo em instantes.",
      503: "O serviço está indisponível no momento; tente de novo em instantes.",
      504: "O servidor demorou demais para responder.",
    };
    const sentence = known[response.status] || `Erro ${response.status}.`;
    return detail ? `${sentence} (${detail})` : sentence;
  }

  function parseBlock(block) {
    let type = "message";
    let id = null;
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue; // comments are keep-alive pings
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") type = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
    return data.length ? { type, id, data: JSON.parse(data.join("\n")) } : null;
  }

  // Server-Sent Events from a fetch body: blocks end with a blank line.
  async function* sseEvents(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let carry = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      let raw = carry + value;
      carry = raw.endsWith("\r") ? "\r" : ""; // a CRLF may be split across reads
      if (carry) raw = raw.slice(0, -1);
      buffer += raw.replace(/\r\n?/g, "\n");
      let cut = buffer.indexOf("\n\n");
      while (cut >= 0) {
        const event = parseBlock(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (event) yield event;
        cut = buffer.indexOf("\n\n");
      }
    }
  }

  function renderSources(turn, sources) {
    const section = $(".fontes", turn);
    const list = $("ol", section);
    list.replaceChildren();
    for (const source of sources) {
      const item = document.createElement("li");
      item.dataset.articleId = source.article_id;
      const title = document.createElement("strong");
      title.textContent = source.title;
      const score = document.createElement("span");
      score.className = "relevancia";
      score.textContent = ` relevância ${number(source.score, 2)}`;
      const snippet = document.createElement("p");
      snippet.className = "trecho";
      snippet.textContent = source.snippet;
      item.append(title, score, snippet);
      list.append(item);
    }
    section.hidden = sources.length === 0;
  }

  function renderMeta(turn, info) {
    const parts = [];
    if (info.model) parts.push(`Modelo ${info.model}`);
    if (info.variant) parts.push(`variante ${info.variant}`);
    if (info.latencyMs != null) parts.push(`${seconds(info.latencyMs)} no servidor`);
    if (info.firstMs != null) parts.push(`primeiro trecho em ${seconds(info.firstMs)}`);
    if (info.cached) parts.push("resposta do cache");
    if (info.finish === "length") parts.push("cortada no limite de tokens");
    if (info.stopped) parts.push("interrompida");
    $(".meta", turn).textContent = parts.join(" · ");
  }

  async function ask(question) {
    const turn = template.content.firstElementChild.cloneNode(true);
    $(".texto-pergunta", turn).textContent = question;
    $("#vazio")?.remove();
    log.append(turn);
    follow(true);
    const answerBox = $(".resposta", turn);
    const text = $(".texto", turn);
    const info = {};
    let answer = "";
    let finished = false;
    const started = performance.now();
    controller = new AbortController();
    setBusy(true);
    status.textContent = "Respondendo…";
    try {
      const response = await fetch("/api/v1/query/stream", {
        method: "POST",
        headers: requestHeaders(),
        body: JSON.stringify({
          question,
          history: history.slice(-HISTORY_MESSAGES),
          max_new_tokens: maxTokens(),
          temperature: 0,
        }),
        signal: controller.signal,
      });
      if (!response.ok) throw new Error(await describe(response));
      turn.dataset.queryId = response.headers.get("X-Query-Id") || "";
      for await (const event of sseEvents(response.body)) {
        const atBottom = nearBottom();
        if (event.type === "started") {
          Object.assign(info, { model: event.data.model, variant: event.data.variant });
          turn.dataset.queryId = event.data.query_id;
        } else if (event.type === "sources") {
          renderSources(turn, event.data.sources);
        } else if (event.type === "token") {
          if (info.firstMs == null) info.firstMs = performance.now() - started;
          answer += event.data.text;
          text.textContent = answer;
        } else if (event.type === "done") {
          finished = true;
          Object.assign(info, {
            model: event.data.model,
            variant: event.data.variant,
            latencyMs: event.data.usage.latency_ms,
            cached: event.data.cached,
            finish: event.data.finish_reason,
          });
        } else if (event.type === "error") {
          throw new Error(`A geração falhou: ${event.data.error}`);
        }
        renderMeta(turn, info);
        follow(atBottom);
      }
      if (!finished) throw new Error("A conexão terminou antes do fim da resposta.");
      if (answer.trim()) {
        history.push(
          { role: "user", content: question.slice(0, MAX_TURN_CHARS) },
          { role: "assistant", content: answer.trim().slice(0, MAX_TURN_CHARS) },
        );
      }
      turn.classList.add("concluida");
      status.textContent = "Resposta concluída.";
    } catch (error) {
      if (error.name === "AbortError") {
        info.stopped = true;
        turn.classList.add("interrompida");
        status.textContent = "Geração interrompida.";
      } else {
        const problem = document.createElement("p");
        problem.className = "erro";
        problem.textContent = error.message;
        text.after(problem);
        status.textContent = `Erro: ${error.message}`;
      }
      renderMeta(turn, info);
    } finally {
      answerBox.setAttribute("aria-busy", "false");
      if (turn.dataset.queryId) $(".avaliacao", turn).hidden = false;
      controller = null;
      setBusy(false);
      input.focus();
    }
  }

  async function vote(button) {
    const turn = button.closest(".turno");
    const buttons = turn.querySelectorAll(".voto");
    const thanks = $(".obrigado", turn);
    for (const b of buttons) b.disabled = true;
    try {
      const response = await fetch("/api/v1/feedback", {
        method: "POST",
        headers: requestHeaders(),
        body: JSON.stringify({ query_id: turn.dataset.queryId, rating: button.dataset.rating }),
      });
      if (!response.ok) throw new Error(await describe(response));
      button.setAttribute("aria-pressed", "true");
      thanks.textContent = "Obrigado pela avaliação!";
    } catch (error) {
      for (const b of buttons) b.disabled = false;
      thanks.textContent = `Não foi possível enviar a avaliação. ${error.message}`;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question) {
      status.textContent = "Escreva uma pergunta antes de enviar.";
      input.focus();
      return;
    }
    if (controller) return;
    input.value = "";
    ask(question);
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && controller) controller.abort();
  });

  stopButton.addEventListener("click", () => controller?.abort());

  newButton.addEventListener("click", () => {
    controller?.abort();
    history = [];
    log.replaceChildren();
    status.textContent = "Nova conversa iniciada.";
    input.focus();
  });

  log.addEventListener("click", (event) => {
    const button = event.target.closest(".voto");
    if (button && !button.disabled) vote(button);
  });
})();
