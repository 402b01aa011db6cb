/**
 * Custom search attributes zipflow sets on every archive run, so runs can be found and
 * filtered in the Temporal Web UI. The dev stack registers them; production clusters need
 * `temporal operator search-attribute create` once (see docs/web-ui.md).
 */
export const SEARCH_ATTRIBUTES = {
  ZipflowDestination: 'Keyword',
  ZipflowPhase: 'Keyword',
  ZipflowBytes: 'Int',
  ZipflowEntries: 'Int',
} as const;

export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;
