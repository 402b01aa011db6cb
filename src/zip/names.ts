/**
 * Names a store accepts as keys but an archive must not carry, beyond the absolute paths, ".."
 * segments and backslashes that validateName refuses: each makes extraction unsafe or
 * misleading on some reader or file system, so such a name is refused, never rewritten.
 */

/** C0 controls (NUL has its own message), DEL and C1 controls: terminals and shells act on them. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0001-\u001f\u007f-\u009f]/u;
/** Bidirectional formatting characters: they make "txt.exe" display as "exe.txt". */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/** Why `name` may not name an entry, or undefined when it may. */
export function unsafeNameReason(name: string): string | undefined {
  const control = CONTROL.exec(name);
  if (control) return `contains control character U+${codePoint(control[0])}; rename the object`;
  const bidi = BIDI.exec(name);
  if (bidi) {
    return `contains bidirectional formatting character U+${codePoint(bidi[0])}, which reorders how the name is shown; rename the object`;
  }
  // A trailing "/" is a directory's (a file's is refused on its own by validateName).
  const segments = name.replace(/\/$/, '').split('/');
  if (segments.includes('.')) return 'contains a "." segment; remove it';
  if (segments.includes('')) return 'contains an empty segment ("a//b"); remove the extra "/"';
  return undefined;
}

/**
 * The form two names must not share in one archive: Unicode NFC, since "é" written as one code
 * point or as "e" and a combining accent are the same file on macOS and to most users.
 */
export function collisionForm(name: string): string {
  return name.normalize('NFC');
}

function codePoint(char: string): string {
  return char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
}
