// Where a search's words are in a part of the page, shown with the CSS Custom Highlight API
// (no markup goes into the views: their text stays theirs).

const NAME = "search-hit";

/** Ranges over every occurrence of each term (case aside) in the text under `root`. */
export function findTerms(root, terms) {
  const wanted = terms.map((t) => t.toLowerCase()).filter(Boolean);
  const ranges = [];
  if (!wanted.length) return ranges;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.data.toLowerCase();
    for (const term of wanted) {
      for (let at = text.indexOf(term); at >= 0; at = text.indexOf(term, at + term.length)) {
        const range = document.createRange();
        range.setStart(node, at);
        range.setEnd(node, at + term.length);
        ranges.push(range);
      }
    }
  }
  return ranges;
}

/** Highlight `ranges` (replacing what was highlighted) and bring the first into view. */
export function showRanges(ranges, { last = false } = {}) {
  if (globalThis.CSS?.highlights) {
    CSS.highlights.set(NAME, new Highlight(...ranges));
  }
  const target = last ? ranges[ranges.length - 1] : ranges[0];
  target?.startContainer.parentElement?.scrollIntoView({ block: "center" });
  return ranges.length;
}

export function clearHighlights() {
  globalThis.CSS?.highlights?.delete(NAME);
}

/** The ranges highlighted now (for tests and for a second look). */
export function highlighted() {
  return [...(globalThis.CSS?.highlights?.get(NAME) ?? [])];
}
