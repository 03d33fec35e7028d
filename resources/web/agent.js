// An agent session's events in the DOM: the assistant's prose, one line per tool call (Edit and
// Write open into their diff), tool results and thinking folded away, the user's prompts and each
// turn's cost. Shell and command sessions never come here: they go through output.js.
//
// As in output.js, add() only queues, and the queue is rendered once per animation frame (every
// 250 ms in a hidden tab). At most `maxItems` entries stay in the DOM; a batch longer than that
// builds only its last `maxItems`. Every text goes in as a text node, never as markup. Long texts
// are cut, and the bodies of folded entries (diffs, tool results, thinking) are built only when
// first opened, so a long replay costs little more than its visible lines.
//
// Memory: a folded entry keeps its body (already cut) until it opens, never the event's whole
// text. The view counts the characters its entries keep (`chars`: texts shown and bodies folded)
// and drops its oldest entries beyond `maxChars` as it does beyond `maxItems`; app.js keeps
// other sessions' views within a budget of the same count.

import { TailView } from "./tail.js";

export const DEFAULT_MAX_ITEMS = 2000;
export const DEFAULT_MAX_CHARS = 20_000_000; // kept by one view, in texts shown and folded bodies
const MAX_TEXT_CHARS = 100_000; // of one assistant text, thinking block or stderr chunk
const MAX_RESULT_CHARS = 20_000; // of one tool result
const MAX_DIFF_CHARS = 20_000; // of one diff (the backend's are up to 64 KiB)
const MAX_COUNTED_LINES = 1_000; // a tool result's line count stops there ("1,000+ lines")
const MAX_SUMMARY_CHARS = 160;
const MAX_TARGET_CHARS = 300; // of a path or command on a tool line
const OPERATION_TYPES = new Set(["read", "write", "edit", "delete", "bash", "other"]);

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== ""));
  return node;
}

/**
 * `text` cut to `max` characters, with a note of how many more there were. The cut text is a
 * copy: V8 shares a slice's characters with the string it was cut from (and so keeps all of
 * it), and so does a concatenation with a slice; Array.prototype.join writes a new string.
 * The note is plain ASCII, so that the copy of an ASCII text takes one byte a character.
 */
function clip(text, max) {
  text = String(text ?? "");
  if (text.length <= max) return text;
  const rest = (text.length - max).toLocaleString("en-US");
  return [text.slice(0, max), `\n(${rest} more characters not shown)`].join("");
}

/** A diff cut to `max` characters at a line's end (a copy, as in clip()); null if it fits. */
function clipDiff(diff, max) {
  if (diff.length <= max) return null;
  const end = diff.lastIndexOf("\n", max);
  return [diff.slice(0, end > 0 ? end : max), "\n"].join("");
}

/** The lines of `text` up to its trailing white space, counted up to `cap` + 1: a loop over
 * indexOf, not split(), which would make a string of every line of a 256 KB result; and a cap,
 * as a result of 100,000 short lines would still cost 100,000 calls. */
function countLines(text, cap) {
  const end = text.trimEnd().length;
  let lines = 1;
  let at = text.indexOf("\n");
  while (at !== -1 && at < end && lines <= cap) {
    lines += 1;
    at = text.indexOf("\n", at + 1);
  }
  return lines;
}

function firstLine(text, max = MAX_SUMMARY_CHARS) {
  const line = String(text ?? "").trim().split("\n", 1)[0];
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/** `$0.04`; under a cent `$0.0042`, so a cheap turn does not read as free. */
export function formatCost(usd) {
  const value = Number(usd) || 0;
  if (value === 0) return "$0.00";
  return value < 0.01 ? `$${value.toFixed(4)}` : `$${value.toFixed(2)}`;
}

/** "turn: $0.0421 · 476 tokens out · 12.3 s" (interrupted, failed turns say so). */
export function formatTurn(turn) {
  const parts = [];
  if (!turn.interrupted) parts.push(`$${(Number(turn.costUsd) || 0).toFixed(4)}`);
  if (turn.outputTokens) parts.push(`${Number(turn.outputTokens).toLocaleString("en-US")} tokens out`);
  if (turn.durationMs) parts.push(`${(turn.durationMs / 1000).toFixed(1)} s`);
  let head = "turn";
  if (turn.interrupted) head += " interrupted";
  else if (turn.isError) head += ` failed${turn.subtype ? ` (${turn.subtype})` : ""}`;
  return parts.length ? `${head}: ${parts.join(" · ")}` : head;
}

/** A path inside the session's folder, relative to it (the folder itself is "."); any other
 * path as it is. */
export function shortPath(path, workingDir) {
  const base = String(workingDir ?? "").replace(/\/+$/, "");
  if (base && path.startsWith(`${base}/`)) return path.slice(base.length + 1);
  if (base && path === base) return ".";
  return path;
}

/**
 * Each line of a unified diff with its kind: file, hunk, add, del or ctx. The ---/+++ file
 * headers come before the first @@: inside the hunks, "--- x" is the removed line "-- x".
 */
function diffLines(diff) {
  let inHunks = false;
  return diff.split("\n").map((line) => {
    let kind = "ctx";
    if (line.startsWith("@@")) {
      kind = "hunk";
      inHunks = true;
    } else if (!inHunks && (line.startsWith("+++ ") || line.startsWith("--- "))) kind = "file";
    else if (line.startsWith("+")) kind = "add";
    else if (line.startsWith("-")) kind = "del";
    else if (line.startsWith("\\")) kind = "hunk"; // "\ No newline at end of file"
    return [line, kind];
  });
}

/** Lines added and removed by a unified diff (its ---/+++ headers not counted). */
export function diffStats(diff) {
  let added = 0;
  let removed = 0;
  for (const [, kind] of diffLines(diff)) {
    if (kind === "add") added += 1;
    else if (kind === "del") removed += 1;
  }
  return { added, removed };
}

/** A unified diff as a <pre> of colored lines. */
export function diffElement(diff, truncated) {
  const pre = el("pre", "diff");
  for (const [line, kind] of diffLines(diff)) {
    if (line === "") continue;
    pre.append(el("span", `d-${kind}`, line)); // a block each (style.css): one line each
  }
  if (truncated) pre.append(el("span", "d-hunk", "(truncated)"));
  return pre;
}

/** An entry that keeps `chars` characters (see AgentView.chars). */
function keeps(entry, chars) {
  entry.keptChars = chars;
  return entry;
}

/**
 * <details> whose body is built by `build()` the first time it opens: a folded entry costs one
 * line in the DOM however long its content. `body` is what `build` keeps: cut already.
 */
function foldable(className, summary, body, build) {
  const details = el("details", className, el("summary", null, ...summary));
  details.addEventListener("toggle", () => {
    if (details.open && details.childElementCount === 1) details.append(build(body));
  });
  return keeps(details, body.length);
}

function operationEntry(operation, workingDir) {
  const type = OPERATION_TYPES.has(operation.type) ? operation.type : "other";
  const tool = String(operation.tool ?? "?");
  let target = "";
  if (typeof operation.command === "string" && operation.command) target = operation.command;
  else if (typeof operation.path === "string") target = shortPath(operation.path, workingDir);
  const shown = firstLine(target, MAX_TARGET_CHARS) + (target.trim().includes("\n") ? " …" : "");
  // Spaces between the parts too, so that copied text reads as it looks.
  const parts = [el("span", "op-badge", type), " ", el("span", "op-tool", tool)];
  if (shown) parts.push(" ", el("span", "op-target", shown));
  const diff = typeof operation.diff === "string" ? operation.diff : "";
  let entry;
  if (diff) {
    const { added, removed } = diffStats(diff);
    const stats = el("span", "op-stats", el("span", "d-add", `+${added}`), " ", el("span", "d-del", `−${removed}`));
    parts.push(" ", stats);
    const cut = clipDiff(diff, MAX_DIFF_CHARS);
    const truncated = operation.truncated === true || cut !== null;
    if (truncated) parts.push(" ", el("span", "op-note", "(truncated)"));
    entry = foldable(`a-op t-${type}`, parts, cut ?? diff, (shown) => diffElement(shown, truncated));
  } else {
    entry = el("div", `a-op t-${type}`, ...parts);
  }
  if (target) entry.title = target.length > 2000 ? `${target.slice(0, 2000)}…` : target;
  return entry;
}

function toolResultEntry(data) {
  const content = String(data.content ?? "");
  const error = data.isError === true;
  const className = `a-result${error ? " error" : ""}`;
  const tool = data.tool ? `${data.tool}: ` : "";
  const first = firstLine(content);
  if (!content.trim()) return el("div", className, el("span", "mark", "↳ "), `${tool}(no output)`);
  const lines = countLines(content, MAX_COUNTED_LINES);
  const count = Math.min(lines, MAX_COUNTED_LINES).toLocaleString("en-US") + (lines > MAX_COUNTED_LINES ? "+" : "");
  const more = lines > 1 ? el("span", "more", ` (${count} lines)`) : null;
  const summary = [el("span", "mark", "↳ "), `${tool}${first}`, more];
  const body = clip(content, MAX_RESULT_CHARS);
  return foldable(className, summary, body, (text) => el("pre", "body", text));
}

/** An entry showing `text` (cut) at once. */
function textEntry(className, text) {
  const shown = clip(text, MAX_TEXT_CHARS);
  return keeps(el("div", className, shown), shown.length);
}

function outputEntry(data) {
  const type = data.type;
  const content = String(data.content ?? "");
  if (type === "assistant") return textEntry("a-text", content);
  if (type === "thinking") {
    const summary = [el("span", "mark", "thinking "), el("span", "more", firstLine(content))];
    return foldable("a-thinking", summary, clip(content, MAX_TEXT_CHARS), (text) => el("div", "body", text));
  }
  if (type === "tool-result") return toolResultEntry(data);
  if (type === "stderr") return textEntry("a-stderr", content);
  return textEntry("a-plain", content); // a type this page does not know yet
}

function promptEntry(data) {
  const command = clip(data.command, MAX_TEXT_CHARS);
  const entry = el("div", "a-prompt", el("span", "mark", "❯ "), el("span", "text", command));
  keeps(entry, command.length);
  if (data.queued === true) {
    const position = Number.isInteger(data.position) ? ` #${data.position}` : "";
    entry.append(" ", el("span", "queued", `queued${position}`));
  }
  return entry;
}

function statusEntry(data) {
  if (data.turn && typeof data.turn === "object") {
    const turn = data.turn;
    const className = `a-turn${turn.isError ? " error" : ""}${turn.interrupted ? " interrupted" : ""}`;
    return el("div", className, formatTurn(turn));
  }
  return el("div", "a-notice", `session ${data.status}`);
}

/** A turn's end (with its cost) or the session's end; a turn that starts shows nothing, as its
 * prompt line already says so. */
function statusShows(data) {
  return (data.turn && typeof data.turn === "object") || (data.status && data.status !== "running");
}

function errorEntry(data) {
  const sample = data.line ? el("span", "line", ` — ${firstLine(data.line, 200)}`) : null;
  return el("div", "a-error", `error: ${data.message ?? ""}`, sample);
}

/**
 * The entries one event makes, as builders: a batch builds only the entries that will stay.
 * `raw` events (stream-json lines SessionDock does not interpret) show nothing.
 */
function builders(type, data, workingDir) {
  switch (type) {
    case "output":
      return [() => outputEntry(data)];
    case "operations-detected": {
      const operations = Array.isArray(data.operations) ? data.operations : [];
      return operations
        .filter((op) => op && typeof op === "object")
        .map((op) => () => operationEntry(op, workingDir));
    }
    case "prompt":
      return [() => promptEntry(data)];
    case "status":
      return statusShows(data) ? [() => statusEntry(data)] : [];
    case "error":
      return [() => errorEntry(data)];
    case "history-trimmed": {
      const text = `… older events were trimmed; history resumes at event ${data.firstAvailableId}`;
      return [() => el("div", "a-notice", text)];
    }
    case "notice":
      return [() => el("div", "a-notice", String(data))];
    default:
      return [];
  }
}

export class AgentView extends TailView {
  constructor({ maxItems = DEFAULT_MAX_ITEMS, maxChars = DEFAULT_MAX_CHARS, workingDir = "" } = {}) {
    super("agent", "agent session");
    this.maxItems = Math.max(10, maxItems);
    this.maxChars = maxChars;
    this.workingDir = workingDir;
    this.items = 0; // entries in the DOM
    this.chars = 0; // characters they keep: the texts they show and the bodies they fold
    this.dropped = 0; // entries that left the DOM (or never entered it) because of the bounds
  }

  /** One event of the session's stream: its type and its data. */
  add(type, data) {
    this.queue.push([type, data]);
    this._schedule();
  }

  /** A line of our own, dimmed. */
  notice(text) {
    this.add("notice", text);
  }

  /** For the status bar. */
  describe() {
    const shown = `${this.items.toLocaleString("en-US")} entries`;
    return this.dropped ? `${shown} · ${this.dropped.toLocaleString("en-US")} older not shown` : shown;
  }

  /** Render everything queued now (normally called once per animation frame). */
  flush() {
    if (!this.queue.length) return;
    const events = this.queue;
    this.queue = [];
    let pending = [];
    for (const [type, data] of events) {
      for (const build of builders(type, data ?? {}, this.workingDir)) pending.push(build);
      // Entries beyond the bound would be built only to be dropped: forget them early.
      if (pending.length > 2 * this.maxItems) {
        this.dropped += pending.length - this.maxItems;
        pending = pending.slice(-this.maxItems);
      }
    }
    const fragment = document.createDocumentFragment();
    let added = 0;
    let chars = 0;
    for (const build of pending) {
      const entry = build();
      entry.classList.add("a-entry");
      fragment.append(entry);
      added += 1;
      chars += entry.keptChars ?? 0;
    }
    if (added === 0) return;
    if (added >= this.maxItems) {
      // Everything shown so far leaves, and the batch's oldest entries never come in.
      this.dropped += this.items + added - this.maxItems;
      while (fragment.childElementCount > this.maxItems) {
        chars -= fragment.firstElementChild.keptChars ?? 0;
        fragment.firstElementChild.remove();
      }
      this.element.replaceChildren(fragment);
      this.items = this.maxItems;
      this.chars = chars;
    } else {
      this.element.append(fragment);
      this.items += added;
      this.chars += chars;
    }
    this._trim();
    this._shown();
  }

  /** Drop the oldest entries beyond `maxItems`, then beyond `maxChars` (the last one stays). */
  _trim() {
    let count = 0;
    let chars = this.chars;
    let last = null;
    let entry = this.element.firstElementChild;
    while (entry && count < this.items - 1 && (this.items - count > this.maxItems || chars > this.maxChars)) {
      chars -= entry.keptChars ?? 0;
      count += 1;
      last = entry;
      entry = entry.nextElementSibling;
    }
    if (count === 0) return;
    const range = document.createRange();
    range.setStartBefore(this.element.firstElementChild);
    range.setEndAfter(last);
    range.deleteContents();
    this.items -= count;
    this.chars = chars;
    this.dropped += count;
  }
}
