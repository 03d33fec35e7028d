// What needs the user: conversations waiting for an answer, counted in the tab's title, and the
// Notification API when one starts waiting, finishes its turn or ends while the user is not
// looking at it (the tab hidden or unfocused, or another session shown). The permission is asked
// on a click (browsers refuse it otherwise); the setting is kept in this browser.

import { isAgent, isRunning, needsYou } from "./actions.js";

const SETTING = "sessiondock.notifications";

/** What changed in a session since it was last seen, worth telling: null for nothing. */
export function news(before, after) {
  if (!before || !after || !isAgent(after)) return null;
  const was = before.status === "running" ? before.agent?.state ?? "idle" : before.status;
  const now = after.status === "running" ? after.agent?.state ?? "idle" : after.status;
  if (was === now) return null;
  if (now === "waiting") {
    const pending = after.agent?.pending?.[0];
    const what = pending?.tool === "AskUserQuestion" ? "has questions for you" : pending?.tool === "ExitPlanMode" ? "has a plan for you to approve" : pending ? `wants to use ${pending.tool}` : "needs you";
    return { title: `Claude ${what}`, body: after.name, kind: "waiting" };
  }
  if (now === "idle" && (was === "working" || was === "waiting")) {
    return { title: "Claude finished its turn", body: after.name, kind: "turn" };
  }
  if (!isRunning(after) && was !== now && (was === "idle" || was === "working" || was === "waiting")) {
    return { title: `Claude session ${after.status}`, body: after.name, kind: "ended" };
  }
  return null;
}

export class Attention {
  /** `open(session)` shows a session (a notification's click). */
  constructor({ baseTitle, open, button }) {
    this.baseTitle = baseTitle;
    this.open = open;
    this.button = button;
    this.known = new Map(); // session id -> the session as last seen
    this.shownId = null; // the session on screen
    this.sent = []; // the notifications made, newest last (a few: for tests and for closing)
    this.button?.addEventListener("click", () => this.toggle());
    this.renderButton();
  }

  get supported() {
    return typeof Notification !== "undefined";
  }

  get enabled() {
    return this.supported && Notification.permission === "granted" && localStorage.getItem(SETTING) !== "off";
  }

  async toggle() {
    if (!this.supported) return;
    if (this.enabled) {
      localStorage.setItem(SETTING, "off");
    } else {
      localStorage.setItem(SETTING, "on");
      if (Notification.permission === "default") await Notification.requestPermission();
    }
    this.renderButton();
  }

  renderButton() {
    if (!this.button) return;
    this.button.hidden = !this.supported;
    const on = this.enabled;
    this.button.setAttribute("aria-pressed", String(on));
    this.button.textContent = on ? "Notifications: on" : "Notifications: off";
    this.button.title = !this.supported
      ? ""
      : Notification.permission === "denied"
        ? "This browser blocks notifications for this page: allow them in its site settings"
        : on
          ? "Told when a Claude session needs you, finishes or ends while you look elsewhere. Click to turn off."
          : "Click to be told when a Claude session needs you, finishes or ends while you look elsewhere";
  }

  looking(sessionId) {
    return sessionId === this.shownId && document.visibilityState === "visible" && document.hasFocus();
  }

  /** The sessions as the backend lists them now (every project's). */
  update(sessions) {
    for (const session of sessions) this.seen(session);
    const ids = new Set(sessions.map((s) => s.id));
    for (const id of this.known.keys()) if (!ids.has(id)) this.known.delete(id);
    this.renderTitle();
  }

  /** One session as it is now (from the list, or its stream). */
  seen(session) {
    const before = this.known.get(session.id);
    this.known.set(session.id, structuredClone(session));
    const told = news(before, session);
    // Cheapest test first: reading the permission and the setting costs a few ms a time.
    if (told && !this.looking(session.id) && this.enabled) this.notify(session.id, told);
    this.renderTitle();
  }

  waiting() {
    return [...this.known.values()].filter(needsYou);
  }

  renderTitle() {
    const count = this.waiting().length;
    const title = count ? `(${count}) ${this.baseTitle}` : this.baseTitle;
    // Setting the title goes to the browser process even when it is the same: only on a change.
    if (document.title !== title) document.title = title;
  }

  notify(sessionId, { title, body, kind }) {
    const notification = new Notification(title, { body, tag: `${sessionId}:${kind}` });
    notification.onclick = () => {
      window.focus();
      this.open(sessionId);
      notification.close();
    };
    this.sent.push({ sessionId, title, body, kind });
    if (this.sent.length > 20) this.sent.shift();
  }
}
