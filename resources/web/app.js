// The SessionDock page: projects, their sessions, one live session view with its prompt.
// The REST calls are in api.js, the stream client in sse-client.js, the view of terminal sessions
// (xterm.js) in terminal.js, the output view of pipe sessions in output.js, the view of agent
// (Claude Code) sessions in agent.js, the rules of Interrupt, Stop and Continue (and of status
// labels) in actions.js.

import * as actions from "./actions.js";
import {
  canContinue,
  canInterrupt,
  canStop,
  conversationState,
  hints,
  isAgent,
  isWorking,
  needsYou,
  promptPlaceholder,
  statusLabel,
  storageWarning,
  trimmedNotice,
} from "./actions.js";
import { AgentView } from "./agent.js";
import { api, ApiError } from "./api.js";
import { Attention } from "./attention.js";
import { SearchPanel } from "./search.js";
import { sessionCost } from "./format.js";
import { DEFAULT_MAX_LINES, OutputView } from "./output.js";
import { oncePerFrame } from "./tail.js";
import { TerminalView } from "./terminal.js";

const { SessionEventStream } = globalThis;

const POLL_MS = 2000;
const PROJECTS_POLL_MS = 10000;
const KEPT_VIEWS = 8; // session views kept (text and resume point) for switching back at once
const KEPT_CHARS = 20_000_000; // characters those views may keep, besides the one on screen
const MAX_LINES_KEY = "sessiondock.maxLines";
const AGENT_EVENTS = [
  "output", "operations-detected", "prompt", "status", "error", "raw",
  "permission-request", "permission-resolved", "mode", "delta",
]; // prettier-ignore

const $ = (selector) => document.querySelector(selector);

/** A session in a PTY (a shell or a command): shown by xterm.js, typed into directly. */
function isTerminal(session) {
  return session?.tty === true && !isAgent(session);
}

function formatTime(ms) {
  if (!ms) return "";
  const date = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  if (Date.now() - ms < 20 * 3600 * 1000) return time;
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  return `${day} ${time.slice(0, 5)}`;
}

/** A command's first line, shortened to fit a list row. */
function sessionName(command, width = 60) {
  const line = command.trim().split("\n")[0];
  return line.length <= width ? line : `${line.slice(0, width - 1)}…`;
}

function maxLinesSetting() {
  const fromUrl = Number(new URLSearchParams(location.search).get("maxLines"));
  if (Number.isInteger(fromUrl) && fromUrl > 0) {
    localStorage.setItem(MAX_LINES_KEY, String(fromUrl));
    return fromUrl;
  }
  const kept = Number(localStorage.getItem(MAX_LINES_KEY));
  return Number.isInteger(kept) && kept > 0 ? kept : DEFAULT_MAX_LINES;
}

function element(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el) el[key] = value;
    else el.setAttribute(key, value);
  }
  el.append(...children);
  return el;
}

/** No answer, or a proxy's or a stopping backend's 5xx: worth trying again later. */
function unavailable(error) {
  return error instanceof ApiError && (error.status === 0 || error.status >= 500);
}

function unavailableText(error) {
  return error.status ? `backend unavailable (HTTP ${error.status})` : "backend unreachable";
}

class App {
  constructor() {
    // renderSessions() at the next frame, once however many events ask for it meanwhile.
    this.renderSessionsSoon = oncePerFrame(() => this.renderSessions());
    this.maxLines = maxLinesSetting();
    this.maxItems = Math.max(100, Math.floor(this.maxLines / 10)); // agent entries are taller
    this.projects = [];
    this.projectId = null;
    this.sessions = [];
    this.sessionId = null;
    this.views = new Map(); // session id -> {output, lastEventId, agent, terminal}, most recent last
    this.keptChars = KEPT_CHARS;
    this.stream = null;
    this.history = [];
    this.historyPos = 0;
    this.draft = "";
    this.signedOut = false;
    this.ready = false;
    // Sessions whose prompt waits: an imported conversation being continued, and the new session
    // continuing it, until that session has the text.
    this.continuing = new Set();
    // Prompts that did not go out while another session was on screen, by the session they were
    // for: each comes back into the prompt when that session is shown again, never elsewhere.
    this.givenBack = new Map();
    this._countdown = null;
    this._sessionsSoon = false;
    this.allSessions = []; // every project's, for what needs you
    this.searchPanel = new SearchPanel({
      names: () => ({ projects: new Map(this.projects.map((p) => [p.id, p.name])) }),
      open: (hit, terms) => this.run(() => this.openHit(hit, terms)),
    });
    this.attention = new Attention({
      baseTitle: document.title,
      button: $("#notifications"),
      open: (sessionId) => this.run(() => this.showSession(sessionId)),
    });
  }

  /** Download a session's export (the browser saves it under the name the backend gives). */
  download(sessionId, format) {
    const link = element("a", { href: api.exportUrl(sessionId, format), download: "" });
    document.body.append(link);
    link.click();
    link.remove();
  }

  /** A search hit: its session, at its event, with the words highlighted. */
  async openHit(hit, terms) {
    await this.showSession(hit.sessionId);
    const view = this.views.get(hit.sessionId);
    if (view && !(await view.output.reveal(hit.eventId, terms))) {
      this.showError(`"${terms.join(" ")}" is no longer on the page (older than what it keeps): export the session to see all of it`);
    }
  }

  /** Show a session of any project (a notification's click). */
  async showSession(sessionId) {
    const session = this.allSessions.find((s) => s.id === sessionId) ?? (await api.session(sessionId));
    if (session.projectId !== this.projectId) await this.selectProject(session.projectId, sessionId);
    else this.openSession(sessionId);
  }

  async start() {
    this.bind();
    $("#max-lines-text").textContent = this.maxLines.toLocaleString("en-US");
    $("#max-items-text").textContent = this.maxItems.toLocaleString("en-US");
    await this.refreshProjects();
    if (this.signedOut) return;
    // The address as it is now: it may have changed while the projects loaded.
    this.ready = true;
    const route = this.route();
    if (route.projectId && this.projects.some((p) => p.id === route.projectId)) {
      await this.selectProject(route.projectId, route.sessionId);
    }
    setInterval(() => this.poll(), POLL_MS);
    setInterval(() => this.refreshProjects(), PROJECTS_POLL_MS);
  }

  bind() {
    $("#error-close").addEventListener("click", () => this.hideError());
    // Ctrl+K searches everything, wherever the keys are (a terminal's program included: taken
    // before it sees the key).
    window.addEventListener(
      "keydown",
      (event) => {
        const ctrl = (event.ctrlKey || event.metaKey) && !event.shiftKey && !event.altKey;
        if (ctrl && event.key.toLowerCase() === "k" && !this.signedOut) {
          event.preventDefault();
          event.stopPropagation();
          this.searchPanel.show();
        }
      },
      { capture: true },
    );
    $("#search-open").addEventListener("click", () => this.searchPanel.show());
    $("#export-session").addEventListener("change", (event) => {
      const format = event.target.value;
      event.target.value = "";
      if (format && this.sessionId) this.download(this.sessionId, format);
    });
    $("#add-project").addEventListener("submit", (event) => {
      event.preventDefault();
      this.run(() => this.addProject($("#project-path").value.trim()));
    });
    $("#remove-project").addEventListener("click", () => this.run(() => this.removeProject()));
    $("#new-shell").addEventListener("click", () => this.run(() => this.newSession(null)));
    $("#new-claude").addEventListener("click", () => this.run(() => this.newAgentSession()));
    $("#new-command").addEventListener("submit", (event) => {
      event.preventDefault();
      const command = $("#command").value.trim();
      if (command) this.run(() => this.newSession(command));
    });
    $("#interrupt-session").addEventListener("click", () => this.run(() => this.interruptSession()));
    $("#agent-mode").addEventListener("change", (event) => {
      const sessionId = this.sessionId;
      this.run(async () => {
        const { mode } = await api.setMode(sessionId, event.target.value);
        const session = this.sessions.find((s) => s.id === sessionId);
        if (session?.agent) session.agent.mode = mode;
        this.renderSessionHead();
      });
    });
    $("#stop-session").addEventListener("click", () => this.run(() => this.stopSession()));
    $("#continue-session").addEventListener("click", () => this.run(() => this.continueSession()));
    $("#delete-session").addEventListener("click", () => this.run(() => this.deleteSession()));
    $("#prompt").addEventListener("keydown", (event) => this.promptKey(event));
    $("#follow").addEventListener("click", () => this.currentView()?.output.scrollToEnd());
    $("#projects").addEventListener("click", (event) => {
      const item = event.target.closest("[data-id]");
      if (item) this.run(() => this.selectProject(item.dataset.id));
    });
    $("#sessions").addEventListener("click", (event) => {
      const item = event.target.closest("[data-id]");
      if (item) this.openSession(item.dataset.id);
    });
    window.addEventListener("hashchange", () => this.run(() => this.followRoute()));
    // Release the stream as the page goes away (or into the back-forward cache).
    window.addEventListener("pagehide", () => this.closeStream());
    window.addEventListener("pageshow", (event) => {
      if (event.persisted && this.sessionId) this.openStream(this.sessionId);
    });
    window.addEventListener("error", (event) => this.showError(`page error: ${event.message}`));
    window.addEventListener("unhandledrejection", (event) => {
      this.showError(`page error: ${event.reason?.message ?? event.reason}`);
    });
  }

  /** Run a UI action; its errors are shown, never lost. */
  async run(action) {
    try {
      await action();
    } catch (error) {
      this.handleError(error);
    }
  }

  handleError(error) {
    if (error instanceof ApiError && error.status === 401) {
      this.showSignIn();
      return;
    }
    this.showError(error instanceof Error ? error.message : String(error));
  }

  showError(message) {
    $("#error-text").textContent = message;
    $("#error").hidden = false;
  }

  hideError() {
    $("#error").hidden = true;
  }

  showSignIn() {
    this.signedOut = true;
    this.closeStream();
    $("#app").hidden = true;
    $("#signin").hidden = false;
    this.setBackendState("signed-out", "not signed in");
  }

  setBackendState(state, text) {
    const label = $("#backend-state");
    label.dataset.state = state;
    label.textContent = text;
  }

  // Address: #/p/<project>/s/<session>, so a reload (or a second tab) shows the same thing.

  route() {
    const match = /^#\/p\/([^/]+)(?:\/s\/([^/]+))?$/.exec(location.hash);
    if (!match) return { projectId: null, sessionId: null };
    const sessionId = match[2] ? decodeURIComponent(match[2]) : null;
    return { projectId: decodeURIComponent(match[1]), sessionId };
  }

  /** Show what the address names (a link, a hand-edited address, back and forward). */
  async followRoute() {
    if (!this.ready) return; // start() follows the address once the projects are known
    const { projectId, sessionId } = this.route();
    if (projectId !== this.projectId) {
      const known = this.projects.some((p) => p.id === projectId);
      await this.selectProject(known ? projectId : null, sessionId);
    } else if (sessionId !== this.sessionId && this.sessions.some((s) => s.id === sessionId)) {
      this.openSession(sessionId);
    }
  }

  updateRoute() {
    let hash = "";
    if (this.projectId) hash = `#/p/${encodeURIComponent(this.projectId)}`;
    if (this.projectId && this.sessionId) hash += `/s/${encodeURIComponent(this.sessionId)}`;
    if (hash !== location.hash) history.replaceState(null, "", hash || location.pathname);
  }

  // Projects

  async refreshProjects() {
    if (this.signedOut) return;
    try {
      this.projects = await api.projects();
    } catch (error) {
      if (unavailable(error)) {
        this.setBackendState("unreachable", unavailableText(error));
        return;
      }
      this.handleError(error);
      return;
    }
    this.setBackendState("ok", "");
    $("#signin").hidden = true;
    $("#app").hidden = false;
    if (this.projectId && !this.projects.some((p) => p.id === this.projectId)) {
      await this.selectProject(null);
    }
    this.renderProjects();
  }

  /** "● 2" beside a project whose conversations wait for an answer; null if none does. */
  needsYouMark(projectId) {
    const count = this.allSessions.filter((s) => s.projectId === projectId && needsYou(s)).length;
    if (!count) return null;
    const mark = element("span", { className: "needs-you", title: `${count} waiting for you` }, ` ● ${count}`);
    return mark;
  }

  renderProjects() {
    const items = this.projects.map((project) =>
      element(
        "li",
        {},
        element(
          "button",
          {
            type: "button",
            className: "item",
            title: project.path,
            dataset: { id: project.id },
            "aria-current": project.id === this.projectId ? "true" : "false",
          },
          element("span", { className: "name" }, project.name, this.needsYouMark(project.id)),
          element("span", { className: "sub" }, project.path),
        ),
      ),
    );
    if (!items.length) {
      items.push(element("li", { className: "empty muted" }, "No projects yet: add a folder below."));
    }
    const list = $("#projects");
    // Rebuilt only when something shows differently, so a click in progress is not disturbed.
    const signature = JSON.stringify(items.map((li) => li.innerHTML));
    if (list.dataset.signature !== signature) {
      list.replaceChildren(...items);
      list.dataset.signature = signature;
    }
    $("#remove-project").disabled = this.projectId === null;
  }

  async addProject(path) {
    if (!path) return;
    const project = await api.addProject(path);
    $("#project-path").value = "";
    await this.refreshProjects();
    await this.selectProject(project.id);
  }

  async removeProject() {
    const project = this.projects.find((p) => p.id === this.projectId);
    if (!project) return;
    if (!(await actions.confirmRemoveProject(project))) return;
    await api.removeProject(project.id);
    for (const session of this.sessions) this.forgetView(session.id);
    await this.selectProject(null);
    await this.refreshProjects();
  }

  async selectProject(projectId, sessionId = null) {
    if (projectId !== this.projectId) {
      this.projectId = projectId;
      this.sessions = [];
      this.openSession(null);
    }
    this.renderProjects();
    for (const id of ["#new-shell", "#new-claude", "#command", "#run-command"]) {
      $(id).disabled = projectId === null;
    }
    await this.refreshSessions();
    if (sessionId && this.sessions.some((s) => s.id === sessionId)) this.openSession(sessionId);
    this.updateRoute();
  }

  // Sessions

  async poll() {
    if (this.signedOut) return;
    try {
      await this.refreshSessions();
      if (this.projectId === null) return;
      this.setBackendState("ok", "");
    } catch (error) {
      if (unavailable(error)) {
        this.setBackendState("unreachable", unavailableText(error));
      } else if (error instanceof ApiError && error.code === "project_not_found") {
        await this.refreshProjects();
      } else {
        this.handleError(error);
      }
    }
  }

  async refreshSessions() {
    // Every project's sessions in one request: the project's list, and what needs you anywhere.
    const projectId = this.projectId;
    const all = await api.allSessions();
    this.allSessions = all;
    this.attention.update(all);
    this.renderProjects();
    if (projectId !== this.projectId) return; // the user moved on meanwhile
    if (projectId === null) {
      this.sessions = [];
    } else {
      this.sessions = all.filter((s) => s.projectId === projectId).sort((a, b) => b.createdAt - a.createdAt);
    }
    if (this.sessionId && !this.sessions.some((s) => s.id === this.sessionId)) {
      // Deleted elsewhere: the stream says so too; keep the text until the user moves on.
      this.renderSessionHead();
    }
    this.renderSessions();
  }

  renderSessions() {
    const items = this.sessions.map((session) =>
      element(
        "li",
        {},
        element(
          "button",
          {
            type: "button",
            className: "item session",
            title: this.sessionTitle(session),
            dataset: { id: session.id },
            "aria-current": session.id === this.sessionId ? "true" : "false",
          },
          element("span", { className: "name" }, session.name),
          element("span", { className: `badge ${session.status}` }, statusLabel(session)),
          this.sessionSub(session),
        ),
      ),
    );
    if (!items.length && this.projectId) {
      items.push(element("li", { className: "empty muted" }, "No sessions: start a shell or a command."));
    }
    const list = $("#sessions");
    // Rebuilt only when something shows differently, so a click in progress is not disturbed.
    const signature = JSON.stringify(items.map((li) => li.innerHTML));
    if (list.dataset.signature !== signature) {
      list.replaceChildren(...items);
      list.dataset.signature = signature;
    }
    this.renderSessionHead();
  }

  sessionTitle(session) {
    if (session.agent?.source) return `${session.agent.source}\nin ${session.workingDir}`;
    const argv = isAgent(session) ? ["claude", ...session.argv] : session.argv;
    return `${argv.join(" ")}\nin ${session.workingDir}`;
  }

  /** The list row's second line: when it started and, for agent sessions, cost and state. */
  sessionSub(session) {
    const sub = element("span", { className: "sub" }, formatTime(session.createdAt));
    const agent = session.agent;
    if (!agent) return sub;
    const cost = sessionCost(session);
    if (cost) sub.append(" · ", element("span", { className: "cost" }, cost));
    const state = conversationState(session);
    if (state) {
      const tone = needsYou(session) ? " waiting" : isWorking(session) ? " working" : "";
      const className = `agent-state${tone}`;
      sub.append(" · ", element("span", { className }, state));
    }
    return sub;
  }

  currentSession() {
    return this.sessions.find((s) => s.id === this.sessionId) ?? null;
  }

  currentView() {
    return this.sessionId ? this.views.get(this.sessionId) ?? null : null;
  }

  renderSessionHead() {
    const session = this.currentSession();
    const title = $("#session-title");
    const badge = $("#session-badge");
    if (!this.sessionId) {
      title.textContent = "No session selected";
      title.className = "muted";
      badge.hidden = true;
    } else if (!session) {
      title.textContent = "This session was deleted";
      title.className = "muted";
      badge.hidden = true;
    } else {
      title.replaceChildren(
        element("strong", {}, session.name),
        element("span", { className: "muted" }, ` — ${session.workingDir}`),
      );
      title.className = "";
      badge.textContent = statusLabel(session);
      badge.className = `badge ${session.status}`;
      badge.hidden = false;
    }
    const running = session?.status === "running";
    const continued = canContinue(session);
    const waiting = this.continuing.has(session?.id);
    const hint = hints(session);
    for (const [id, enabled, title] of [
      ["#interrupt-session", canInterrupt(session), hint.interrupt],
      ["#stop-session", canStop(session), hint.stop],
      ["#continue-session", continued && !waiting, hint.continue],
    ]) {
      $(id).disabled = !enabled;
      $(id).title = title;
    }
    $("#delete-session").disabled = !session;
    const exporter = $("#export-session");
    exporter.disabled = !session;
    // A conversation is not a terminal: no asciicast of it.
    exporter.querySelector("option[value='cast']").hidden = !session || isAgent(session);
    const modeLabel = $("#agent-mode-label");
    modeLabel.hidden = !(isAgent(session) && running);
    if (!modeLabel.hidden) $("#agent-mode").value = session.agent?.mode ?? "default";
    this.renderCommands(session);
    // A terminal takes its keys itself, as any terminal: no line box under it.
    const view = this.currentView();
    $(".prompt-row").hidden = Boolean(view?.terminal);
    const prompt = $("#prompt");
    const wasFocused = document.activeElement === prompt;
    const open = (running || continued) && !waiting;
    prompt.disabled = !open;
    prompt.placeholder = promptPlaceholder(session);
    if (wasFocused && open) prompt.focus();
  }

  /** The prompt's completions: the slash commands of the conversation on screen. */
  renderCommands(session) {
    const commands = isAgent(session) ? session.agent?.commands ?? [] : [];
    const list = $("#slash-commands");
    const signature = JSON.stringify(commands);
    if (list.dataset.signature === signature) return;
    list.dataset.signature = signature;
    list.replaceChildren(
      ...commands.map((command) => {
        const hint = command.argumentHint ? ` ${command.argumentHint}` : "";
        return element("option", { value: `/${command.name}`, label: `/${command.name}${hint} — ${command.description}` });
      }),
    );
  }

  async newSession(command) {
    if (!this.projectId) return;
    const size = this.terminalSize();
    const body = command
      ? { projectId: this.projectId, kind: "command", argv: ["/bin/sh", "-c", command], name: sessionName(command) }
      : { projectId: this.projectId, kind: "shell" };
    const session = await api.createSession({ ...body, ...size });
    $("#command").value = "";
    await this.refreshSessions();
    this.openSession(session.id);
    if (this.currentView()?.terminal) this.currentView().output.focus();
    else $("#prompt").focus();
  }

  async newAgentSession() {
    if (!this.projectId) return;
    const session = await api.createSession({ projectId: this.projectId, kind: "claude" });
    await this.refreshSessions();
    this.openSession(session.id);
    $("#prompt").focus();
  }

  /** Ctrl-C: the program running in a terminal, or a conversation's running turn. */
  async interruptSession() {
    const sessionId = this.sessionId;
    if (!sessionId) return;
    await actions.interrupt(sessionId);
    await this.refreshSessions();
  }

  /** End the session (a conversation too), after asking if it is a shell running a program. */
  async stopSession() {
    const sessionId = this.sessionId;
    if (!sessionId) return;
    if (await actions.stop(sessionId)) await this.refreshSessions();
  }

  /** An ended or imported conversation goes on in a new session, shown at once. */
  async continueSession() {
    const session = this.currentSession();
    if (!canContinue(session) || this.continuing.has(session.id)) return;
    await this.continueConversation(session, null);
    if (!$("#prompt").disabled) $("#prompt").focus(); // the button it came from is disabled now
  }

  async deleteSession() {
    const session = this.currentSession();
    if (!session) return;
    if (!(await actions.ask(actions.deleteQuestion(session), "Delete"))) return;
    this.openSession(null);
    this.forgetView(session.id);
    await api.deleteSession(session.id);
    await this.refreshSessions();
  }

  // The session on screen and its stream

  openSession(sessionId) {
    if (sessionId === this.sessionId) return;
    this.closeStream();
    this.sessionId = sessionId;
    this.attention.shownId = sessionId;
    this.updateRoute();
    const host = $("#output-host");
    if (!sessionId) {
      host.replaceChildren(element("div", { className: "placeholder muted" }, "Pick a session, or start one."));
      $("#follow").hidden = true;
      this.renderSessions();
      this.setStreamState({ state: "closed" });
      $("#lines-info").textContent = "";
      return;
    }
    let view = this.views.get(sessionId);
    if (view) {
      this.views.delete(sessionId); // and back in, as the most recent
    } else {
      const session = this.sessions.find((s) => s.id === sessionId);
      let output;
      if (isAgent(session)) {
        output = new AgentView({ maxItems: this.maxItems, workingDir: session.workingDir });
      } else if (isTerminal(session)) {
        output = this.terminalView(sessionId);
      } else {
        output = new OutputView({ maxLines: this.maxLines });
      }
      view = { output, lastEventId: null, agent: isAgent(session), terminal: isTerminal(session) };
    }
    this.views.set(sessionId, view);
    this.trimViews();
    for (const other of this.views.values()) other.output.onShown = other.output.onFollowChange = null;
    view.output.onFollowChange = (follow) => {
      $("#follow").hidden = follow;
    };
    view.output.onShown = () => this.renderLinesInfo();
    host.replaceChildren(view.output.element);
    if (view.terminal) {
      $("#follow").hidden = true; // xterm scrolls by itself, and follows output unless scrolled up
      view.output.shown(); // sized (its fit addon asks the backend for the room it has) and focused
    } else {
      $("#follow").hidden = view.output.follow;
      if (view.output.follow) view.output.scrollToEnd();
    }
    this.renderSessions();
    const returned = this.givenBack.get(sessionId);
    this.givenBack.delete(sessionId);
    if (returned !== undefined && !$("#prompt").value) $("#prompt").value = returned;
    this.openStream(sessionId);
  }

  /** A terminal session's view: it types into the session and sizes it while the session runs. */
  terminalView(sessionId) {
    const running = () => this.sessions.find((s) => s.id === sessionId)?.status === "running";
    return new TerminalView({
      sessionId,
      canType: running,
      canResize: running,
      onError: (error) => {
        // Ended meanwhile: not an error (there is nothing left to type into); the list says so.
        if (error instanceof ApiError && error.code === "session_not_running") {
          this.run(() => this.refreshSessions());
        } else {
          this.handleError(error);
        }
      },
    });
  }

  /** Drop a session's view for good (a terminal's xterm and its WebGL context with it). */
  forgetView(sessionId) {
    this.views.get(sessionId)?.output.dispose?.();
    this.views.delete(sessionId);
  }

  /** Forget the views shown longest ago beyond KEPT_VIEWS, and while the views other than the one
   * on screen keep more than `keptChars` characters (as agent views count them). */
  trimViews() {
    const others = [...this.views].filter(([id]) => id !== this.sessionId);
    let chars = others.reduce((sum, [, view]) => sum + (view.output.chars ?? 0), 0);
    for (const [id, view] of others) {
      if (this.views.size <= KEPT_VIEWS && chars <= this.keptChars) break;
      this.forgetView(id);
      chars -= view.output.chars ?? 0;
    }
  }

  openStream(sessionId) {
    this.closeStream();
    const view = this.views.get(sessionId);
    if (!view) return;
    // A terminal attaches to the screen: a snapshot of it first, not the whole history.
    const stream = new SessionEventStream(sessionId, {
      lastEventId: view.lastEventId,
      attach: view.terminal ? "screen" : null,
    });
    this.stream = stream;
    const mine = (handler) => (data, meta) => {
      if (this.stream === stream) handler(data, meta);
    };
    // The events up to the session's last when the stream (re)connected are a replay: the view
    // shows them, but the list, Interrupt and the prompt follow live events only (and the poll).
    // The list asks the backend at each (re)connect instead: what changed while the stream was
    // away is not replayed as news. An ending is never stale, so it is taken at once.
    let liveAfter = Infinity;
    stream.on("connected", mine((data) => {
      liveAfter = Number(data.sessionLastEventId) || 0;
      // The stream tells again, after its replay, if the backend still cannot store; it may
      // have recovered while the stream was away.
      this.setStorageWarning(null);
      this.run(() => this.refreshSessions());
    }));
    const live = (handler) => (data, meta) => {
      if (meta.id > liveAfter) handler(data);
    };
    stream.on("status", mine((data, meta) => {
      if (meta.id > liveAfter || data.status !== "running") this.statusChanged(sessionId, data);
    }));
    stream.on("state", mine((info) => this.setStreamState(info)));
    stream.on("disconnected", mine((info) => {
      if (info.code === "unauthorized") this.showSignIn();
      if (info.code === "session_not_found") this.run(() => this.refreshSessions());
    }));
    stream.on("history-trimmed", mine((data) => view.output.notice(trimmedNotice(data.firstAvailableId))));
    stream.on("storage-error", mine((data) => this.setStorageWarning(storageWarning(data.reason))));
    stream.on("storage-restored", mine(() => this.setStorageWarning(null)));
    if (view.agent) {
      for (const type of AGENT_EVENTS) {
        stream.on(type, mine((data, meta) => view.output.add(type, data, meta?.id ?? null)));
      }
      stream.on("prompt", mine(live((data) => this.promptQueued(sessionId, data))));
      stream.on("mode", mine(live((data) => this.modeChanged(sessionId, data))));
      view.output.onAnswer = (requestId, body) => api.answer(sessionId, requestId, body);
      view.output.onRequest = (card) => {
        // The card takes the keys unless a prompt is being typed: once it is painted (focusing
        // lays the page out, which would delay the frame that shows it).
        setTimeout(() => {
          const prompt = $("#prompt");
          const typing = document.activeElement === prompt && prompt.value;
          if (this.sessionId === sessionId && !typing && card.element.isConnected && !card.resolved) {
            card.element.focus({ preventScroll: true });
          }
        });
      };
      return;
    }
    if (view.terminal) {
      stream.on("snapshot", mine((data) => view.output.snapshot(data)));
      stream.on("output", mine((data) => view.output.write(data.content)));
      stream.on("resize", mine((data) => view.output.resize(data.cols, data.rows)));
      stream.on("error", mine((data) => view.output.notice(`error: ${data.message ?? ""}`)));
      return; // its prompt events are lines typed by the API's /prompt: already in the output
    }
    // Pipes: output through the ANSI renderer, everything else as notices.
    stream.on("output", mine((data) => view.output.write(data.content)));
    stream.on("error", mine((data) => view.output.notice(`error: ${data.message ?? ""}`)));
    stream.on("prompt", mine((data) => {
      const session = this.sessions.find((s) => s.id === sessionId);
      if (session && session.tty === false) view.output.notice(`> ${data.command ?? ""}`);
    }));
  }

  closeStream() {
    this.setStorageWarning(null); // a stream of another session (or none) says what holds now
    if (this.stream === null) return;
    const view = this.views.get(this.stream.sessionId);
    if (view) view.lastEventId = this.stream.lastEventId;
    this.stream.disconnect();
    this.stream = null;
    this.setStreamState({ state: "closed" });
  }

  /** Show the banner over the output with `text`, or hide it (null). */
  setStorageWarning(text) {
    const banner = $("#storage-warning");
    banner.textContent = text ?? "";
    banner.hidden = text === null;
  }

  statusChanged(sessionId, data) {
    const session = this.sessions.find((s) => s.id === sessionId);
    if (session) {
      session.status = data.status;
      // An ending says how: its exit code, and the signal that ended it (an ending without one
      // names none), so the label is right before the list is fetched again.
      if ("exitCode" in data) {
        session.exitCode = data.exitCode;
        session.signal = data.signal ?? null;
      }
      if (session.agent && data.agent) Object.assign(session.agent, data.agent);
      if (session.agent && data.totals) session.agent.totals = data.totals;
      this.attention.seen(session);
      this.renderSessionsSoon();
    }
    if (data.status !== "running") this.run(() => this.refreshSessions());
  }

  modeChanged(sessionId, data) {
    const session = this.sessions.find((s) => s.id === sessionId);
    if (!session?.agent) return;
    session.agent.mode = data.mode;
    session.agent.model = data.model;
    if (sessionId === this.sessionId) this.renderSessionHead();
  }

  /** A queued prompt shows in the list at once; the next poll brings the backend's count. */
  promptQueued(sessionId, data) {
    const session = this.sessions.find((s) => s.id === sessionId);
    if (!session?.agent || data.queued !== true) return;
    session.agent.queued = Math.max(session.agent.queued ?? 0, Number(data.position) || 1);
    session.agent.state = "working";
    this.renderSessionsSoon();
  }

  setStreamState(info) {
    const label = $("#stream-state");
    clearInterval(this._countdown);
    this._countdown = null;
    label.dataset.state = info.state;
    const text = () => {
      switch (info.state) {
        case "connecting":
          return "connecting…";
        case "connected":
          return "connected";
        case "reconnecting": {
          if (info.delay === null || info.delay === undefined) return `reconnecting (attempt ${info.attempt})`;
          const left = Math.max(0, Math.ceil((info.until - performance.now()) / 1000));
          return `reconnecting in ${left} s (attempt ${info.attempt})`;
        }
        case "gone":
          return `gone: ${info.reason ?? "no more attempts"}`;
        default:
          return "—";
      }
    };
    if (info.state === "reconnecting" && info.delay != null) {
      info = { ...info, until: performance.now() + info.delay };
      this._countdown = setInterval(() => {
        label.textContent = text();
      }, 250);
    }
    label.textContent = text();
    label.title = info.reason ?? "";
    this.renderLinesInfo();
  }

  renderLinesInfo() {
    const view = this.currentView();
    if (!view) return;
    if (view.agent) {
      $("#lines-info").textContent = view.output.describe();
      return;
    }
    if (view.terminal) {
      $("#lines-info").textContent = `${view.output.cols}×${view.output.rows}`;
      return;
    }
    const { lines, dropped } = view.output;
    const shown = Math.max(lines - 1, 0).toLocaleString("en-US");
    const older = dropped ? ` · ${dropped.toLocaleString("en-US")} older not shown` : "";
    $("#lines-info").textContent = `${shown} lines${older}`;
  }

  // Prompt

  promptKey(event) {
    const prompt = event.currentTarget;
    if (this.isInterruptKey(event)) {
      event.preventDefault();
      this.run(() => this.interruptSession());
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (this.continuing.has(this.sessionId)) return; // this text waits for the new session
      const text = prompt.value;
      if (text.trim() && this.history[this.history.length - 1] !== text) this.history.push(text);
      this.historyPos = this.history.length;
      this.draft = "";
      prompt.value = "";
      const meantFor = [this.sessionId]; // and the session that continues it, once made
      this.run(async () => {
        try {
          await this.sendPrompt(text, meantFor);
        } catch (error) {
          this.giveBack(text, meantFor); // not lost: Enter tries again
          throw error;
        }
      });
    } else if (event.key === "ArrowUp" && this.history.length) {
      event.preventDefault();
      if (this.historyPos === this.history.length) this.draft = prompt.value;
      this.historyPos = Math.max(0, this.historyPos - 1);
      prompt.value = this.history[this.historyPos];
    } else if (event.key === "ArrowDown" && this.history.length) {
      event.preventDefault();
      this.historyPos = Math.min(this.history.length, this.historyPos + 1);
      prompt.value = this.historyPos === this.history.length ? this.draft : this.history[this.historyPos];
    }
  }

  /** Ctrl-C in the prompt with nothing selected in it interrupts, when Interrupt would (else it
   * is the field's own Ctrl-C). Ctrl, not Cmd: on a Mac, Cmd-C stays Copy. The physical C key,
   * as a terminal and the desktop app take it: `key` is "с" on a Russian layout, "ц" on a
   * Ukrainian one. */
  isInterruptKey(event) {
    const field = event.currentTarget;
    return (
      event.code === "KeyC" &&
      event.ctrlKey && !event.metaKey && !event.altKey && !event.shiftKey &&
      field.selectionStart === field.selectionEnd &&
      canInterrupt(this.currentSession())
    );
  }

  /** Send `text` to the session on screen; `meantFor` gets the id of a session made to continue
   * it, if one is. */
  async sendPrompt(text, meantFor = []) {
    if (!this.sessionId) return;
    const session = this.currentSession();
    if (isAgent(session) && !text.trim()) return; // an empty line is no prompt for an agent
    if (canContinue(session)) {
      await this.continueConversation(session, text, meantFor);
      return;
    }
    await api.prompt(this.sessionId, text);
  }

  /** A prompt that did not go out returns to the prompt, unless something new is typed there.
   * It was for `sessionIds` (an ended conversation, then the session continuing it): if another
   * session is on screen now, it waits until the last of them is shown again, so that Enter
   * never sends it to a session it was not for. */
  giveBack(text, sessionIds) {
    const prompt = $("#prompt");
    if (sessionIds.includes(this.sessionId)) {
      if (!prompt.value) prompt.value = text;
    } else if (sessionIds.length) {
      this.givenBack.set(sessionIds[sessionIds.length - 1], text);
    }
  }

  /** An imported or ended conversation goes on in a new `claude` session that resumes it (and
   * gets `text`, if any). The prompt is disabled until that session has the text: a second Enter
   * would start a second session. */
  async continueConversation(ended, text, meantFor = []) {
    const prompt = $("#prompt");
    const waiting = [ended.id];
    for (const id of waiting) this.continuing.add(id);
    prompt.disabled = true;
    this.renderSessionHead();
    try {
      const session = await api.createSession({ kind: "claude", resume: ended.id });
      waiting.push(session.id);
      meantFor.push(session.id);
      this.continuing.add(session.id);
      await this.refreshSessions();
      this.openSession(session.id);
      if (text !== null) await api.prompt(session.id, text);
    } finally {
      for (const id of waiting) this.continuing.delete(id);
      this.renderSessionHead();
      if (!prompt.disabled && document.activeElement === document.body) prompt.focus();
    }
  }

  /** The size a new session starts with: what fits the output area, as the terminal on screen
   * measures it, else roughly (the new session's view then fits itself exactly, once shown). */
  terminalSize() {
    const view = this.currentView();
    const fitted = view?.terminal ? view.output.fitAddon.proposeDimensions() : undefined;
    if (fitted && fitted.cols > 1 && fitted.rows > 1) return { cols: fitted.cols, rows: fitted.rows };
    const host = $("#output-host");
    const probe = element("span", { className: "measure" }, "0".repeat(100));
    host.append(probe);
    const box = probe.getBoundingClientRect();
    probe.remove();
    // xterm.js rounds a cell's width down to whole device pixels.
    const charWidth = Math.floor((box.width / 100) * devicePixelRatio) / devicePixelRatio || 8;
    const lineHeight = box.height || 16;
    const clamp = (n) => Math.min(1000, Math.max(2, Math.floor(n)));
    // Less the terminal's padding (8 px left, 4 px top) and its scroll bar (10 px): style.css.
    return { cols: clamp((host.clientWidth - 18) / charWidth), rows: clamp((host.clientHeight - 4) / lineHeight) };
  }
}

const app = new App();
globalThis.sessionDock = app; // for the console (and the browser tests)
app.start();
