import { existsSync, readFileSync } from 'node:fs';
import { afterEach } from 'vitest';
import { LAB_STATE } from '../helpers/lab.js';

/**
 * When an e2e test fails, print the end of every lab host's plugin log: CI keeps only the
 * test output, and the lab (with its logs) is gone by the time anyone reads it.
 */
afterEach((context) => {
  if (context.task.result?.state !== 'fail') return;
  for (let h = 1; h <= 3; h++) {
    const file = `${LAB_STATE}/h${h}/plugin.log`;
    if (!existsSync(file)) continue;
    const tail = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-60).join('\n');
    process.stderr.write(`\n--- last lines of h${h}'s plugin log (${file}), after "${context.task.name}" failed ---\n${tail}\n`);
  }
});
