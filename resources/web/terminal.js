// One terminal session (a shell or a command in a PTY) in xterm.js: the backend owns the screen,
// this is a view of it.
//
// The stream (opened with attach=screen) starts with a `snapshot`, the backend's emulator's
// screen as VT sequences: reset and draw it (at any time: a reconnect with too large a gap sends
// one too). Then `output` is written as it is and `resize` sets the size the PTY has now (the last
// client to resize wins). What the user types and pastes goes to POST /input, in order, one
// request at a time; the page's size goes to POST /resize when it changes, never in answer to a
// `resize` event (two pages would answer each other for ever).
//
// The backend answers the program's terminal queries (device attributes, cursor position, modes,
// colors…) once, whoever watches. xterm.js would answer them too, through onData, and the
// program would read a second answer as typed input: the handlers below swallow those queries.

import { FitAddon } from "./vendor/addon-fit/addon-fit.mjs";
import { SearchAddon } from "./vendor/addon-search/addon-search.mjs";
import { Unicode11Addon } from "./vendor/addon-unicode11/addon-unicode11.mjs";
import { WebLinksAddon } from "./vendor/addon-web-links/addon-web-links.mjs";
import { WebglAddon } from "./vendor/addon-webgl/addon-webgl.mjs";
import { Terminal } from "./vendor/xterm/xterm.mjs";
import { PALETTE_16 } from "./ansi.js";
import { api, ApiError } from "./api.js";

export const SCROLLBACK = 10000;
const INPUT_BATCH_MS = 5; // keys typed this close together go in one request
export const INPUT_MAX_BYTES = 65536; // per request (the backend's limit)
const INPUT_RETRY_MS = [250, 500, 1000, 2000, 4000]; // while the backend cannot be reached
const FIT_DEBOUNCE_MS = 100;
const NOTICES_KEPT = 3;

const PALETTE_NAMES = [
  "black", "red", "green", "yellow", "blue", "magenta", "cyan", "white",
  "brightBlack", "brightRed", "brightGreen", "brightYellow",
  "brightBlue", "brightMagenta", "brightCyan", "brightWhite",
]; // prettier-ignore

// Window reports (CSI Ps t): sizes, positions, state, titles. 22 and 23 (the title stack) change
// state and stay xterm's.
const WINDOW_REPORTS = new Set([11, 13, 14, 15, 16, 18, 19, 20, 21]);

/** Make `term` answer none of the queries the backend answers, by handlers that claim them. */
export function swallowQueries(term) {
  const parser = term.parser;
  const claim = () => true;
  for (const id of [
    { final: "c" }, // DA1
    { prefix: ">", final: "c" }, // DA2
    { prefix: "=", final: "c" }, // DA3
    { final: "n" }, // DSR: 5n (status), 6n (cursor position)
    { prefix: "?", final: "n" }, // DEC DSR (?6n and the rest)
    { prefix: ">", final: "q" }, // XTVERSION
    { intermediates: "$", final: "p" }, // DECRQM, ANSI modes
    { prefix: "?", intermediates: "$", final: "p" }, // DECRQM, DEC modes
    { prefix: "?", final: "u" }, // kitty keyboard flags
  ]) {
    parser.registerCsiHandler(id, claim);
  }
  parser.registerCsiHandler({ final: "t" }, (params) => WINDOW_REPORTS.has(first(params)));
  parser.registerDcsHandler({ intermediates: "$", final: "q" }, claim); // DECRQSS
  parser.registerDcsHandler({ intermediates: "+", final: "q" }, claim); // XTGETTCAP
  // OSC 4 (palette), 10, 11, 12 (foreground, background, cursor): a "?" asks for the color. A
  // sequence that sets some colors and asks for others is dropped whole: xterm.js cannot be
  // told to do only part of it.
  for (const ident of [4, 10, 11, 12]) {
    parser.registerOscHandler(ident, (data) => {
      const parts = data.split(";");
      return (ident === 4 ? parts.filter((_, i) => i % 2 === 1) : parts).includes("?");
    });
  }
}

function first(params) {
  const value = params[0];
  return Array.isArray(value) ? value[0] : value;
}

/** The longest start of `text` whose UTF-8 takes at most `maxBytes`, surrogate pairs kept whole. */
export function utf8Prefix(text, maxBytes) {
  if (text.length * 3 <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  while (end < text.length) {
    const code = text.codePointAt(end);
    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += code > 0xffff ? 2 : 1;
  }
  return text.slice(0, end);
}

function element(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key in el) el[key] = value;
    else el.setAttribute(key, value);
  }
  el.append(...children);
  return el;
}

const hex = ([r, g, b]) => `#${[r, g, b].map((c) => c.toString(16).padStart(2, "0")).join("")}`;

/** xterm's colors from the page's (style.css), so that the terminal turns dark with the page. */
function pageTheme() {
  const css = getComputedStyle(document.documentElement);
  const value = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  const background = value("--term-bg", "#ffffff");
  const foreground = value("--term-fg", "#1f2328");
  const theme = {
    background,
    foreground,
    cursor: foreground,
    cursorAccent: background,
    selectionBackground: `${value("--accent", "#0969da")}66`,
    overviewRulerBorder: value("--border", "#d0d7de"),
  };
  PALETTE_16.forEach((rgb, i) => {
    theme[PALETTE_NAMES[i]] = hex(rgb);
  });
  return theme;
}

function matchColors() {
  const dark = matchMedia("(prefers-color-scheme: dark)").matches;
  const match = dark ? "#7d5a00" : "#f2cc60";
  const active = dark ? "#bc4c00" : "#ff9a3c";
  return {
    matchBackground: match,
    matchOverviewRuler: match,
    activeMatchBackground: active,
    activeMatchColorOverviewRuler: active,
  };
}

/**
 * A terminal session's screen, keyboard and size.
 *
 * `canType()` and `canResize()` say whether the session takes input and a size now (it runs);
 * `onError(error)` gets a request that failed (`/input`, `/resize`).
 */
export class TerminalView {
  constructor({ sessionId, canType = () => true, canResize = () => true, onError = () => {} }) {
    this.sessionId = sessionId;
    this.canType = canType;
    this.canResize = canResize;
    this.onError = onError;
    this.renderer = null; // "webgl" or "dom", once opened
    this.onShown = null; // called when what the page says about the view changes (its size)
    this.snapshots = 0;

    this.term = new Terminal({
      allowProposedApi: true, // the unicode version and the search highlights are "proposed" API
      scrollback: SCROLLBACK,
      fontFamily: getComputedStyle(document.documentElement).getPropertyValue("--mono").trim() || "monospace",
      fontSize: 13,
      theme: pageTheme(),
      overviewRuler: { width: 10 },
    });
    swallowQueries(this.term);
    this.fitAddon = new FitAddon();
    this.search = new SearchAddon();
    this.term.loadAddon(this.fitAddon);
    this.term.loadAddon(this.search);
    this.term.loadAddon(new Unicode11Addon());
    this.term.unicode.activeVersion = "11";
    this.term.loadAddon(new WebLinksAddon());
    this.term.onData((data) => this.type(data));
    // Legacy mouse reports: one character per byte. Those over 127 reach the program as UTF-8
    // (what mode 1005 would send); /input takes text.
    this.term.onBinary((data) => this.type(data));
    this.term.attachCustomKeyEventHandler((event) => this.key(event));
    this.term.onResize(() => this.onShown?.());

    this.host = element("div", { className: "term-host" });
    this.notices = element("div", { className: "term-notices", hidden: true });
    this.findInput = element("input", {
      type: "text",
      placeholder: "Find",
      autocomplete: "off",
      spellcheck: false,
      "aria-label": "find in the terminal",
    });
    this.findCount = element("span", { className: "term-find-count muted" });
    const button = (label, text, action) => {
      const b = element("button", { type: "button", title: label, "aria-label": label }, text);
      b.addEventListener("click", action);
      return b;
    };
    this.findBar = element(
      "div",
      { className: "term-find", role: "search", hidden: true },
      this.findInput,
      this.findCount,
      button("Previous match (Shift+Enter)", "↑", () => this.find(-1)),
      button("Next match (Enter)", "↓", () => this.find(1)),
      button("Close (Esc)", "×", () => this.closeFind()),
    );
    this.findInput.addEventListener("keydown", (event) => this.findKey(event));
    this.findInput.addEventListener("input", () => this.find(0));
    this.search.onDidChangeResults(({ resultIndex, resultCount }) => {
      this.findCount.textContent = !this.findInput.value
        ? ""
        : resultCount === 0
          ? "no matches"
          : resultIndex < 0
            ? `${resultCount}+ matches`
            : `${resultIndex + 1} of ${resultCount}`;
    });
    this.element = element("div", { className: "terminal-view" }, this.notices, this.host, this.findBar);

    this._held = null; // operations waiting until xterm has parsed what was written before them
    this._input = "";
    this._inputTimer = null;
    this._sending = false;
    this._asked = null; // the size this page last asked for
    this._fitTimer = null;
    this._resizeObserver = new ResizeObserver(() => this._fitSoon());
    this._scheme = matchMedia("(prefers-color-scheme: dark)");
    this._schemeChanged = () => {
      this.term.options.theme = pageTheme();
    };
    this._scheme.addEventListener("change", this._schemeChanged);
  }

  get cols() {
    return this.term.cols;
  }

  get rows() {
    return this.term.rows;
  }

  /** Roughly what the view keeps, for the page's budget of kept views (app.js). */
  get chars() {
    return this.term.buffer.normal.length * this.term.cols;
  }

  // Shown and hidden

  /** The view was put in the page: open xterm there (the first time), size and focus it. */
  shown() {
    if (!this.term.element) {
      this.term.open(this.host);
      this.renderer = this._loadWebgl() ? "webgl" : "dom";
      this._resizeObserver.observe(this.host);
    }
    this._fit("show");
    this.focus();
  }

  focus() {
    this.term.focus();
  }

  dispose() {
    clearTimeout(this._fitTimer);
    this._resizeObserver.disconnect();
    this._scheme.removeEventListener("change", this._schemeChanged);
    this.term.dispose();
  }

  _loadWebgl() {
    try {
      const webgl = new WebglAddon();
      // A lost context (the GPU process restarted, too many contexts): xterm goes on with its
      // DOM renderer once the addon is gone.
      webgl.onContextLoss(() => {
        webgl.dispose();
        this.renderer = "dom";
      });
      this.term.loadAddon(webgl);
      return true;
    } catch {
      return false; // no WebGL2 here (no GPU, or disabled): the DOM renderer draws
    }
  }

  // What the stream brings, in the order it brings it

  /** A `snapshot` event: the screen as the backend has it now. */
  snapshot({ cols, rows, vt }) {
    this._afterWrites(() => {
      this.term.reset();
      this.term.resize(cols, rows);
      this.term.write(vt ?? "");
      this.snapshots += 1;
      if (this.snapshots === 1) this._fit("show"); // now the PTY's size is known
    });
  }

  /** An `output` event's content. */
  write(text) {
    this._run(() => this.term.write(text));
  }

  /** A `resize` event: the PTY's size now. */
  resize(cols, rows) {
    this._afterWrites(() => {
      if (cols !== this.term.cols || rows !== this.term.rows) this.term.resize(cols, rows);
    });
  }

  /** A line about the session (an error event, older history trimmed), over the terminal: in
   * it, it would be drawn over the program's screen. */
  notice(text) {
    this.notices.append(element("div", {}, text));
    while (this.notices.childElementCount > NOTICES_KEPT) this.notices.firstChild.remove();
    this.notices.hidden = false;
  }

  _run(operation) {
    if (this._held === null) operation();
    else this._held.push(operation);
  }

  /** Run `operation` once xterm has parsed everything written before it (writes are queued
   * inside xterm; reset and resize are not), holding back what comes after it. */
  _afterWrites(operation) {
    this._run(() => {
      this._held = [];
      this.term.write("", () => {
        operation();
        const held = this._held;
        this._held = null;
        for (const next of held) this._run(next);
      });
    });
  }

  // Keys and pastes

  key(event) {
    const ctrlShift = event.ctrlKey && event.shiftKey && !event.altKey && !event.metaKey;
    if (event.type === "keydown" && ctrlShift && event.code === "KeyF") {
      event.preventDefault();
      this.openFind();
      return false;
    }
    return true; // everything else is the program's, Ctrl+F and Ctrl+C included
  }

  /** What xterm made of keys, pastes and mouse reports goes to the program, in order. */
  type(data) {
    if (!data || !this.canType()) return;
    this._input += data;
    if (!this._sending && this._inputTimer === null) {
      this._inputTimer = setTimeout(() => this._sendInput(), INPUT_BATCH_MS);
    }
  }

  async _sendInput() {
    this._inputTimer = null;
    if (this._sending || !this._input) return;
    this._sending = true;
    try {
      while (this._input) {
        const chunk = utf8Prefix(this._input, INPUT_MAX_BYTES);
        this._input = this._input.slice(chunk.length);
        try {
          await this._post(chunk);
        } catch (error) {
          // Not sent: what was typed after it would reach the program without it. Drop it too.
          this._input = "";
          this.onError(error);
        }
      }
    } finally {
      this._sending = false;
    }
  }

  /** POST one chunk; tried again while the backend cannot be reached (it was not received). */
  async _post(chunk) {
    for (let attempt = 0; ; attempt++) {
      try {
        await api.input(this.sessionId, chunk);
        return;
      } catch (error) {
        const unreachable = error instanceof ApiError && error.code === "unreachable";
        if (!unreachable || attempt >= INPUT_RETRY_MS.length) throw error;
        await new Promise((resolve) => setTimeout(resolve, INPUT_RETRY_MS[attempt]));
      }
    }
  }

  // Size: the page's room, sent to the backend, which resizes the PTY and tells every client

  _fitSoon() {
    clearTimeout(this._fitTimer);
    this._fitTimer = setTimeout(() => this._fit("layout"), FIT_DEBOUNCE_MS);
  }

  /** Ask the backend for the size that fits, if it is new: after the page's room changed,
   * against what this page last asked; when shown, against the PTY's size now. */
  _fit(reason) {
    // Not before the first snapshot: until then this view does not know the PTY's size.
    const laidOut = this.element.isConnected && this.host.clientWidth && this.host.clientHeight;
    if (!this.snapshots || !laidOut) return;
    const size = this.fitAddon.proposeDimensions();
    if (!size || !Number.isFinite(size.cols) || !Number.isFinite(size.rows) || !this.canResize()) return;
    const now = { cols: this.term.cols, rows: this.term.rows };
    const known = reason === "layout" ? this._asked ?? now : now;
    if (known.cols === size.cols && known.rows === size.rows) return;
    this._asked = { cols: size.cols, rows: size.rows };
    this._requestResize(this._asked);
  }

  async _requestResize({ cols, rows }) {
    try {
      await api.resize(this.sessionId, cols, rows);
    } catch (error) {
      if (error instanceof ApiError && error.code === "session_not_running") return; // ended
      this.onError(error);
    }
  }

  // Find (Ctrl+Shift+F)

  openFind() {
    this.findBar.hidden = false;
    const selection = this.term.getSelection();
    if (selection && !selection.includes("\n")) this.findInput.value = selection;
    this.findInput.focus();
    this.findInput.select();
    if (this.findInput.value) this.find(0);
  }

  closeFind() {
    this.findBar.hidden = true;
    this.search.clearDecorations();
    this.findCount.textContent = "";
    this.term.focus();
  }

  findKey(event) {
    if (event.key === "Enter") {
      event.preventDefault();
      this.find(event.shiftKey ? -1 : 1);
    } else if (event.key === "Escape") {
      event.preventDefault();
      this.closeFind();
    } else if (event.ctrlKey && event.shiftKey && event.code === "KeyF") {
      event.preventDefault();
      this.findInput.select();
    }
  }

  /** A search hit in this session: the find bar opens on its words and goes to their last
   *  match (the newest: a hit is the latest line that holds them, as far as the terminal's
   *  scrollback reaches). Resolves to whether it was found. */
  async reveal(eventId, terms, timeoutMs = 5000) {
    // The words as typed, else the longest of them that is there.
    const wanted = [...new Set([terms.join(" "), ...[...terms].sort((a, b) => b.length - a.length)])].filter(Boolean);
    if (!wanted.length) return false;
    this.findBar.hidden = false;
    const deadline = performance.now() + timeoutMs;
    // The screen and its scrollback arrive with the stream: look until they are there.
    for (;;) {
      for (const text of wanted) {
        this.findInput.value = text;
        this.term.scrollToBottom();
        this.search.clearDecorations();
        if (this.find(-1)) return true;
      }
      if (performance.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Highlight every match and go to the next (1), the previous (-1), or stay on this one as
   * the text grows (0). */
  find(direction) {
    const text = this.findInput.value;
    if (!text) {
      this.search.clearDecorations();
      this.findCount.textContent = "";
      return false;
    }
    const options = { decorations: matchColors(), incremental: direction === 0 };
    return direction < 0 ? this.search.findPrevious(text, options) : this.search.findNext(text, options);
  }
}
