// One session's output in the DOM: the ANSI renderer's lines as <div>s of styled <span>s.
//
// Output never waits on the DOM: write() only queues text, and the queue is rendered once per
// animation frame (once every 250 ms in a hidden tab, where frames stop, so memory stays bounded),
// as one HTML string per batch. At most `maxLines` lines stay in the DOM; a batch longer than that
// builds only its last `maxLines` lines. The view follows the tail unless the user scrolled up.
//
// Lines live in blocks of BLOCK lines. Every full block but the first and the last has
// `content-visibility: auto` (style.css), so the browser lays out only the blocks on screen: with
// 20,000 lines a frame costs what a screenful costs, not what 20,000 lines cost.

import { AnsiRenderer, DEFAULT_STYLE, paletteRgb } from "./ansi.js";
import { findTerms, showRanges } from "./highlight.js";
import { TailView } from "./tail.js";

export const DEFAULT_MAX_LINES = 20000;
export const BLOCK = 200; // lines per block; style.css knows it (contain-intrinsic-block-size)
const NOTICE_CLASS = "notice";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;" };

function escapeHtml(text) {
  return text.replace(/[&<>]/g, (char) => ESCAPES[char]);
}

function rgbOf(color) {
  return Array.isArray(color) ? color : paletteRgb(color);
}

function css([r, g, b]) {
  return `rgb(${r}, ${g}, ${b})`;
}

/** The inline CSS of a style, by the desktop view's rules (desktop/ui/output_view.py). */
export function styleCss(style) {
  // A color is [r, g, b] or, for the theme's own colors, a CSS value.
  let fg = style.fg === null ? null : rgbOf(style.fg);
  let bg = style.bg === null ? null : rgbOf(style.bg);
  if (style.bold && typeof style.fg === "number" && style.fg < 8) {
    fg = paletteRgb(style.fg + 8); // bold is bright, as in xterm
  }
  if (style.inverse) [fg, bg] = [bg ?? "var(--term-bg)", fg ?? "var(--term-fg)"];
  if (style.dim) {
    fg = Array.isArray(fg)
      ? fg.map((c) => Math.round(c / 1.5)) // Qt's darker(150), as the desktop app
      : `color-mix(in srgb, ${fg ?? "var(--term-fg)"} 60%, var(--term-bg))`; // fades in any theme
  }
  const rules = [];
  if (fg !== null) rules.push(`color: ${Array.isArray(fg) ? css(fg) : fg}`);
  if (bg !== null) rules.push(`background-color: ${Array.isArray(bg) ? css(bg) : bg}`);
  if (style.bold) rules.push("font-weight: bold");
  if (style.italic) rules.push("font-style: italic");
  if (style.underline) rules.push("text-decoration: underline");
  return rules.join("; ");
}

export class OutputView extends TailView {
  constructor({ maxLines = DEFAULT_MAX_LINES } = {}) {
    super("output", "session output");
    this.maxLines = Math.max(2, maxLines);
    this.renderer = new AnsiRenderer();
    this.lines = 0; // line elements in the DOM, the partial one included
    this.dropped = 0; // lines that left the DOM (or never entered it) because of maxLines
    this._css = new Map();
    this._append([], []);
  }

  /** Program output, ANSI included. */
  write(text) {
    this.queue.push(text);
    this._schedule();
  }

  /** A line of our own (a trim notice, an error), on a line of its own. */
  notice(text) {
    this.queue.push({ notice: text });
    this._schedule();
  }

  /** The text of every line in the DOM, the partial line included if it is not empty. */
  textLines() {
    const texts = Array.from(this.element.querySelectorAll(".l"), (el) => el.textContent);
    if (texts.length && texts[texts.length - 1] === "") texts.pop();
    return texts;
  }

  /** A search hit in this session: its words highlighted where they last appear in the lines
   *  on the page (the newest; a hit is the latest line that holds them). Resolves to whether
   *  they were found. */
  async reveal(eventId, terms, timeoutMs = 5000) {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      this.flush();
      const ranges = findTerms(this.element, terms);
      if (ranges.length) {
        this.follow = false;
        this.onFollowChange?.(false);
        showRanges(ranges, { last: true });
        this._scrollTop = this.element.scrollTop;
        return true;
      }
      if (performance.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Render everything queued now (normally called once per animation frame). */
  flush() {
    if (!this.queue.length) return;
    const items = this.queue;
    this.queue = [];
    const finished = [];
    let partial = null;
    let text = "";
    const feed = () => {
      if (!text) return;
      const update = this.renderer.feed(text);
      for (const line of update.finished) finished.push(line);
      partial = update.partial;
      text = "";
    };
    for (const item of items) {
      if (typeof item === "string") {
        text += item;
        continue;
      }
      feed();
      const shown = this.renderer.feed("").partial;
      if (shown.length) finished.push(shown);
      finished.push([[item.notice, NOTICE_CLASS]]);
      this.renderer.reset();
      partial = [];
    }
    feed();
    if (partial === null) return;
    this._show(finished, partial);
  }

  /** Replace the partial line shown so far by `finished` lines and the new `partial` line. */
  _show(finished, partial) {
    this._partial.remove();
    this.lines -= 1;
    const total = finished.length + 1;
    if (total >= this.maxLines) {
      // Everything shown so far leaves; build only the lines that stay.
      const skip = total - this.maxLines;
      this.dropped += this.lines + skip;
      this.element.replaceChildren();
      this.lines = 0;
      finished = finished.slice(skip);
    }
    this._append(finished, partial);
    this._trim(this.lines - this.maxLines);
    this._shown();
  }

  _append(finished, partial) {
    const lines = finished.map((line) => this._lineHtml(line));
    lines.push(this._lineHtml(partial));
    this.lines += lines.length;
    let last = this.element.lastElementChild;
    let start = 0;
    if (last !== null && last.childElementCount < BLOCK) {
      start = BLOCK - last.childElementCount;
      last.insertAdjacentHTML("beforeend", lines.slice(0, start).join(""));
    }
    // One HTML string per batch: far cheaper than a DOM call per line and per run.
    let html = "";
    for (let i = start; i < lines.length; i += BLOCK) {
      html += `<div class="b">${lines.slice(i, i + BLOCK).join("")}</div>`;
    }
    if (html) this.element.insertAdjacentHTML("beforeend", html);
    last = this.element.lastElementChild;
    this._partial = last.lastElementChild;
  }

  /** Remove the first `count` lines. */
  _trim(count) {
    if (count <= 0) return;
    this.lines -= count;
    this.dropped += count;
    const element = this.element;
    while (count > 0) {
      const block = element.firstElementChild;
      const size = block.childElementCount;
      if (size <= count) {
        block.remove();
        count -= size;
      } else {
        const range = document.createRange();
        range.setStartBefore(block.firstElementChild);
        range.setEndAfter(block.children[count - 1]);
        range.deleteContents();
        count = 0;
      }
    }
  }

  _lineHtml(line) {
    if (line.length === 1 && line[0][1] === NOTICE_CLASS) {
      return `<div class="l notice">${escapeHtml(line[0][0])}</div>`;
    }
    let html = '<div class="l">';
    for (const [text, style] of line) {
      if (style === DEFAULT_STYLE) {
        html += escapeHtml(text);
        continue;
      }
      let cssText = this._css.get(style.key);
      if (cssText === undefined) {
        cssText = styleCss(style);
        if (this._css.size >= 4096) this._css.clear();
        this._css.set(style.key, cssText);
      }
      html += `<span style="${cssText}">${escapeHtml(text)}</span>`;
    }
    return `${html}</div>`;
  }
}
