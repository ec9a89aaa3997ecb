/**
 * The repository as a newcomer meets it: `npm install` on a fresh clone changes nothing that is
 * committed, and every document names the same Node.js version as package.json.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('the repository', () => {
  it('has a lockfile that npm install leaves as committed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'durable-lockfile-'));
    await copyFile('package.json', join(dir, 'package.json'));
    await copyFile('package-lock.json', join(dir, 'package-lock.json'));

    // What `npm install` writes to the lockfile, without installing: it reads only the lockfile.
    await run('npm', ['install', '--package-lock-only', '--ignore-scripts', '--offline', '--no-audit', '--no-fund'], { cwd: dir });

    expect(await readFile(join(dir, 'package-lock.json'), 'utf8')).toBe(await readFile('package-lock.json', 'utf8'));
  }, 60_000);

  it('asks for the Node.js version that package.json requires, in every document', async () => {
    const { engines } = JSON.parse(await readFile('package.json', 'utf8'));
    const minimum = /^>=(\d+)$/.exec(engines.node)?.[1];
    expect(minimum, 'engines.node is ">=<major>"').toBeDefined();

    for (const file of ['README.md', 'docs/deploy.md']) {
      const stated = [...(await readFile(file, 'utf8')).matchAll(/Node\.js (\d+) or newer/g)].map((m) => m[1]);
      expect(stated, file).toEqual([minimum]);
    }
  });
});
