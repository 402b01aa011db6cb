/**
 * Destination keys with placeholders for the run's nominal time in UTC, so a schedule writes
 * a new archive each run: "logs/{yyyy}/{MM}/{dd}.zip". Pure and clock-free: the workflow
 * resolves keys with it deterministically, and the client previews them.
 */

/** The placeholders a destination key may hold, each replaced by a zero-padded UTC field. */
export const KEY_PLACEHOLDERS = {
  yyyy: (d: Date) => pad(d.getUTCFullYear(), 4),
  MM: (d: Date) => pad(d.getUTCMonth() + 1, 2),
  dd: (d: Date) => pad(d.getUTCDate(), 2),
  HH: (d: Date) => pad(d.getUTCHours(), 2),
  mm: (d: Date) => pad(d.getUTCMinutes(), 2),
  ss: (d: Date) => pad(d.getUTCSeconds(), 2),
} as const;

export type KeyPlaceholder = keyof typeof KEY_PLACEHOLDERS;

const PLACEHOLDER = /\{([^{}]*)\}/g;

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function isPlaceholder(name: string): name is KeyPlaceholder {
  return Object.prototype.hasOwnProperty.call(KEY_PLACEHOLDERS, name);
}

/** The `{…}` groups in a key that are not placeholders, in order of appearance. */
export function unknownPlaceholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]).filter((n) => !isPlaceholder(n));
}

/** Whether a key holds any placeholder (so each run's key depends on its nominal time). */
export function isKeyTemplate(template: string): boolean {
  return [...template.matchAll(PLACEHOLDER)].some((m) => isPlaceholder(m[1]));
}

/**
 * The key for a nominal time: each placeholder replaced by that time's UTC field. Throws on
 * an unknown placeholder (the request validator refuses those first) and on an invalid date.
 */
export function resolveKeyTemplate(template: string, nominalTime: Date): string {
  if (Number.isNaN(nominalTime.getTime())) {
    throw new RangeError('resolveKeyTemplate: the nominal time is not a valid date');
  }
  return template.replace(PLACEHOLDER, (whole: string, name: string) => {
    if (!isPlaceholder(name)) {
      throw new RangeError(
        `resolveKeyTemplate: ${whole} is not a placeholder (use ${placeholderList()})`,
      );
    }
    return KEY_PLACEHOLDERS[name](nominalTime);
  });
}

/** "{yyyy}, {MM}, …" for messages and help texts. */
export function placeholderList(): string {
  return Object.keys(KEY_PLACEHOLDERS)
    .map((n) => `{${n}}`)
    .join(', ');
}
