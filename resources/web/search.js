// Search over everything (Ctrl+K): a dialog whose results follow the words as they are typed,
// grouped by project and session, newest first. Opening a hit (a click, or Enter on the one
// marked with the arrow keys) shows its session at its event with the words highlighted
// (app.js, revealHit).

import { api, ApiError } from "./api.js";

const DEBOUNCE_MS = 150;
const PAGE = 50;

function element(tag, className, ...children) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  el.append(...children.filter((child) => child !== null && child !== undefined));
  return el;
}

/** A hit's snippet as text nodes, its highlights in <mark>s. */
export function markedSnippet(snippet, highlights) {
  const parts = [];
  let at = 0;
  for (const [start, end] of [...highlights].sort((a, b) => a[0] - b[0])) {
    if (start < at) continue; // overlapping: the first wins
    if (start > at) parts.push(document.createTextNode(snippet.slice(at, start)));
    parts.push(element("mark", "", snippet.slice(start, end)));
    at = end;
  }
  if (at < snippet.length) parts.push(document.createTextNode(snippet.slice(at)));
  return parts;
}

/** The words and phrases of a search, as the backend takes them (for highlighting). */
export function searchTerms(query) {
  const terms = [];
  for (const match of query.matchAll(/"([^"]*)"?|([^\x00-\x20\x7f-\x9f"]+)/g)) {
    const term = (match[1] ?? match[2]).replace(/[\x00-\x20\x7f-\x9f]+/g, " ").trim();
    if (term && !terms.some((t) => t.toLowerCase() === term.toLowerCase())) terms.push(term);
  }
  return terms;
}

export class SearchPanel {
  /** `names()`: {projects: Map id → name}; `open(hit, terms)`: show a hit. */
  constructor({ names, open }) {
    this.names = names;
    this.open = open;
    this.hits = [];
    this.active = -1;
    this._timer = null;
    this._generation = 0;
    this.input = element("input", "search-input");
    Object.assign(this.input, { type: "search", placeholder: "Search every session", autocomplete: "off", spellcheck: false });
    this.input.setAttribute("aria-label", "search every session");
    this.input.setAttribute("aria-controls", "search-results");
    this.status = element("div", "search-status muted");
    this.status.setAttribute("aria-live", "polite");
    this.results = element("div", "search-results");
    this.results.id = "search-results";
    this.results.setAttribute("role", "listbox");
    const hint = element("div", "search-hint muted", "↑ ↓ to choose · Enter to open · Esc to close · \"quoted phrases\" · 3 characters or more");
    this.dialog = element("dialog", "search-dialog", this.input, this.status, this.results, hint);
    this.dialog.id = "search";
    this.dialog.setAttribute("aria-label", "search");
    this.input.addEventListener("input", () => this._soon());
    this.input.addEventListener("keydown", (event) => this._key(event));
    this.results.addEventListener("click", (event) => {
      const item = event.target.closest("[data-index]");
      if (item) this._open(Number(item.dataset.index));
    });
    this.dialog.addEventListener("click", (event) => {
      if (event.target === this.dialog) this.dialog.close(); // a click outside the box
    });
    document.body.append(this.dialog);
  }

  show() {
    if (!this.dialog.open) this.dialog.showModal();
    this.input.focus();
    this.input.select();
  }

  _soon() {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this.search(), DEBOUNCE_MS);
  }

  async search() {
    const query = this.input.value;
    const generation = ++this._generation;
    if (!query.trim()) {
      this._render([], "");
      return;
    }
    try {
      const { hits, nextCursor } = await api.search(query, { limit: PAGE });
      if (generation !== this._generation) return; // typed on meanwhile
      const more = nextCursor ? ` (the newest ${PAGE})` : "";
      this._render(hits, hits.length ? `${hits.length} found${more}` : "Nothing found");
    } catch (error) {
      if (generation !== this._generation) return;
      // A search that cannot be looked up yet ("ab") says why, quietly.
      this._render([], error instanceof ApiError && error.status === 400 ? error.message : `Search failed: ${error.message}`);
    }
  }

  _render(hits, status) {
    this.hits = hits;
    this.active = hits.length ? 0 : -1;
    this.status.textContent = status;
    const groups = new Map(); // project id -> session id -> hits, in the order first seen
    hits.forEach((hit, index) => {
      if (!groups.has(hit.projectId)) groups.set(hit.projectId, new Map());
      const sessions = groups.get(hit.projectId);
      if (!sessions.has(hit.sessionId)) sessions.set(hit.sessionId, []);
      sessions.get(hit.sessionId).push([hit, index]);
    });
    const { projects } = this.names();
    const sections = [];
    for (const [projectId, sessions] of groups) {
      const section = element("section", "search-project", element("h3", "", projects.get(projectId) ?? projectId));
      for (const [, entries] of sessions) {
        const list = element("ul", "search-session");
        for (const [hit, index] of entries) {
          const item = element(
            "li",
            "search-hit",
            element("span", "search-snippet", ...markedSnippet(hit.snippet, hit.highlights)),
            element("time", "search-time muted", new Date(hit.timestamp).toLocaleString()),
          );
          item.dataset.index = String(index);
          item.id = `search-hit-${index}`;
          item.setAttribute("role", "option");
          list.append(item);
        }
        section.append(element("h4", "", entries[0][0].sessionName), list);
      }
      sections.push(section);
    }
    this.results.replaceChildren(...sections);
    this._mark();
  }

  _mark() {
    for (const item of this.results.querySelectorAll(".search-hit")) {
      const on = Number(item.dataset.index) === this.active;
      item.classList.toggle("active", on);
      item.setAttribute("aria-selected", String(on));
      if (on) item.scrollIntoView({ block: "nearest" });
    }
    if (this.active >= 0) this.input.setAttribute("aria-activedescendant", `search-hit-${this.active}`);
    else this.input.removeAttribute("aria-activedescendant");
  }

  _key(event) {
    if (event.key === "Escape") {
      event.preventDefault(); // a search box would only clear itself first
      this.dialog.close();
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!this.hits.length) return;
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + this.hits.length) % this.hits.length;
      this._mark();
    } else if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(this._timer);
      if (this.active >= 0) this._open(this.active);
      else this.search();
    }
  }

  _open(index) {
    const hit = this.hits[index];
    if (!hit) return;
    this.dialog.close();
    this.open(hit, searchTerms(this.input.value));
  }
}
