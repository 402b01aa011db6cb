/**
 * Which source objects an archive takes (source.include/exclude) and the entry name each one
 * gets (naming). Node-only (picomatch), so it lives with the activities; the client calls
 * checkSelection up front, the planning activity applies it.
 */
import picomatch from 'picomatch';
import { RequestError } from '../../shared/validate';
import { type ArchiveRequest } from '../../shared/request';

export type KeyFilter = (key: string) => boolean;

// dot: "*" and "**" match dotfiles too (an archive should not drop ".env" by surprise).
// windows: false keeps "\" an escape on every platform; strictBrackets and debug make
// unbalanced brackets and patterns that make no regular expression throw instead of
// silently matching nothing.
const GLOB_OPTIONS: picomatch.PicomatchOptions = {
  dot: true,
  windows: false,
  strictBrackets: true,
  debug: true,
};

/** The key relative to source.prefix, without leading slashes: what globs and names see. */
export function relativeKey(prefix: string | undefined, key: string): string {
  const rest = prefix && key.startsWith(prefix) ? key.slice(prefix.length) : key;
  return rest.replace(/^\/+/, '');
}

function compilePatterns(field: string, patterns: string[]): picomatch.Matcher[] {
  return patterns.map((pattern, i) => {
    try {
      if (pattern === '') throw new Error('the pattern is empty');
      return picomatch(pattern, GLOB_OPTIONS);
    } catch (err) {
      throw new RequestError(
        `${field}[${i}]`,
        `${JSON.stringify(pattern)} is not a glob picomatch can read (${(err as Error).message}): fix the pattern, or escape special characters with "\\"`,
      );
    }
  });
}

/**
 * A test for keys: taken when the key (relative to source.prefix) matches any include, or
 * there are none, and no exclude. Throws RequestError naming a pattern that does not parse.
 */
export function compileSelection(request: ArchiveRequest): KeyFilter {
  const { prefix, include, exclude } = request.source;
  const includes = compilePatterns('source.include', include ?? []);
  const excludes = compilePatterns('source.exclude', exclude ?? []);
  return (key) => {
    const rel = relativeKey(prefix, key);
    return (includes.length === 0 || includes.some((m) => m(rel))) && !excludes.some((m) => m(rel));
  };
}

/** Throws RequestError for the first include/exclude pattern that does not parse. */
export function checkSelection(request: ArchiveRequest): void {
  compileSelection(request);
}

/** naming.prefix as a folder: "backup-2026" and "backup-2026/" both mean "backup-2026/". */
function archiveFolder(request: ArchiveRequest): string {
  const folder = request.naming?.prefix ?? '';
  return folder === '' || folder.endsWith('/') ? folder : `${folder}/`;
}

/**
 * The entry name for a key, or '' when the key makes no entry (the prefix's own directory
 * marker; any directory marker when flattening, as flat archives have no folders).
 * Directory markers ("x/") keep their trailing slash.
 */
export function entryNameFor(request: ArchiveRequest, key: string): string {
  const rel = relativeKey(request.source.prefix, key);
  if (rel === '') return '';
  let name = rel;
  if (request.naming?.mode === 'flatten') {
    if (rel.endsWith('/')) return '';
    name = rel.slice(rel.lastIndexOf('/') + 1);
  }
  return archiveFolder(request) + name;
}

/**
 * Entry name for a key: relative to the source prefix, never absolute. Plans now carry
 * `name` (entryNameFor); this stays for plan chunks written without it.
 */
export function entryName(prefix: string | undefined, key: string): string {
  return relativeKey(prefix, key);
}
