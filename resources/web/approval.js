// Permission requests of a Claude session, as cards in its conversation: what Claude wants to do
// (a command, an edit as a diff, a path, its questions, its plan) and the answers (Allow, Deny
// with a message, the CLI's "always allow" suggestions; an answer to each question; Approve or
// Keep planning). A card answered, withdrawn or expired shows how it ended instead of its
// buttons. desktop/approval.py describes requests the same way for the desktop's cards.
//
// Keys, when a card has the focus (it takes it when it comes, unless you are typing a prompt):
// Y allows (answers, approves), A allows and keeps the first suggestion, N denies (with what the
// message box says); Enter in the message box denies with it.

const MAX_BODY_CHARS = 20_000; // of a command, a file's content or a plan shown in a card
const QUESTIONS = "AskUserQuestion";
const PLAN = "ExitPlanMode";
const RESOLVED = {
  allow: "Allowed",
  deny: "Denied",
  cancelled: "Withdrawn by Claude",
  expired: "Expired: its claude process ended",
};

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

function clip(text, max = MAX_BODY_CHARS) {
  const value = String(text ?? "");
  return value.length > max ? `${value.slice(0, max)}\n… (${(value.length - max).toLocaleString("en-US")} more characters)` : value;
}

/** A path as the session sees it: relative when inside its folder. */
function shortPath(path, workingDir) {
  const value = String(path ?? "");
  if (workingDir && value.startsWith(`${workingDir.replace(/\/$/, "")}/`)) {
    return value.slice(workingDir.replace(/\/$/, "").length + 1);
  }
  return value;
}

/** Lines removed then added, as a small unified diff (old and new strings of an Edit). */
export function editDiff(oldText, newText) {
  const lines = (text, mark) =>
    String(text ?? "")
      .replace(/\n$/, "")
      .split("\n")
      .map((line) => `${mark}${line}`);
  const removed = oldText ? lines(oldText, "-") : [];
  return [...removed, ...lines(newText, "+")].join("\n");
}

/** What a request asks, for a card: its title, and the body's kind and text. */
export function describeRequest(data, workingDir = "") {
  const tool = String(data.tool ?? "?");
  const input = data.input && typeof data.input === "object" ? data.input : {};
  const path = shortPath(input.file_path ?? input.notebook_path ?? input.path ?? "", workingDir);
  switch (tool) {
    case "Bash":
      return { title: "Claude wants to run a command", kind: "command", text: clip(input.command), note: input.description ?? "" };
    case "Edit":
      return { title: `Claude wants to edit ${path}`, kind: "diff", text: clip(editDiff(input.old_string, input.new_string)) };
    case "MultiEdit": {
      const edits = Array.isArray(input.edits) ? input.edits : [];
      const diff = edits.map((edit) => editDiff(edit?.old_string, edit?.new_string)).join("\n");
      return { title: `Claude wants to edit ${path} (${edits.length} changes)`, kind: "diff", text: clip(diff) };
    }
    case "Write":
      return { title: `Claude wants to write ${path}`, kind: "diff", text: clip(editDiff("", input.content)) };
    case "Read":
      return { title: "Claude wants to read a file", kind: "path", text: path };
    case QUESTIONS:
      return { title: "Claude has questions for you", kind: "questions", text: "" };
    case PLAN:
      return { title: "Claude's plan", kind: "plan", text: clip(input.plan) };
    default: {
      const text = path || JSON.stringify(input, null, 2);
      return { title: `Claude wants to use ${tool}`, kind: path ? "path" : "json", text: clip(text) };
    }
  }
}

/** A suggestion of the CLI's as a button's words. */
export function suggestionLabel(suggestion) {
  const where = {
    session: "for this session",
    localSettings: "in this project (just you)",
    projectSettings: "in this project",
    userSettings: "everywhere",
  }[suggestion?.destination] ?? "";
  if (suggestion?.type === "setMode") {
    const mode = { acceptEdits: "accept edits", plan: "plan", bypassPermissions: "bypass permissions", default: "ask" }[suggestion.mode] ?? suggestion.mode;
    return `Allow, and ${mode} ${where}`.trim();
  }
  if (suggestion?.type === "addRules" && Array.isArray(suggestion.rules)) {
    const rules = suggestion.rules.map((rule) => (rule.ruleContent ? `${rule.toolName}(${rule.ruleContent})` : rule.toolName));
    return `Always allow ${rules.join(", ")} ${where}`.trim();
  }
  if (suggestion?.type === "addDirectories" && Array.isArray(suggestion.directories)) {
    return `Allow, and allow ${suggestion.directories.join(", ")} ${where}`.trim();
  }
  return `Allow, and remember (${suggestion?.type ?? "?"}) ${where}`.trim();
}

/** The answers of a questions card: {question text: chosen label(s), or the text typed}. */
function collectAnswers(form, questions) {
  const answers = {};
  questions.forEach((question, index) => {
    const chosen = [...form.querySelectorAll(`[name="q${index}"]:checked`)].map((input) => input.value);
    const other = form.querySelector(`[name="q${index}-other"]`).value.trim();
    if (other) chosen.push(other);
    answers[String(question.question)] = chosen.join(", ");
  });
  return answers;
}

/**
 * One request's card. `onAnswer(body)` sends {behavior, updatedInput?, message?, remember?} and
 * resolves when the backend took it (it rejects with the error to show).
 */
export class RequestCard {
  constructor(data, { workingDir = "", onAnswer, prose }) {
    this.data = data;
    this.requestId = data.requestId;
    this.onAnswer = onAnswer;
    this.resolved = null;
    const about = describeRequest(data, workingDir);
    this.element = el("section", "a-request");
    this.element.tabIndex = 0;
    this.element.dataset.requestId = String(this.requestId);
    this.element.setAttribute("aria-label", about.title);
    this.element.append(el("div", "a-request-title", about.title));
    if (about.kind === "command") {
      this.element.append(el("pre", "a-request-command", `$ ${about.text}`));
      if (about.note) this.element.append(el("div", "a-request-note", about.note));
    } else if (about.kind === "diff") {
      const pre = el("pre", "a-request-diff");
      for (const line of about.text.split("\n")) {
        pre.append(el("span", line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "", line), "\n");
      }
      this.element.append(pre);
    } else if (about.kind === "plan") {
      this.element.append(el("div", "a-request-plan a-text", ...prose(about.text)));
    } else if (about.kind !== "questions") {
      this.element.append(el("pre", "a-request-path", about.text));
    }
    if (data.blockedPath) this.element.append(el("div", "a-request-note", `outside the allowed folders: ${data.blockedPath}`));
    this.error = el("div", "a-request-error");
    this.error.hidden = true;
    this.actions = el("div", "a-request-actions");
    if (about.kind === "questions") this._questions();
    else if (about.kind === "plan") this._plan();
    else this._permission();
    this.element.append(this.actions, this.error);
    this.element.addEventListener("keydown", (event) => this._key(event));
  }

  _button(label, className, onClick, title = "") {
    const button = el("button", className, label);
    button.type = "button";
    if (title) button.title = title;
    button.addEventListener("click", onClick);
    return button;
  }

  _permission() {
    this.message = el("input", "a-request-message");
    this.message.placeholder = "Tell Claude what to do instead (optional)";
    this.message.setAttribute("aria-label", "why not");
    this.message.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        event.stopPropagation();
        this.deny();
      }
    });
    this.primary = this._button("Allow", "primary", () => this.allow(), "Y");
    const suggestions = Array.isArray(this.data.suggestions) ? this.data.suggestions : [];
    const always = suggestions.map((suggestion, index) =>
      this._button(suggestionLabel(suggestion), "", () => this.allow([suggestion]), index === 0 ? "A" : ""),
    );
    this.actions.append(this.primary, ...always, this._button("Deny", "danger", () => this.deny(), "N"), this.message);
    this.element.append(el("div", "a-request-keys muted", "Y allow · A always · N deny"));
  }

  _plan() {
    this.message = el("textarea", "a-request-message");
    this.message.placeholder = "What should change in the plan? (for Keep planning)";
    this.message.rows = 2;
    this.message.setAttribute("aria-label", "feedback on the plan");
    this.primary = this._button("Approve", "primary", () => this.allow(), "Y: approve, then accept edits");
    this.actions.append(this.primary, this._button("Keep planning", "", () => this.deny(), "N"), this.message);
  }

  _questions() {
    const questions = Array.isArray(this.data.input?.questions) ? this.data.input.questions : [];
    this.form = el("form", "a-questions");
    questions.forEach((question, index) => {
      const options = Array.isArray(question.options) ? question.options : [];
      const type = question.multiSelect ? "checkbox" : "radio";
      const fieldset = el("fieldset", "a-question", el("legend", "", question.header ? `${question.header}: ` : "", String(question.question ?? "")));
      for (const option of options) {
        const input = el("input");
        input.type = type;
        input.name = `q${index}`;
        input.value = String(option.label ?? "");
        fieldset.append(el("label", "a-option", input, ` ${option.label ?? ""}`, option.description ? el("span", "muted", ` — ${option.description}`) : null));
      }
      const other = el("input", "a-other");
      other.name = `q${index}-other`;
      other.placeholder = "Other (type your own answer)";
      other.setAttribute("aria-label", `other answer to: ${question.question ?? ""}`);
      fieldset.append(other);
      this.form.append(fieldset);
    });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.answerQuestions();
    });
    this.element.append(this.form);
    this.primary = this._button("Answer", "primary", () => this.answerQuestions(), "Y");
    this.actions.append(this.primary, this._button("Decline", "", () => this.send({ behavior: "deny", message: "The user declined to answer." }), "N"));
  }

  _key(event) {
    if (this.resolved || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) return;
    const key = event.key.toLowerCase();
    if (key === "y") this.primary.click();
    else if (key === "a" && Array.isArray(this.data.suggestions) && this.data.suggestions.length) this.allow([this.data.suggestions[0]]);
    else if (key === "n") {
      if (this.form) this.send({ behavior: "deny", message: "The user declined to answer." });
      else this.deny();
    } else return;
    event.preventDefault();
  }

  answerQuestions() {
    const questions = Array.isArray(this.data.input?.questions) ? this.data.input.questions : [];
    const answers = collectAnswers(this.form, questions);
    this.send({ behavior: "allow", updatedInput: { ...this.data.input, answers } });
  }

  allow(remember = null) {
    const body = { behavior: "allow" };
    if (remember) body.remember = remember;
    this.send(body);
  }

  deny() {
    const body = { behavior: "deny" };
    const message = this.message?.value.trim();
    if (message) body.message = message;
    this.send(body);
  }

  async send(body) {
    if (this.resolved || this.sending) return;
    this.sending = true;
    this.error.hidden = true;
    // The keys go back to the conversation now: a card that loses them when its resolution lands
    // would have the page laid out on the way to the frame that shows the next card.
    const focused = this.element.contains(document.activeElement) ? document.activeElement : null;
    if (focused) this.element.closest(".agent")?.focus({ preventScroll: true });
    try {
      await this.onAnswer(body);
    } catch (error) {
      if (focused && !this.resolved) focused.focus({ preventScroll: true });
      // Answered elsewhere meanwhile: its resolution comes down the stream.
      if (error?.code !== "already_resolved") {
        this.error.textContent = `Not sent: ${error?.message ?? error}`;
        this.error.hidden = false;
      }
    } finally {
      this.sending = false;
    }
  }

  /** The request ended: show how, and no buttons. */
  resolve(data) {
    if (this.resolved) return;
    this.resolved = data;
    const label = RESOLVED[data.behavior] ?? String(data.behavior);
    const message = data.message ? `: ${data.message}` : "";
    this.element.classList.add("resolved", `resolved-${data.behavior}`);
    this.element.removeAttribute("tabindex");
    this.actions.replaceChildren(el("span", "a-request-outcome", `${label}${message}`));
    this.form?.querySelectorAll("input").forEach((input) => {
      input.disabled = true;
    });
    this.element.querySelector(".a-request-keys")?.remove();
    this.error.hidden = true;
  }
}
