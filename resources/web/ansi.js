// Terminal output to styled lines: the JavaScript port of desktop/ansi.py, with the same rules
// and the same API, so a session looks the same in the desktop app and in a browser tab.
//
//   const renderer = new AnsiRenderer();
//   const {finished, partial} = renderer.feed(chunk);  // lines a line feed ended; the current line
//   renderer.reset();                                  // forget everything (a new session)
//
//   line  = [[text, style], ...]   adjacent runs have different styles; no run is empty
//   style = {fg, bg, bold, dim, italic, underline, inverse, key}, frozen; DEFAULT_STYLE has key ""
//           fg and bg: null (the default color), a palette index 0-255, or an [r, g, b] array
//
// What it understands (see desktop/ansi.py for the full statement; tests/web compares the two):
// SGR 0-7 and their resets, 16 colors, bright colors, 256 colors and truecolor in the semicolon and
// colon forms; CR, BS and tab move the cursor and text overwrites cells; CSI K erases; LF ends a
// line; every other escape sequence and control character is dropped. A sequence cut between two
// chunks is finished by the next one. One code point is one cell.
//
// Where the Python renderer raises on a malformed SGR (a ':' inside a semicolon-form color, as in
// ESC[38;5;1:2m), this one treats the color as invalid and ignores it.

export const MAX_SEQUENCE = 4096;
// A line longer than this many cells goes on on the next one, as desktop/ansi.py does.
export const WRAP = 4096;

const SPECIAL = /[\x00-\x1f\x7f-\x9f]/g;
const CSI = /\x1b\[([\x20-\x3f]*)([\x40-\x7e])?/y;
const NF = /\x1b[\x20-\x2f]+([\x30-\x7e])?/y;
const OSC_STOP = /[\x07\x18\x1a\x1b\x9c]/g;
const STRING_STOP = /[\x18\x1a\x1b\x9c]/g;
const SGR = /\x1b\[([0-9;:]*)m/y;
const SGR_PARAMS = /^[0-9;:]*$/;
const DIGITS = /^[0-9]+$/;
const SURROGATE = /[\uD800-\uDFFF]/;
const SKIPPED_CSI = "\x1b[<";
const CACHE_SIZE = 1024;

function colorKey(color) {
  if (color === null) return "";
  return Array.isArray(color) ? color.join(",") : String(color);
}

function makeStyle(fg, bg, bold, dim, italic, underline, inverse) {
  const flags = `${+bold}${+dim}${+italic}${+underline}${+inverse}`;
  const key =
    fg === null && bg === null && flags === "00000" ? "" : `${colorKey(fg)}/${colorKey(bg)}/${flags}`;
  return Object.freeze({ fg, bg, bold, dim, italic, underline, inverse, key });
}

export const DEFAULT_STYLE = makeStyle(null, null, false, false, false, false, false);

export const PALETTE_16 = Object.freeze([
  [0, 0, 0], [205, 0, 0], [0, 205, 0], [205, 205, 0],
  [0, 0, 238], [205, 0, 205], [0, 205, 205], [229, 229, 229],
  [127, 127, 127], [255, 0, 0], [0, 255, 0], [255, 255, 0],
  [92, 92, 255], [255, 0, 255], [0, 255, 255], [255, 255, 255],
]);

/** The [r, g, b] of xterm's color `index`: 16 base colors, a 6x6x6 cube, then 24 grays. */
export function paletteRgb(index) {
  if (!Number.isInteger(index) || index < 0 || index > 255) {
    throw new RangeError(`palette index out of range: ${index}`);
  }
  if (index < 16) return PALETTE_16[index];
  if (index < 232) {
    const cube = index - 16;
    const level = (step) => (step ? 55 + 40 * step : 0);
    return [level(Math.floor(cube / 36)), level(Math.floor(cube / 6) % 6), level(cube % 6)];
  }
  const gray = 8 + 10 * (index - 232);
  return [gray, gray, gray];
}

/** The characters of a line, without styles. */
export function plainText(line) {
  let text = "";
  for (const [runText] of line) text += runText;
  return text;
}

/** How many cells `text` takes: its code points. */
function cellCount(text) {
  if (!SURROGATE.test(text)) return text.length;
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/** Runs of equal style from parallel arrays of pieces and styles. */
function mergeRuns(pieces, styles) {
  const runs = [];
  let i = 0;
  while (i < pieces.length) {
    const style = styles[i];
    let text = pieces[i];
    let j = i + 1;
    while (j < pieces.length && styles[j].key === style.key) text += pieces[j++];
    runs.push([text, style]);
    i = j;
  }
  return runs;
}

export class AnsiRenderer {
  constructor() {
    this._interned = new Map([["", DEFAULT_STYLE]]);
    this._sgrCache = new Map();
    this.reset();
  }

  /** Forget the style, the current line and any unfinished sequence (a new session). */
  reset() {
    this._style = DEFAULT_STYLE;
    // The unfinished escape sequence at the end of the last chunk, or a short stand-in for it.
    this._pending = "";
    this._clearLine();
    this._col = 0;
    this._sgrCache.clear();
  }

  /** Render the next chunk of output: `{finished: [line], partial: line}`. */
  feed(text) {
    if (this._pending) {
      text = this._pending + text;
      this._pending = "";
    }
    const finished = [];
    const n = text.length;
    let pos = 0;
    while (pos < n) {
      SPECIAL.lastIndex = pos;
      const match = SPECIAL.exec(text);
      if (match === null) {
        this._write(text.slice(pos));
        this._wrap(finished);
        break;
      }
      const j = match.index;
      if (j > pos) {
        this._write(text.slice(pos, j));
        this._wrap(finished);
      }
      const char = text[j];
      if (char === "\x1b") {
        SGR.lastIndex = j;
        const sgr = SGR.exec(text);
        if (sgr === null) {
          pos = this._escape(text, j);
          if (pos < 0) break;
        } else {
          this._sgr(sgr[1]);
          pos = SGR.lastIndex;
        }
        continue;
      }
      pos = j + 1;
      if (char === "\n") {
        finished.push(this._line());
        this._clearLine();
        this._col = 0;
      } else if (char === "\r") {
        this._col = 0;
      } else if (char === "\b") {
        if (this._col) this._col -= 1;
      } else if (char === "\t") {
        this._col = (Math.floor(this._col / 8) + 1) * 8;
      }
    }
    return { finished, partial: this._partial() };
  }

  // The current line: pieces of text appended at its end (the fast path), or, once the cursor
  // went back by CR or BS, one character and one style per cell.

  _write(text) {
    const col = this._col;
    if (this._cells === null) {
      const length = this._length;
      if (col >= length) {
        if (col > length) {
          this._texts.push(" ".repeat(col - length));
          this._styles.push(DEFAULT_STYLE);
        }
        this._texts.push(text);
        this._styles.push(this._style);
        this._length = this._col = col + cellCount(text);
        return;
      }
      this._toCells();
    }
    const cells = this._cells;
    const styles = this._cellStyles;
    while (cells.length < col) {
      cells.push(" ");
      styles.push(DEFAULT_STYLE);
    }
    let at = col;
    for (const char of text) {
      cells[at] = char;
      styles[at] = this._style;
      at++;
    }
    this._col = at;
  }

  /**
   * A line longer than WRAP cells goes on on the next one, as a terminal's autowrap does (at a
   * far wider margin): one endless line (minified JSON, base64) must not become one ever-growing
   * element that the browser lays out again on every update.
   */
  _wrap(finished) {
    if ((this._cells === null ? this._length : this._cells.length) <= WRAP) return;
    if (this._cells === null) this._toCells();
    let cells = this._cells;
    let styles = this._cellStyles;
    while (cells.length > WRAP) {
      finished.push(mergeRuns(cells.slice(0, WRAP), styles.slice(0, WRAP)));
      cells = cells.slice(WRAP);
      styles = styles.slice(WRAP);
      this._col = Math.max(0, this._col - WRAP);
    }
    this._cells = cells;
    this._cellStyles = styles;
  }

  _toCells() {
    const cells = Array.from(this._texts.join(""));
    const styles = [];
    this._texts.forEach((text, i) => {
      const count = cellCount(text);
      for (let k = 0; k < count; k++) styles.push(this._styles[i]);
    });
    this._cells = cells;
    this._cellStyles = styles;
  }

  _clearLine() {
    this._texts = [];
    this._styles = [];
    this._length = 0;
    this._cells = null;
    this._cellStyles = [];
  }

  _line() {
    if (this._cells === null) {
      if (this._texts.length === 1) return [[this._texts[0], this._styles[0]]];
      return mergeRuns(this._texts, this._styles);
    }
    return mergeRuns(this._cells, this._cellStyles);
  }

  _partial() {
    const line = this._line();
    if (this._cells === null) {
      if (this._texts.length > line.length) {
        this._texts = line.map((run) => run[0]);
        this._styles = line.map((run) => run[1]);
      }
    } else if (this._col >= this._cells.length) {
      // Nothing left to overwrite: back to appending pieces.
      this._length = this._cells.length;
      this._cells = null;
      this._cellStyles = [];
      this._texts = line.map((run) => run[0]);
      this._styles = line.map((run) => run[1]);
    }
    return line;
  }

  _erase(mode) {
    const col = this._col;
    const length = this._cells === null ? this._length : this._cells.length;
    if (mode === 0) {
      if (col >= length) return;
      if (this._cells === null) this._toCells();
      this._cells.length = col;
      this._cellStyles.length = col;
    } else if (mode === 1 && col + 1 < length) {
      if (this._cells === null) this._toCells();
      for (let i = 0; i <= col; i++) {
        this._cells[i] = " ";
        this._cellStyles[i] = DEFAULT_STYLE;
      }
    } else if (mode === 1 || mode === 2) {
      this._clearLine();
    }
  }

  // Escape sequences

  /** Handle the sequence at text[start] (an ESC): where to go on, or -1 if it is unfinished. */
  _escape(text, start) {
    const n = text.length;
    if (start + 1 === n) {
      this._pending = "\x1b";
      return -1;
    }
    const kind = text[start + 1];
    if (kind === "[") {
      CSI.lastIndex = start;
      const match = CSI.exec(text);
      const params = match[1];
      const final = match[2];
      const end = CSI.lastIndex;
      if (final === undefined) {
        if (end === n) {
          this._pending = params.length <= MAX_SEQUENCE ? text.slice(start) : SKIPPED_CSI;
          return -1;
        }
        return end; // broken by a control or non-ASCII character, which is handled next
      }
      if (final === "m") this._sgr(params);
      else if (final === "K") this._eraseParams(params);
      return end;
    }
    if ("]PX^_".includes(kind)) {
      const stops = kind === "]" ? OSC_STOP : STRING_STOP;
      stops.lastIndex = start + 2;
      const stop = stops.exec(text);
      if (stop === null) {
        this._pending = text.slice(start, start + 2);
        return -1;
      }
      const end = stop.index;
      if (text[end] !== "\x1b") return end + 1;
      if (end + 1 === n) {
        this._pending = text.slice(start, start + 2) + "\x1b";
        return -1;
      }
      // ESC \ is the string terminator; any other ESC ends the string and starts a sequence.
      return text[end + 1] === "\\" ? end + 2 : end;
    }
    if (kind >= "\x20" && kind <= "\x2f") {
      NF.lastIndex = start;
      const match = NF.exec(text);
      const end = NF.lastIndex;
      if (match[1] === undefined && end === n) {
        this._pending = end - start <= MAX_SEQUENCE ? text.slice(start) : "\x1b ";
        return -1;
      }
      return end;
    }
    if (kind >= "\x30" && kind <= "\x7e") {
      if (kind === "c") this._style = DEFAULT_STYLE;
      return start + 2;
    }
    return start + 1; // a lone ESC before a control or non-ASCII character
  }

  _sgr(params) {
    if (params === "" || params === "0") {
      this._style = DEFAULT_STYLE;
      return;
    }
    const cacheKey = `${this._style.key}\u0000${params}`;
    let style = this._sgrCache.get(cacheKey);
    if (style === undefined) {
      if (params.length > MAX_SEQUENCE || !SGR_PARAMS.test(params)) {
        return; // private (CSI ? ... m, CSI > ... m), with intermediates, or absurd
      }
      if (this._sgrCache.size >= CACHE_SIZE) {
        this._sgrCache.clear();
        this._interned = new Map([["", DEFAULT_STYLE]]);
      }
      style = applySgr(this._style, params);
      const known = this._interned.get(style.key);
      if (known === undefined) this._interned.set(style.key, style);
      else style = known;
      this._sgrCache.set(cacheKey, style);
    }
    this._style = style;
  }

  _eraseParams(params) {
    if (params.length > MAX_SEQUENCE) return;
    if (params.startsWith("?")) params = params.slice(1);
    if (params === "") this._erase(0);
    else if (DIGITS.test(params)) this._erase(Number(params));
  }
}

/** A decimal parameter; "" is 0; NaN if it is not one. */
function number(part) {
  if (part === "") return 0;
  return DIGITS.test(part) ? Number(part) : NaN;
}

function index(part) {
  const value = number(part);
  return value <= 255 ? value : null; // NaN <= 255 is false
}

function rgb(parts) {
  const [r, g, b] = parts.map(number);
  return Math.max(r, g, b) <= 255 ? [r, g, b] : null;
}

/** The color of 38;5;n or 38;2;r;g;b whose parts start at parts[i], and where the next code starts. */
function semicolonColor(parts, i) {
  const kind = i < parts.length ? parts[i] : "";
  if (kind === "5") {
    if (i + 1 < parts.length) return [index(parts[i + 1]), i + 2];
    return [null, parts.length];
  }
  if (kind === "2") {
    if (i + 3 < parts.length) return [rgb(parts.slice(i + 1, i + 4)), i + 4];
    return [null, parts.length];
  }
  return [null, i + 1];
}

/** The color of 38:5:n, 38:2:r:g:b or 38:2:colorspace:r:g:b (split at ':'). */
function colonColor(sub) {
  if (sub[1] === "5" && sub.length > 2) return index(sub[2]);
  if (sub[1] === "2") {
    if (sub.length >= 6) return rgb(sub.slice(3, 6));
    if (sub.length === 5) return rgb(sub.slice(2, 5));
  }
  return null;
}

/** `style` changed by the SGR parameters `params` (digits, ';' and ':' only). */
function applySgr(style, params) {
  let { fg, bg, bold, dim, italic, underline, inverse } = style;
  const parts = params.split(";");
  let i = 0;
  while (i < parts.length) {
    const part = parts[i];
    i += 1;
    let code;
    let color = null;
    if (part.includes(":")) {
      const sub = part.split(":");
      code = number(sub[0]);
      if (code === 38 || code === 48 || code === 58) {
        color = colonColor(sub);
      } else if (code === 4) {
        underline = number(sub[1]) !== 0;
        continue;
      }
    } else {
      code = number(part);
      if (code === 38 || code === 48 || code === 58) [color, i] = semicolonColor(parts, i);
    }
    if (code === 38) fg = color !== null ? color : fg;
    else if (code === 48) bg = color !== null ? color : bg;
    else if (code === 58) {
      // underline color: not shown
    } else if (code === 0) {
      fg = bg = null;
      bold = dim = italic = underline = inverse = false;
    } else if (code === 1) bold = true;
    else if (code === 2) dim = true;
    else if (code === 3) italic = true;
    else if (code === 4 || code === 21) underline = true;
    else if (code === 7) inverse = true;
    else if (code === 22) bold = dim = false;
    else if (code === 23) italic = false;
    else if (code === 24) underline = false;
    else if (code === 27) inverse = false;
    else if (code >= 30 && code <= 37) fg = code - 30;
    else if (code === 39) fg = null;
    else if (code >= 40 && code <= 47) bg = code - 40;
    else if (code === 49) bg = null;
    else if (code >= 90 && code <= 97) fg = code - 82;
    else if (code >= 100 && code <= 107) bg = code - 92;
  }
  const result = makeStyle(fg, bg, bold, dim, italic, underline, inverse);
  return result.key === "" ? DEFAULT_STYLE : result;
}
