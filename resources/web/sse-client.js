// SessionEventStream: one session's events from GET /api/session/{id}/events, delivered once each
// and in order across dropped connections, backend restarts and proxies that answer with errors.
// A classic script (not a module) so the reference test page can load it with <script src>; it
// defines globalThis.SessionEventStream and globalThis.HeartbeatEstimate.
//
//   const stream = new SessionEventStream(sessionId, {reconnectInterval: 1000});
//   stream.on("output", (data, meta) => ...);   // meta = {id, type}; also status, prompt, error,
//   stream.on("connected", (data) => ...);      //   operations-detected, raw, resize, snapshot,
//                                               //   permission-request, permission-resolved,
//                                               //   mode, delta, history-trimmed, heartbeat,
//                                               //   storage-error, storage-restored
//   stream.on("reconnecting", ({attempt, delay, reason}) => ...);   // delay in ms, or null when
//   stream.on("disconnected", ({reason, code, message}) => ...);    //   the browser retries itself
//   stream.on("state", ({state, attempt, delay, reason}) => ...);   // connecting, connected,
//   stream.disconnect();                                            //   reconnecting, gone, closed
//
// How it recovers (the same three layers as the desktop client):
// 1. A dropped connection: the EventSource reconnects by itself after the server's `retry:` and
//    sends Last-Event-ID.
// 2. The EventSource gives up (readyState CLOSED) after any answer that is not a 200 event stream:
//    a HEAD probe of the same URL tells why. 404 means the session is gone and 401 that the token
//    was refused (both final); anything else (a proxy's 502, a backend shutting down) is retried
//    with exponential backoff and jitter, 1 s doubling to 30 s, by a new EventSource that names
//    its resume point in ?lastEventId= (an EventSource sends Last-Event-ID only on its own
//    reconnects).
// 3. A stream that says nothing for `watchdogFactor` heartbeat intervals (a frozen backend, a
//    network that silently died) is replaced the same way.
// Each stored event carries its id; the last one seen is the resume point, and a stored event at
// or below it is dropped, so replays after any of the above never show anything twice.
//
// A terminal session's view opens its stream with {attach: "screen"} (and every reconnect keeps
// it): the backend then starts with a `snapshot`, the screen as it is, instead of the whole
// history, and sends one again after a reconnect whose gap it will not replay. A snapshot is never
// dropped; it carries the id of the last event it covers, which becomes the resume point.
(function (global) {
  "use strict";

  const STORED = [
    "output", "status", "prompt", "error", "operations-detected", "raw", "resize",
    "permission-request", "permission-resolved", "mode",
  ]; // prettier-ignore
  // Events about the stream, never stored (backend/protocol/events.py), and without an id but
  // for the snapshot's. While the backend cannot store anything (disk full, read-only database)
  // the session is paused: storage-error says so when it starts (and after the replay to a
  // stream that connects meanwhile), storage-restored when it stores again.
  const SNAPSHOT = "snapshot";
  // A `delta` is a piece of the text Claude is writing, sent live and never replayed.
  const CONTROL = [
    "connected", "heartbeat", "history-trimmed", "storage-error", "storage-restored", SNAPSHOT,
    "delta",
  ]; // prettier-ignore

  /**
   * The server's heartbeat interval as this page knows it, shared by all streams of a page.
   * The server sends a heartbeat after one interval of silence (up to 1.25 with its sweep), so two
   * heartbeats in a row with nothing between are one interval apart: the latest such gap is the
   * estimate. Until one is seen, `connected.heartbeatInterval` (if the server sends it) or the
   * server's default of 15 s. A watchdog that fires before any heartbeat was seen doubles the
   * guess (up to 5 min), so a server with a longer interval costs a few early reconnects at most.
   */
  class HeartbeatEstimate {
    constructor(defaultSeconds = 15) {
      this.fallback = defaultSeconds;
      this.announced = null;
      this.measured = null;
      this.heartbeats = 0;
    }

    get seconds() {
      return this.announced ?? this.measured ?? this.fallback;
    }

    observeGap(seconds) {
      if (seconds > 0.05) this.measured = seconds;
    }

    watchdogFired() {
      if (this.heartbeats === 0 && this.announced === null) {
        this.fallback = Math.min(this.fallback * 2, 300);
      }
    }
  }

  const sharedEstimate = new HeartbeatEstimate();

  class SessionEventStream {
    constructor(sessionId, options = {}) {
      this.sessionId = String(sessionId);
      this.options = {
        baseUrl: "",
        reconnectInterval: 1000, // first backoff ceiling, ms; doubles per attempt
        maxReconnectInterval: 30000,
        maxReconnectAttempts: Infinity, // consecutive failures before giving up
        watchdogFactor: 3,
        heartbeat: sharedEstimate,
        lastEventId: null,
        attach: null, // "screen": start with a snapshot of a terminal session's screen
        scrollback: null, // lines of history in that snapshot (the backend's default if null)
        ...options,
      };
      this.heartbeat = this.options.heartbeat ?? sharedEstimate;
      this.lastEventId = this.options.lastEventId ?? null;
      this.state = "closed";
      this.attempt = 0;
      this.clientId = null;
      this.stats = {
        opened: 0,
        browserRetries: 0,
        refused: 0,
        backoffReconnects: 0,
        watchdogReopens: 0,
        duplicatesDropped: 0,
      };
      this._listeners = new Map();
      this._es = null;
      this._bound = new Set(); // event names the current EventSource has a listener for
      this._closed = false;
      this._retryTimer = null;
      this._watchdogTimer = null;
      this._lastActivity = 0;
      this._lastHeartbeatAt = null;
      this._probe = null;
      // Connect once the caller has had the chance to add listeners, so they see every state.
      queueMicrotask(() => {
        if (!this._closed && this._es === null) this._connect();
      });
    }

    on(name, callback) {
      if (!this._listeners.has(name)) {
        this._listeners.set(name, []);
        if (this._es !== null && !this._bound.has(name)) this._bind(this._es, name);
      }
      this._listeners.get(name).push(callback);
      return this;
    }

    off(name, callback) {
      const callbacks = this._listeners.get(name);
      if (callbacks) this._listeners.set(name, callbacks.filter((cb) => cb !== callback));
      return this;
    }

    /** Stop for good and release the connection. */
    disconnect() {
      if (this._closed) return;
      this._stop();
      this._setState("closed");
      this._emit("disconnected", { reason: "closed", code: null, message: "disconnected" });
    }

    get url() {
      const path = `/api/session/${encodeURIComponent(this.sessionId)}/events`;
      const query = new URLSearchParams();
      if (this.options.attach !== null) query.set("attach", this.options.attach);
      if (this.options.attach !== null && this.options.scrollback !== null) {
        query.set("scrollback", String(this.options.scrollback));
      }
      if (this.lastEventId !== null) query.set("lastEventId", String(this.lastEventId));
      const search = query.toString();
      return `${this.options.baseUrl}${path}${search ? `?${search}` : ""}`;
    }

    // Connecting

    _connect() {
      this._clearRetry();
      const es = new EventSource(this.url);
      this._es = es;
      this.stats.opened += 1;
      this._lastHeartbeatAt = null;
      this._bound = new Set();
      for (const name of new Set([...STORED, ...CONTROL, ...this._listeners.keys()])) {
        this._bind(es, name);
      }
      this._setState(this.attempt ? "reconnecting" : "connecting", { attempt: this.attempt });
      this._armWatchdog();
    }

    _bind(es, name) {
      if (name === "reconnecting" || name === "disconnected" || name === "state") return;
      this._bound.add(name);
      // `error` is both the server's stored error event (a MessageEvent) and the EventSource's own
      // failure signal (a plain Event); one listener tells them apart.
      es.addEventListener(name, (event) => {
        if (es !== this._es) return; // a stream we already replaced
        if (name === "error" && !(event instanceof MessageEvent)) this._failed(es);
        else this._received(name, event);
      });
    }

    _received(name, event) {
      const now = performance.now();
      this._lastActivity = now;
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        data = event.data;
      }
      if (STORED.includes(name)) {
        this._lastHeartbeatAt = null;
        const id = Number(event.lastEventId);
        if (this.lastEventId !== null && id <= this.lastEventId) {
          this.stats.duplicatesDropped += 1;
          return;
        }
        this.lastEventId = id;
        this._emit(name, data, { id, type: name });
        return;
      }
      if (name === SNAPSHOT) {
        // The screen up to its id, whatever came before: what follows must come after it.
        this._lastHeartbeatAt = null;
        const id = Number(event.lastEventId);
        if (Number.isFinite(id) && event.lastEventId !== "") this.lastEventId = id;
        this._emit(name, data, { id: this.lastEventId, type: name });
        return;
      }
      if (name === "heartbeat") {
        this.heartbeat.heartbeats += 1;
        if (this._lastHeartbeatAt !== null) {
          this.heartbeat.observeGap((now - this._lastHeartbeatAt) / 1000);
        }
        this._lastHeartbeatAt = now;
      } else {
        this._lastHeartbeatAt = null;
      }
      if (name === "connected") {
        this.attempt = 0;
        this.clientId = data.clientId ?? null;
        if (typeof data.heartbeatInterval === "number" && data.heartbeatInterval > 0) {
          this.heartbeat.announced = data.heartbeatInterval;
        }
        this._setState("connected");
      }
      this._emit(name, data, { id: null, type: name });
    }

    // Failing and recovering

    _failed(es) {
      if (es.readyState === EventSource.CONNECTING) {
        // The connection dropped or could not be made: the browser retries by itself, after the
        // server's `retry:` delay, with Last-Event-ID.
        this.stats.browserRetries += 1;
        this.attempt += 1;
        if (this.attempt > this.options.maxReconnectAttempts) {
          this._giveUp();
          return;
        }
        const info = { attempt: this.attempt, delay: null, reason: "connection lost" };
        this._setState("reconnecting", info);
        this._emit("reconnecting", info);
        return;
      }
      // CLOSED: the browser gave up, after an answer that was not a 200 event stream. Ask why.
      this.stats.refused += 1;
      this._closeSource();
      this._whyRefused();
    }

    async _whyRefused() {
      const controller = new AbortController();
      this._probe = controller;
      const timer = setTimeout(() => controller.abort(), 5000);
      let status = 0;
      try {
        const response = await fetch(this.url, {
          method: "HEAD",
          cache: "no-store",
          credentials: "same-origin",
          signal: controller.signal,
        });
        status = response.status;
      } catch {
        status = 0; // unreachable, or no answer in time
      } finally {
        clearTimeout(timer);
      }
      if (this._closed || this._probe !== controller) return;
      this._probe = null;
      if (status === 404) {
        this._gone("session_not_found", "the session no longer exists");
      } else if (status === 401) {
        this._gone("unauthorized", "the token was refused; sign in again");
      } else {
        this._scheduleReconnect(status ? `the server answered ${status}` : "no answer");
      }
    }

    _scheduleReconnect(reason) {
      this._closeSource();
      this._clearRetry();
      this.attempt += 1;
      if (this.attempt > this.options.maxReconnectAttempts) {
        this._giveUp();
        return;
      }
      const delay = this._backoff(this.attempt);
      const info = { attempt: this.attempt, delay, reason };
      this._setState("reconnecting", info);
      this._emit("reconnecting", info);
      this._retryTimer = setTimeout(() => {
        this._retryTimer = null;
        if (this._closed) return;
        this.stats.backoffReconnects += 1;
        this._connect();
      }, delay);
    }

    /** Equal jitter, as the desktop client: a delay in [ceiling / 2, ceiling]. */
    _backoff(attempt) {
      const base = this.options.reconnectInterval;
      const ceiling = Math.min(this.options.maxReconnectInterval, base * 2 ** Math.min(attempt - 1, 30));
      return Math.round(ceiling / 2 + (ceiling / 2) * Math.random());
    }

    _armWatchdog() {
      this._lastActivity = performance.now();
      if (this._watchdogTimer !== null) return;
      // One coarse check a second: cheaper than re-arming a timer for every event.
      this._watchdogTimer = setInterval(() => {
        if (this._es === null) return;
        const limit = this.options.watchdogFactor * Math.max(this.heartbeat.seconds, 1) * 1000;
        const silent = performance.now() - this._lastActivity;
        if (silent > limit) {
          this.stats.watchdogReopens += 1;
          this.heartbeat.watchdogFired();
          this._scheduleReconnect(`no data for ${Math.round(silent / 1000)} s`);
        }
      }, 1000);
    }

    _gone(code, message) {
      this._stop();
      this._setState("gone", { code, reason: message });
      this._emit("disconnected", { reason: "gone", code, message });
    }

    _giveUp() {
      const attempts = this.options.maxReconnectAttempts;
      const message = `gave up after ${attempts} attempts`;
      this._stop();
      this._setState("gone", { code: "gave_up", reason: message });
      this._emit("disconnected", { reason: "gave up", code: "gave_up", message });
    }

    _stop() {
      this._closed = true;
      this._closeSource();
      this._clearRetry();
      if (this._probe !== null) this._probe.abort();
      this._probe = null;
      if (this._watchdogTimer !== null) clearInterval(this._watchdogTimer);
      this._watchdogTimer = null;
    }

    _closeSource() {
      if (this._es !== null) this._es.close();
      this._es = null;
    }

    _clearRetry() {
      if (this._retryTimer !== null) clearTimeout(this._retryTimer);
      this._retryTimer = null;
    }

    _setState(state, details = {}) {
      this.state = state;
      this._emit("state", { state, attempt: this.attempt, delay: null, reason: null, ...details });
    }

    _emit(name, data, meta) {
      for (const callback of this._listeners.get(name) ?? []) {
        try {
          callback(data, meta);
        } catch (error) {
          // A listener's bug must not stop the stream; report it where errors are shown.
          setTimeout(() => {
            throw error;
          });
        }
      }
    }
  }

  SessionEventStream.CONTROL_EVENTS = Object.freeze([...CONTROL]);
  global.SessionEventStream = SessionEventStream;
  global.HeartbeatEstimate = HeartbeatEstimate;
})(globalThis);
