/** Showing user input in messages, and suggesting the nearest known name. */

/**
 * The value in double quotes, with every character outside printable ASCII written as \uXXXX
 * (and \ and " escaped), so zero-width, bidi, control and look-alike characters are visible:
 * "idlab\u200b" prints as "idlab\u200b", not as "idlab".
 */
export function show(value: string): string {
  let out = "";
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === "\\" || ch === '"') out += `\\${ch}`;
    else if (code >= 0x20 && code <= 0x7e) out += ch;
    else if (code <= 0xffff) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else
      out += ch
        .split("")
        .map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`)
        .join("");
  }
  return `"${out}"`;
}

/** A config key as text in a message: escaped like show(), without the quotes. */
export function showKey(key: string): string {
  return show(key).slice(1, -1);
}

/** Control (Cc) and format (Cf: zero-width, bidi, BOM, soft hyphen) characters. */
export const INVISIBLE = /[\p{Cc}\p{Cf}]/u;

/** Levenshtein distance, case-insensitive: `vmsize` is 0 from `vmSize`. */
export function distance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let prev = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const row = [i];
    for (let j = 1; j <= t.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (s[i - 1] === t[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[t.length];
}

/**
 * The known name nearest to `name`, if it is near enough to be a typo of it (at most a third of it
 * wrong), or the one it begins (`probeDeadline` for `probeDeadlineSeconds`).
 */
export function closest(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  const begun = known.filter((k) => lower.length >= 4 && k.toLowerCase().startsWith(lower));
  if (begun.length === 1) return begun[0];
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = distance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}
