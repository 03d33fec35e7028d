// The backend's REST API from the page: same origin, the HttpOnly token cookie, JSON both ways.

/** An answer other than 2xx, or no answer: `status` is 0 when the backend cannot be reached. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** How long a request may go unanswered (a frozen backend, a half-open connection) before it
 *  fails like an unreachable backend, so nothing waiting on it stays stuck. The desktop app's is
 *  the same (desktop/api.py, DEFAULT_TIMEOUT). */
export const limits = { timeoutMs: 20_000 };

async function request(method, path, body) {
  const init = {
    method,
    cache: "no-store",
    credentials: "same-origin",
    headers: {},
    signal: AbortSignal.timeout(limits.timeoutMs),
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error?.name === "TimeoutError") {
      throw new ApiError(0, "timeout", `the backend did not answer within ${limits.timeoutMs / 1000} s`);
    }
    throw new ApiError(0, "unreachable", "the backend cannot be reached");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const message = data?.error ?? `${method} ${path}: HTTP ${response.status}`;
    throw new ApiError(response.status, data?.code ?? "http_error", message);
  }
  return data;
}

const id = encodeURIComponent;

export const api = {
  projects: () => request("GET", "/api/projects").then((d) => d.projects),
  addProject: (path) => request("POST", "/api/projects", { path }),
  removeProject: (projectId) => request("DELETE", `/api/projects/${id(projectId)}`),
  sessions: (projectId) =>
    request("GET", `/api/sessions?projectId=${id(projectId)}`).then((d) => d.sessions),
  allSessions: () => request("GET", "/api/sessions").then((d) => d.sessions),
  session: (sessionId) => request("GET", `/api/session/${id(sessionId)}`),
  createSession: (body) => request("POST", "/api/sessions", body),
  deleteSession: (sessionId) => request("DELETE", `/api/session/${id(sessionId)}`),
  prompt: (sessionId, command) =>
    request("POST", `/api/session/${id(sessionId)}/prompt`, { command }),
  /** Keys and pastes for a terminal session's program, written as they are (no newline added). */
  input: (sessionId, data) => request("POST", `/api/session/${id(sessionId)}/input`, { data }),
  interrupt: (sessionId) => request("POST", `/api/session/${id(sessionId)}/interrupt`),
  /** Answer a Claude session's permission request: {behavior, updatedInput?, message?, remember?}. */
  answer: (sessionId, requestId, body) =>
    request("POST", `/api/session/${id(sessionId)}/permission`, { requestId, ...body }),
  setMode: (sessionId, mode) => request("POST", `/api/session/${id(sessionId)}/mode`, { mode }),
  stop: (sessionId) => request("POST", `/api/session/${id(sessionId)}/stop`),
  signal: (sessionId, signal) =>
    request("POST", `/api/session/${id(sessionId)}/signal`, { signal }),
  resize: (sessionId, cols, rows) =>
    request("POST", `/api/session/${id(sessionId)}/resize`, { cols, rows }),
  /** Every session's output and conversations: {hits, nextCursor}, newest first. */
  search: (q, { limit = 50, cursor = null, projectId = null, sessionId = null } = {}) => {
    const params = new URLSearchParams({ q, limit: String(limit) });
    if (cursor) params.set("cursor", cursor);
    if (projectId) params.set("projectId", projectId);
    if (sessionId) params.set("sessionId", sessionId);
    return request("GET", `/api/search?${params}`);
  },
  /** Where a session's export downloads from (the cookie carries the token). */
  exportUrl: (sessionId, format) => `/api/session/${id(sessionId)}/export?format=${id(format)}`,
};
