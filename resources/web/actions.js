// Interrupt, Stop and Continue: when a session offers them, what Stop, Delete and removing a
// project ask first, how a status reads, and the requests they send. The rules are desktop/session_actions.py's, line for line
// (docs/architecture.md, "Session actions in the clients"; tests/web/test_actions_js.py holds the
// two to the same answers).

import { api, ApiError } from "./api.js";

/** `running`, `exited 0`, `failed 3`, `failed SIGKILL`, `failed` (could not start), `stopped`,
 *  `stopped SIGTERM`, `interrupted`, `imported`. */
export function statusLabel(session) {
  const status = String(session.status ?? "?");
  const code = Number.isInteger(session.exitCode) ? session.exitCode : null;
  // The backend names the signal (its platform's numbering); an older one did not.
  const named = typeof session.signal === "string" && session.signal ? session.signal : null;
  const diedOf = code !== null && code < 0 ? (named ?? `signal ${-code}`) : null;
  if (status === "exited") return "exited 0";
  if (status === "failed" && code !== null) return `failed ${diedOf ?? code}`;
  if (status === "stopped" && diedOf !== null) return `stopped ${diedOf}`;
  return status;
}

/** A Claude Code conversation (ours or imported) rather than a terminal. */
export function isAgent(session) {
  return session?.kind === "claude";
}

export function isRunning(session) {
  return session?.status === "running";
}

/** A conversation whose turn is running. */
/** A conversation whose turn is running (waiting for an answer counts: it runs still). */
export function isWorking(session) {
  return isRunning(session) && (session.agent?.state === "working" || session.agent?.state === "waiting");
}

/** A conversation whose turn waits for a person: a tool to allow, a question, a plan. */
export function needsYou(session) {
  return isRunning(session) && session.agent?.state === "waiting";
}

/** A terminal or command that runs, or a conversation whose turn runs. */
export function canInterrupt(session) {
  return isAgent(session) ? isWorking(session) : isRunning(session);
}

export function canStop(session) {
  return isRunning(session);
}

/** A conversation that takes no more prompts itself but can go on in a new session: an imported
 *  one, or one of ours that ended after its first turn. */
export function canContinue(session) {
  if (!isAgent(session) || isRunning(session)) return false;
  return session.status === "imported" || Boolean(session.agent?.agentSessionId);
}

/** What the session list shows of a running conversation, beside its cost: `working…`,
 *  `working… · queued 2` or `idle`; null for any other session. */
export function conversationState(session) {
  if (!isAgent(session) || !isRunning(session)) return null;
  const agent = session.agent ?? {};
  let state = { working: "working…", waiting: "needs you" }[agent.state] ?? "idle";
  if (Number.isInteger(agent.queued) && agent.queued > 0) state += ` · queued ${agent.queued}`;
  return state;
}

/** What the prompt line says while it is empty, for the session on screen (null: none is). */
export function promptPlaceholder(session) {
  if (!session) return "Pick a session";
  if (canContinue(session)) return "Continue this conversation… (Enter starts a new Claude session from here)";
  if (!isRunning(session)) return "The session is not running";
  if (isAgent(session)) return "Message Claude and press Enter (while it works, prompts queue)";
  return "Type a command for the session and press Enter";
}

/** What Stop asks before it ends a shell that is running a program, else null. */
export function stopQuestion(session) {
  const job = session.foreground;
  if (session.kind !== "shell" || !isRunning(session) || !job || typeof job !== "object") return null;
  return `Stop the shell? It is running ${String(job.name ?? "") || "a program"}.`;
}

/** What Delete asks, always: it takes the session's whole history. */
export function deleteQuestion(session) {
  const running = isRunning(session) ? " It is still running; it will be stopped." : "";
  return `Delete the session "${session.name ?? ""}" and its history?${running}`;
}

/** What removing a project asks, always: it deletes every session of the project, with its
 *  history (`sessions`: the project's, as they are now), and leaves its folder alone. */
export function removeProjectQuestion(project, sessions) {
  const count = sessions.length;
  const running = sessions.filter(isRunning).length;
  let question = `Remove the project "${project.name ?? ""}"?`;
  if (count === 0) {
    question += " It has no sessions.";
  } else if (count === 1) {
    const ending = running ? "; it is still running and will be stopped" : "";
    question += ` Its session and its history will be deleted${ending}.`;
  } else {
    const verb = running === 1 ? "is" : "are";
    const ending = running ? `; ${running} of them ${verb} still running and will be stopped` : "";
    question += ` Its ${count} sessions and their history will be deleted${ending}.`;
  }
  return `${question} Its folder is left as it is.`;
}

/** What a session's view says when retention removed events before it could show them (a
 *  `history-trimmed` event), whatever the kind of session. */
export function trimmedNotice(firstAvailableId) {
  return `… older output was trimmed; history resumes at event ${firstAvailableId}`;
}

// The backend's reason when the disk is full (`storage-error`, /api/health): then freeing space is
// what ends the pause; any other reason (a read-only or damaged database) needs fixing.
const DISK_FULL = "the disk is full";

/** What the banner over a session's output says while the backend cannot store anything (a
 *  `storage-error` event, with its `reason`), until a `storage-restored` event. */
export function storageWarning(reason) {
  const said = typeof reason === "string" && reason ? reason : "the database refuses writes";
  const until = said === DISK_FULL ? "space is freed" : "that is fixed";
  return `Cannot store output: ${said}. The session is paused until ${until}; nothing is lost.`;
}

/** The tooltip of each action button for `session`. */
export function hints(session) {
  let interrupt;
  let stop;
  if (isAgent(session)) {
    interrupt = "Interrupt the running turn; queued prompts still run";
    stop = "End this conversation; Continue can take it up again";
  } else {
    interrupt = "Ctrl-C: interrupt the program running in the session";
    stop = session?.kind === "shell"
      ? "End the shell and what runs in it"
      : "End the command (SIGTERM, then SIGKILL if it does not end)";
  }
  return { interrupt, stop, continue: "Continue this conversation in a new session" };
}

/** Ask `question` in the page's dialog: true for `confirmLabel`, false for Cancel (the default,
 *  and what Escape answers). */
export function ask(question, confirmLabel) {
  const dialog = document.querySelector("#confirm");
  document.querySelector("#confirm-text").textContent = question;
  document.querySelector("#confirm-yes").textContent = confirmLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.showModal();
    document.querySelector("#confirm-cancel").focus();
  });
}

/** Whether to remove `project`: asked with its sessions as they are now (the list may be 2 s
 *  old). */
export async function confirmRemoveProject(project) {
  const sessions = await api.sessions(project.id);
  return ask(removeProjectQuestion(project, sessions), "Remove");
}

/** A session that ended meanwhile has nothing left to interrupt or stop: not an error. */
async function unlessEnded(request) {
  try {
    await request;
  } catch (error) {
    if (!(error instanceof ApiError && error.code === "session_not_running")) throw error;
  }
}

export async function interrupt(sessionId) {
  await unlessEnded(api.interrupt(sessionId));
}

/** Stop the session, after asking when it is a shell running a program (as it is now, not as
 *  the list last saw it). False when the user kept it. */
export async function stop(sessionId) {
  const session = await api.session(sessionId);
  if (!canStop(session)) return true;
  const question = stopQuestion(session);
  if (question !== null && !(await ask(question, "Stop"))) return false;
  await unlessEnded(api.stop(sessionId));
  return true;
}
