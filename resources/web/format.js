// How the web UI shows money, time and counts: costs, durations, token and line counts.
//
// The rules are in docs/architecture.md ("Costs, durations and token counts"); desktop/format.py
// implements the same rules for the desktop app, and tests/web/test_format_js.py holds the two
// to each other over many values.
//
// Each number is rounded once, to the whole units it is shown in, by floor(x * scale + 0.5) on
// doubles: JavaScript and Python compute that alike, bit for bit, whereas their own float
// formatting does not round ties alike ((0.125).toFixed(2) is 0.13, f"{0.125:.2f}" 0.12). The
// strings are then built from integers (BigInt: exact however large, and no locale involved).

const MINUS = "-";

/** A finite number from the wire, or null (for null, a string, a boolean, NaN…). */
export function number(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function units(value, scale) {
  return BigInt(Math.floor(value * scale + 0.5));
}

function grouped(count) {
  return count.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** `$0.04`, `$1.50`, `$1,234.50`; under half a cent in ten-thousandths of a dollar (`$0.0004`,
 * `$0.002`), and `<$0.0001` below that, so that a cost never reads as free; `$0.00` for a cost
 * of nothing. */
export function formatCost(usd) {
  if (usd < 0) return MINUS + formatCost(-usd);
  const cents = units(usd, 100);
  if (cents >= 1n || usd === 0) return `$${grouped(cents / 100n)}.${String(cents % 100n).padStart(2, "0")}`;
  const tenThousandths = units(usd, 10_000);
  if (tenThousandths < 1n) return "<$0.0001";
  return `$0.${String(tenThousandths).padStart(4, "0").replace(/0+$/, "")}`;
}

function twoUnits(big, bigUnit, small, smallUnit) {
  const head = `${grouped(big)} ${bigUnit}`;
  return small ? `${head} ${small} ${smallUnit}` : head;
}

/** `950 ms`, `12.3 s`, `1 min 15 s`, `2 h`, `2 h 5 min`: two units at most, the smaller one
 * left out when it is zero. */
export function formatDuration(ms) {
  if (ms < 0) return MINUS + formatDuration(-ms);
  const whole = units(ms, 1);
  if (whole < 1000n) return `${whole} ms`;
  const tenths = units(ms / 100, 1);
  if (tenths < 600n) return `${tenths / 10n}.${tenths % 10n} s`;
  const seconds = units(ms / 1000, 1);
  if (seconds < 3600n) return twoUnits(seconds / 60n, "min", seconds % 60n, "s");
  const minutes = units(ms / 60_000, 1);
  return twoUnits(minutes / 60n, "h", minutes % 60n, "min");
}

/** `476`, `12,345`: a count (of tokens, of lines) as a whole number with comma thousands
 * separators. */
export function formatCount(count) {
  if (count < 0) return MINUS + formatCount(-count);
  return grouped(units(count, 1));
}

/** A session's total cost as the session list shows it, or null while it is unknown: a session
 * with no turn yet has none, and Claude Code's history files mostly hold no costs, so an
 * imported $0 is an unknown, not a fact. */
export function sessionCost(session) {
  const totals = session?.agent?.totals;
  const cost = number(totals?.costUsd);
  if (cost === null) return null;
  if (cost > 0 || (number(totals.turns) && session.status !== "imported")) return formatCost(cost);
  return null;
}
