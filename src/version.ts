import { readFileSync } from 'node:fs';

/** package.json is the one place the version is written; dist/ sits beside it. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
