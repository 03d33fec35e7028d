// An agent session's events in the DOM: the assistant's prose, one line per tool call (Edit and
// Write open into their diff), tool results and thinking folded away, the user's prompts and each
// turn's cost. Shell and command sessions never come here: they go through output.js.
//
// What each event shows, line for line, is in docs/architecture.md ("How the clients show an
// agent session"); desktop/agent.py shows the same lines, and tests/web/test_renderer_parity.py
// compares the two. Parts of a line are set apart by two spaces, in the text itself, so that the
// page's text (and a copy of it) reads as the desktop's; indentation and fold markers are CSS.
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
//
// Entries live in blocks of BLOCK entries (`.a-block`). As in output.js, every full block but the
// first and the last has `content-visibility: auto` (style.css), so a frame lays out and paints
// the blocks on screen, not the whole conversation: adding a card to 2,000 entries costs what
// adding it to 50 costs.

import { RequestCard } from "./approval.js";
import { findTerms, showRanges } from "./highlight.js";
import { formatCost, formatCount, formatDuration, number } from "./format.js";
import { TailView } from "./tail.js";

const MODE_NAMES = {
  default: "ask before edits",
  acceptEdits: "accept edits",
  plan: "plan",
  bypassPermissions: "bypass permissions",
};

export const DEFAULT_MAX_ITEMS = 2000;
export const BLOCK = 50; // entries per block
export const DEFAULT_MAX_CHARS = 20_000_000; // kept by one view, in texts shown and folded bodies
const MAX_TEXT_CHARS = 100_000; // of one assistant text, thinking block or stderr chunk
const MAX_RESULT_CHARS = 20_000; // of one tool result
const MAX_DIFF_CHARS = 20_000; // of one diff (the backend's are up to 64 KiB)
const MAX_COUNTED_LINES = 1_000; // a tool result's line count stops there ("1,000+ lines")
const MAX_SUMMARY_CHARS = 160; // a one-line summary (tool result, thinking, command) is cut here
const MAX_SAMPLE_CHARS = 120; // of the line quoted by an error
const OPERATION_TYPES = new Set(["read", "write", "edit", "delete", "bash", "other"]);
const GAP = "  "; // between the parts of a line
const MINUS_SIGN = "\u2212"; // before the count of a diff's removed lines
const TRUNCATED = "(truncated)";
// Escape sequences in tool output and stderr: CSI, OSC (to BEL or ST), and two-character escapes.
const ESCAPES = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])/g;
const INLINE = /`([^`\n]+)`|\*\*([^*\n]+)\*\*/g;
const HEADING = /^#{1,6}[ \t]+/;
const FENCE = /^[ \t]*```/;
// White space is ASCII white space, as in desktop/agent.py: JavaScript's \s and Python's
// str.split() disagree on a few Unicode characters.
const SPACE_CODES = new Set([0x20, 0x09, 0x0a, 0x0d, 0x0c, 0x0b]);
const SPACES = /[ \t\r\f\v]+/g;
const LINE_BREAK = /\r\n|[\r\n]/g;

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== ""));
  return node;
}

/** Whether a surrogate pair (one code point, two UTF-16 units) starts at `at`. */
function pairAt(text, at) {
  const code = text.charCodeAt(at);
  return code >= 0xd800 && code <= 0xdbff && (text.charCodeAt(at + 1) & 0xfc00) === 0xdc00;
}

/** Where the first `count` code points of `text` end (a UTF-16 index), or -1 if it has no more. */
function codePointsEnd(text, count) {
  let at = 0;
  for (let n = 0; n < count && at < text.length; n += 1) at += pairAt(text, at) ? 2 : 1;
  return at < text.length ? at : -1;
}

function codePointsAfter(text, from) {
  let count = 0;
  for (let at = from; at < text.length; at += pairAt(text, at) ? 2 : 1) count += 1;
  return count;
}

/**
 * `text` cut to `max` characters, with a note of how many more there were. Characters are code
 * points, as Python counts them, so that the desktop app (desktop/agent.py, clip) cuts a text
 * where the page does, never between the halves of an emoji, and says the same number. The cut
 * text is a copy: V8 shares a slice's characters with the string it was cut from (and so keeps
 * all of it), and so does a concatenation with a slice; Array.prototype.join writes a new
 * string. The note is plain ASCII, so that the copy of an ASCII text takes one byte a character.
 */
function clip(text, max) {
  text = String(text ?? "");
  if (text.length <= max) return text; // never more code points than UTF-16 units
  const end = codePointsEnd(text, max);
  if (end < 0) return text;
  const rest = formatCount(codePointsAfter(text, end));
  return [text.slice(0, end), `\n(${rest} more characters not shown)`].join("");
}

/** A diff cut to `max` characters at a line's end (a copy, as in clip()); null if it fits. */
function clipDiff(diff, max) {
  if (diff.length <= max) return null;
  const end = diff.lastIndexOf("\n", max);
  return [diff.slice(0, end > 0 ? end : max), "\n"].join("");
}

function stripEscapes(text) {
  return text.includes("\x1b") ? text.replace(ESCAPES, "") : text;
}

/** Where `text` starts and ends without its white space: loops, as a regular expression
 * anchored at the end can take quadratic time on a long text. */
function spaceBounds(text) {
  let start = 0;
  let end = text.length;
  while (start < end && SPACE_CODES.has(text.charCodeAt(start))) start += 1;
  while (end > start && SPACE_CODES.has(text.charCodeAt(end - 1))) end -= 1;
  return [start, end];
}

/** `text` without the line feeds at either end. */
function stripNewlines(text) {
  let start = 0;
  let end = text.length;
  while (start < end && text.charCodeAt(start) === 0x0a) start += 1;
  while (end > start && text.charCodeAt(end - 1) === 0x0a) end -= 1;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

/** `text` cut to `max` characters (code points, as Python counts them), ending in "…". */
function shorten(text, max) {
  if (text.length <= max) return text;
  const head = Array.from(text.slice(0, 2 * max));
  if (head.length <= max && text.length <= 2 * max) return text;
  return `${head.slice(0, max - 1).join("")}…`;
}

/** A name or a reason that should fit on its line: its line breaks become spaces. */
function oneLine(text) {
  return text.replace(LINE_BREAK, " ");
}

/** The first line that is not blank, its runs of white space as one space, cut to `max`. */
function summary(text, max = MAX_SUMMARY_CHARS) {
  const [start, end] = spaceBounds(text);
  if (start === end) return "";
  const lineEnd = text.indexOf("\n", start);
  const line = text.slice(start, lineEnd < 0 ? text.length : lineEnd).replace(SPACES, " ");
  return shorten(line.endsWith(" ") ? line.slice(0, -1) : line, max);
}

/** Whether `text` has more than one line once its white space at either end is gone. */
function manyLines(text) {
  const [start, end] = spaceBounds(text);
  const at = text.indexOf("\n", start);
  return at !== -1 && at < end;
}

/** The lines from the first that is not blank to the last, counted up to `cap` + 1: a loop over
 * indexOf, not split(), which would make a string of every line of a 256 KB result; and a cap,
 * as a result of 100,000 short lines would still cost 100,000 calls. */
function countLines(text, cap) {
  const [start, end] = spaceBounds(text);
  if (start === end) return 0;
  let lines = 1;
  let at = text.indexOf("\n", start);
  while (at !== -1 && at < end && lines <= cap) {
    lines += 1;
    at = text.indexOf("\n", at + 1);
  }
  return lines;
}

/** "turn: $0.04 · 476 tokens out · 12.3 s", "turn interrupted: 800 ms", "turn failed
 * (error_max_turns): …": what the turn cost, made and took. */
export function formatTurn(turn) {
  const interrupted = turn.interrupted === true;
  const cost = number(turn.costUsd);
  const tokens = number(turn.outputTokens);
  const duration = number(turn.durationMs);
  const parts = [];
  // An interrupted turn has no result line: its zeros are unknowns, not facts.
  if (cost !== null && !(interrupted && cost === 0)) parts.push(formatCost(cost));
  if (tokens !== null && !(interrupted && tokens === 0)) {
    parts.push(`${formatCount(tokens)} token${tokens === 1 ? "" : "s"} out`);
  }
  if (duration !== null && !(interrupted && duration === 0)) parts.push(formatDuration(duration));
  let head = "turn";
  if (interrupted) head = "turn interrupted";
  else if (turn.isError === true) {
    const why = typeof turn.subtype === "string" && turn.subtype ? ` (${oneLine(turn.subtype)})` : "";
    head = `turn failed${why}`;
  }
  if (parts.length) return `${head}: ${parts.join(" · ")}`;
  return head === "turn" ? "turn: done" : head;
}

/** "session exited", "session failed (exit code 3)", "session stopped (SIGTERM)". */
export function formatEnd(data) {
  const { signal, exitCode: code } = data;
  let detail = "";
  if (typeof signal === "string" && signal) detail = ` (${oneLine(signal)})`;
  else if (Number.isInteger(code) && code !== 0) detail = code > 0 ? ` (exit code ${code})` : ` (signal ${-code})`;
  return `session ${oneLine(data.status)}${detail}`;
}

/** A path inside the session's folder, relative to it (the folder itself is "."); any other
 * path as it is. */
export function shortPath(path, workingDir) {
  const base = String(workingDir ?? "").replace(/\/+$/, "");
  if (base && path.replace(/\/+$/, "") === base) return ".";
  if (base && path.startsWith(`${base}/`)) return path.slice(base.length + 1);
  return path;
}

/**
 * Each line of a unified diff with its kind: file, hunk, add, del or ctx. The ---/+++ file
 * headers come before the first @@: inside the hunks, "--- x" is the removed line "-- x".
 */
function diffLines(diff) {
  let inHunks = false;
  return stripTrailingNewlines(diff)
    .split("\n")
    .map((line) => {
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

function stripTrailingNewlines(text) {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x0a) end -= 1;
  return end === text.length ? text : text.slice(0, end);
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
  if (truncated) pre.append(el("span", "d-hunk", TRUNCATED));
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
  const tool = typeof operation.tool === "string" && operation.tool ? oneLine(operation.tool) : "?";
  let target = "";
  if (typeof operation.command === "string" && operation.command) target = operation.command;
  else if (typeof operation.path === "string") target = shortPath(operation.path, workingDir);
  const shown = summary(target);
  const parts = [el("span", "op-mark", "●"), " ", el("span", "op-tool", tool)];
  if (shown) parts.push(GAP, el("span", "op-target", shown + (manyLines(target) ? " …" : "")));
  const diff = typeof operation.diff === "string" ? operation.diff : "";
  let entry;
  if (diff) {
    const { added, removed } = diffStats(diff);
    const stats = el("span", "op-stats", el("span", "d-add", `+${added}`), " ", el("span", "d-del", `${MINUS_SIGN}${removed}`));
    parts.push(GAP, stats);
    const cut = clipDiff(diff, MAX_DIFF_CHARS);
    const truncated = operation.truncated === true || cut !== null;
    if (truncated) parts.push(GAP, el("span", "op-note", TRUNCATED));
    entry = foldable(`a-op t-${type}`, parts, cut ?? diff, (shown) => diffElement(shown, truncated));
  } else {
    entry = el("div", `a-op t-${type}`, ...parts);
  }
  entry.querySelector(".op-mark").title = type;
  if (target) entry.title = target.length > 2000 ? `${target.slice(0, 2000)}…` : target;
  return entry;
}

function toolResultEntry(data) {
  const content = stripEscapes(String(data.content ?? ""));
  const error = data.isError === true;
  const className = `a-result${error ? " error" : ""}`;
  const tool = typeof data.tool === "string" && data.tool ? `${oneLine(data.tool)}: ` : "";
  const first = summary(content);
  if (!first) return el("div", className, el("span", "mark", "↳ "), `${tool}(no output)`);
  const lines = countLines(content, MAX_COUNTED_LINES);
  const count = formatCount(Math.min(lines, MAX_COUNTED_LINES)) + (lines > MAX_COUNTED_LINES ? "+" : "");
  const more = lines > 1 ? el("span", "more", `${GAP}(${count} lines)`) : null;
  const line = [el("span", "mark", "↳ "), `${tool}${first}`, more];
  // As thinking: a result that its line shows whole has nothing to open.
  const [start, end] = spaceBounds(content);
  if (first.length === end - start && first === content.slice(start, end)) {
    return keeps(el("div", className, ...line), first.length);
  }
  const body = clip(content, MAX_RESULT_CHARS);
  return foldable(className, line, body, (text) => el("pre", "body", text));
}

/** Assistant text as lines of light markup: fenced code verbatim, # headings, `code`, **bold**. */
function proseNodes(text) {
  const nodes = [];
  let fenced = false;
  let lines = 0;
  for (const line of stripNewlines(text).split("\n")) {
    if (FENCE.test(line)) {
      fenced = !fenced;
      continue;
    }
    if (lines++) nodes.push("\n");
    const heading = fenced ? null : HEADING.exec(line);
    if (fenced) nodes.push(el("span", "md-code", line));
    else if (heading) nodes.push(el("span", "md-heading", line.slice(heading[0].length)));
    else nodes.push(...inlineNodes(line));
  }
  return nodes;
}

function inlineNodes(line) {
  const nodes = [];
  let at = 0;
  for (const match of line.matchAll(INLINE)) {
    if (match.index > at) nodes.push(line.slice(at, match.index));
    nodes.push(match[1] !== undefined ? el("code", null, match[1]) : el("strong", null, match[2]));
    at = match.index + match[0].length;
  }
  if (at < line.length) nodes.push(line.slice(at));
  return nodes;
}

function proseEntry(content) {
  const shown = clip(content, MAX_TEXT_CHARS);
  return keeps(el("div", "a-text", ...proseNodes(shown)), shown.length);
}

/** An entry showing `text` (cut) at once. */
function textEntry(className, text) {
  const shown = clip(text, MAX_TEXT_CHARS);
  return keeps(el("div", className, shown), shown.length);
}

/** "thinking  The greeting is in main().": its first line; the rest folded away. */
function thinkingEntry(content) {
  const first = summary(content);
  const line = [el("span", "mark", "thinking"), GAP, el("span", "more", first)];
  const [start, end] = spaceBounds(content);
  if (first === content.slice(start, end)) return keeps(el("div", "a-thinking", ...line), first.length);
  return foldable("a-thinking", line, clip(content, MAX_TEXT_CHARS), (text) => el("div", "body", text));
}

function outputEntry(data) {
  const type = data.type;
  const content = String(data.content ?? "");
  if (type === "assistant") return proseEntry(content);
  if (type === "thinking") return thinkingEntry(content);
  if (type === "tool-result") return toolResultEntry(data);
  const text = stripTrailingNewlines(stripEscapes(content));
  if (type === "stderr") return textEntry("a-stderr", text);
  return textEntry("a-plain", text); // a type this page does not know yet
}

function promptEntry(data) {
  const command = stripNewlines(clip(data.command, MAX_TEXT_CHARS));
  const lineEnd = command.indexOf("\n");
  const first = lineEnd < 0 ? command : command.slice(0, lineEnd);
  const entry = el("div", "a-prompt", el("span", "mark", "❯ "), el("span", "text", first));
  keeps(entry, command.length);
  if (data.queued === true) {
    const position = Number.isInteger(data.position) ? ` #${data.position}` : "";
    entry.append(GAP, el("span", "queued", `queued${position}`));
  }
  if (lineEnd >= 0) entry.append("\n", el("span", "text more-lines", command.slice(lineEnd + 1)));
  return entry;
}

function turnEntry(turn) {
  let tone = "";
  if (turn.interrupted === true) tone = " interrupted";
  else if (turn.isError === true) tone = " error";
  return el("div", `a-turn${tone}`, formatTurn(turn));
}

function endEntry(data) {
  const tone = { failed: " error", stopped: " interrupted", interrupted: " interrupted" }[data.status] ?? "";
  return el("div", `a-notice a-end${tone}`, formatEnd(data));
}

/** A turn's end (with its cost) and the session's end; a turn that starts shows nothing, as its
 * prompt line already says so. */
function statusBuilders(data) {
  const builders = [];
  if (data.turn && typeof data.turn === "object") builders.push(() => turnEntry(data.turn));
  if (typeof data.status === "string" && data.status !== "running" && data.status !== "imported") {
    builders.push(() => endEntry(data));
  }
  return builders;
}

function errorEntry(data) {
  const message = stripNewlines(String(data.message ?? ""));
  const sample = typeof data.line === "string" ? summary(data.line, MAX_SAMPLE_CHARS) : "";
  const line = sample ? el("span", "line", `${GAP}(line: ${sample})`) : null;
  return el("div", "a-error", `error: ${message}`, line);
}

/**
 * The entries one event makes, as builders: a batch builds only the entries that will stay.
 * `raw` events (stream-json lines SessionDock does not interpret) show nothing.
 */
/** A builder that changes state (a card, its resolution, the streamed text): a batch too long
 * to build whole drops old entries, never these. */
function effect(build) {
  build.effect = true;
  return build;
}

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
      return statusBuilders(data);
    case "error":
      return [() => errorEntry(data)];
    case "notice":
      return [() => el("div", "a-notice", String(data))];
    case "mode":
      return data.mode ? [() => el("div", "a-notice a-mode", `mode: ${MODE_NAMES[data.mode] ?? data.mode}`)] : [];
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
    this.cards = new Map(); // request id -> its RequestCard, open or resolved, while in the DOM
    this.onAnswer = null; // (requestId, body) => Promise: the page sends an answer
    this.onRequest = null; // (card) => void: an open request's card reached the DOM
    this.streaming = null; // the entry showing the text Claude is writing, until it lands
  }

  /** The open requests' cards, oldest first. */
  openCards() {
    return [...this.cards.values()].filter((card) => !card.resolved && card.element.isConnected);
  }

  /** One event of the session's stream: its type, its data and (a stored one) its id. */
  add(type, data, id = null) {
    this.queue.push([type, data, id]);
    this._schedule();
  }

  /** A line of our own, dimmed. */
  notice(text) {
    this.add("notice", text);
  }

  /** For the status bar. */
  describe() {
    const shown = `${formatCount(this.items)} entries`;
    return this.dropped ? `${shown} · ${formatCount(this.dropped)} older not shown` : shown;
  }

  /** Render everything queued now (normally called once per animation frame). */
  flush() {
    if (!this.queue.length) return;
    const events = this.queue;
    this.queue = [];
    let pending = [];
    const opened = [];
    let streaming = this.streaming !== null; // builders that make no entry are pushed only if need be
    for (const [type, data, id] of events) {
      const tagged = pending.length; // the builders from here on are this event's
      if (type === "delta") {
        pending.push(effect(() => this._delta(data)));
        streaming = true;
        continue;
      }
      if (type === "permission-resolved") {
        pending.push(effect(() => this._resolved(data)));
        continue;
      }
      if (type === "permission-request") {
        pending.push(effect(() => this._card(data, opened)));
        if (id !== null) pending[pending.length - 1].eventId = id;
        continue;
      }
      if (streaming && type === "output" && data?.type === "assistant") {
        pending.push(effect(() => this._endStream(String(data.content ?? ""))));
      } else if (streaming && type === "status" && data?.turn) {
        pending.push(effect(() => this._endStream()));
        streaming = false;
      }
      for (const build of builders(type, data ?? {}, this.workingDir)) pending.push(build);
      if (id !== null) for (let i = tagged; i < pending.length; i++) pending[i].eventId = id;
      // Entries beyond the bound would be built only to be dropped: forget them early.
      if (pending.length > 2 * this.maxItems) {
        const cut = pending.length - this.maxItems;
        const kept = pending.filter((build, index) => index >= cut || build.effect);
        this.dropped += pending.length - kept.length;
        pending = kept;
      }
    }
    const fragment = document.createDocumentFragment();
    let added = 0;
    let chars = 0;
    for (const build of pending) {
      const entry = build();
      if (!entry) continue; // it changed an entry already shown
      entry.classList.add("a-entry");
      if (build.eventId !== undefined) entry.dataset.event = String(build.eventId);
      fragment.append(entry);
      chars += entry.keptChars ?? 0;
    }
    added = fragment.childElementCount; // less a streaming entry that ended in the same batch
    if (added === 0) {
      this._shown();
      return;
    }
    if (added >= this.maxItems) {
      // Everything shown so far leaves, and the batch's oldest entries never come in.
      this.dropped += this.items + added - this.maxItems;
      while (fragment.childElementCount > this.maxItems) {
        chars -= fragment.firstElementChild.keptChars ?? 0;
        fragment.firstElementChild.remove();
      }
      this.element.replaceChildren();
      this._place(fragment);
      this.items = this.maxItems;
      this.chars = chars;
    } else {
      this._place(fragment);
      this.items += added;
      this.chars += chars;
    }
    this._trim();
    for (const [id, card] of this.cards) if (card.resolved && !card.element.isConnected) this.cards.delete(id);
    this._shown();
    for (const card of opened) if (card.element.isConnected) this.onRequest?.(card);
  }

  /** Show the entry of event `eventId` (once it is rendered: a replay may still come in) with
   *  `terms` highlighted in it; a fold that holds them opens. Resolves to whether it was found. */
  async reveal(eventId, terms, timeoutMs = 5000) {
    const deadline = performance.now() + timeoutMs;
    let entry = null;
    while (!entry) {
      entry = this._entryOf(eventId);
      if (entry || performance.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!entry) return false;
    if (entry instanceof HTMLDetailsElement && !entry.open && !findTerms(entry.querySelector("summary") ?? entry, terms).length) {
      entry.open = true; // its body is built as it opens
      await new Promise((resolve) => requestAnimationFrame(resolve));
    }
    const ranges = findTerms(entry, terms);
    this.follow = false;
    this.onFollowChange?.(false);
    for (const old of this.element.querySelectorAll(".search-target")) old.classList.remove("search-target");
    entry.classList.add("search-target");
    if (!showRanges(ranges)) entry.scrollIntoView({ block: "center" });
    this._scrollTop = this.element.scrollTop;
    return true;
  }

  /** The entry of an event: its own, else the last one before it (an event that shows nothing
   *  of its own, or that left the view). Null until the view has reached that event. */
  _entryOf(eventId) {
    let before = null;
    for (const entry of this.element.querySelectorAll(".a-entry[data-event]")) {
      const id = Number(entry.dataset.event);
      if (id === eventId) return entry;
      if (id > eventId) return before ?? entry;
      before = entry;
    }
    return null;
  }

  /** Append the entries of `fragment`: the last block filled up to BLOCK, then new blocks. */
  _place(fragment) {
    let block = this.element.lastElementChild;
    while (fragment.firstElementChild) {
      if (block === null || block.childElementCount >= BLOCK) {
        block = document.createElement("div");
        block.className = "a-block";
        this.element.append(block);
      }
      const room = BLOCK - block.childElementCount;
      if (fragment.childElementCount <= room) {
        block.append(fragment);
        break;
      }
      const part = document.createRange();
      part.setStartBefore(fragment.firstElementChild);
      part.setEndAfter(fragment.children[room - 1]);
      block.append(part.extractContents());
    }
  }

  /** A request's card (or, for one seen before, nothing new). */
  _card(data, opened) {
    const id = data?.requestId;
    if (id === undefined || this.cards.has(id)) return null;
    const card = new RequestCard(data, {
      workingDir: this.workingDir,
      prose: proseNodes,
      onAnswer: (body) => this.onAnswer?.(id, body) ?? Promise.reject(new Error("not connected")),
    });
    this.cards.set(id, card);
    opened.push(card);
    return keeps(card.element, 0);
  }

  _resolved(data) {
    this.cards.get(data?.requestId)?.resolve(data);
    return null;
  }

  /** A piece of the text Claude is writing: shown at the end until the message lands. */
  _delta(data) {
    const text = String(data?.text ?? "");
    // (Not yet in the DOM when several deltas come in one batch: it is in the batch's fragment.)
    if (this.streaming && this.streaming.dataset.message === String(data?.messageId ?? "")) {
      this.streaming.append(text);
      return null;
    }
    this._endStream();
    this.streaming = el("div", "a-text a-streaming", text);
    this.streaming.dataset.message = String(data?.messageId ?? "");
    this.streaming.setAttribute("aria-busy", "true");
    return this.streaming;
  }

  /** The streamed text landed as a message (`content`: the text of one it may be), or the turn
   * ended: the streaming entry goes. Deltas of the next message can arrive before the stored
   * message of the one before: a message whose text is not the streamed one leaves it. */
  _endStream(content = null) {
    const streaming = this.streaming;
    if (!streaming) return null;
    const text = streaming.textContent;
    // (Joined in the middle of a message, the streamed text is a part of it, not its start.)
    if (content !== null && !content.includes(text) && !text.includes(content)) return null;
    const block = streaming.parentNode;
    streaming.remove(); // from the page, or from the batch it came in
    if (block?.parentNode === this.element) {
      this.items -= 1;
      if (block.childElementCount === 0) block.remove();
    }
    this.streaming = null;
    return null;
  }

  /** Drop the oldest entries beyond `maxItems`, then beyond `maxChars` (the last one stays). */
  _trim() {
    let count = 0;
    let chars = this.chars;
    let block = this.element.firstElementChild;
    let entry = block?.firstElementChild ?? null;
    let last = null;
    while (entry && count < this.items - 1 && (this.items - count > this.maxItems || chars > this.maxChars)) {
      chars -= entry.keptChars ?? 0;
      count += 1;
      last = entry;
      entry = entry.nextElementSibling;
      if (entry === null) {
        block = block.nextElementSibling;
        entry = block?.firstElementChild ?? null;
      }
    }
    if (count === 0) return;
    // Whole blocks go at once; of the last one touched, its first entries up to `last`.
    const first = last.parentNode;
    while (this.element.firstElementChild !== first) this.element.firstElementChild.remove();
    const range = document.createRange();
    range.setStartBefore(first.firstElementChild);
    range.setEndAfter(last);
    range.deleteContents();
    if (first.childElementCount === 0) first.remove();
    this.items -= count;
    this.chars = chars;
    this.dropped += count;
  }
}
