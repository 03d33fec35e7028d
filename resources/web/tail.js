// What both session views share: an element that follows its end unless the user scrolled up,
// and a queue rendered at most once per frame.

/** `callback` at the next frame (every 250 ms in a hidden tab), once however often asked. */
export function oncePerFrame(callback) {
  let scheduled = false;
  return () => {
    if (scheduled) return;
    scheduled = true;
    const run = () => {
      scheduled = false;
      callback();
    };
    if (document.hidden) setTimeout(run, 250);
    else requestAnimationFrame(run);
  };
}

/** A view whose `flush()` renders `queue`; it follows the end of what it shows. */
export class TailView {
  constructor(className, label) {
    this.element = document.createElement("div");
    this.element.className = className;
    this.element.tabIndex = 0;
    this.element.setAttribute("aria-label", label);
    this.queue = [];
    this.follow = true;
    this.onFollowChange = null;
    this.onShown = null; // called after each batch reaches the DOM
    this._scrollTop = 0;
    this._schedule = oncePerFrame(() => this.flush());
    this.element.addEventListener("scroll", () => this._scrolled(), { passive: true });
  }

  scrollToEnd() {
    this.follow = true;
    this.element.scrollTop = this.element.scrollHeight;
    this._scrollTop = this.element.scrollTop;
    this.onFollowChange?.(true);
  }

  /** A batch reached the DOM: keep the end in view if following, and say so. */
  _shown() {
    if (this.follow) {
      this.element.scrollTop = this.element.scrollHeight;
      this._scrollTop = this.element.scrollTop;
    }
    this.onShown?.();
  }

  _scrolled() {
    const element = this.element;
    const atEnd = element.scrollHeight - element.scrollTop - element.clientHeight < 4;
    // Appending never lowers scrollTop, so a scroll above where we put it is the user's.
    const follow = atEnd || (this.follow && element.scrollTop >= this._scrollTop - 1);
    this._scrollTop = element.scrollTop;
    if (follow !== this.follow) {
      this.follow = follow;
      this.onFollowChange?.(follow);
    }
  }
}
