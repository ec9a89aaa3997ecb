/**
 * README.md's TypeScript blocks run as shown. Each is marked after its language: ```ts runnable is
 * a whole file (a program, a module with a handler, or a vitest test file), ```ts fragment is lines
 * for another file. Programs and modules are saved in the repository and run as the README says,
 * with `npx node <file>`; test files are run by this vitest run, as `npx vitest run` runs them.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startTestDevServer } from './support/dev-server.ts';
import { scratchDir } from './support/scratch.ts';

const run = promisify(execFile);

interface Block {
  line: number;
  /** The heading the block is under. */
  section: string;
  language: string;
  marker: string;
  code: string;
}

function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  let section = '';
  let open: Omit<Block, 'code'> & { lines: string[] } | undefined;
  markdown.split('\n').forEach((text, index) => {
    if (open) {
      if (text.startsWith('```')) {
        blocks.push({ ...open, code: open.lines.join('\n') + '\n' });
        open = undefined;
      } else open.lines.push(text);
    } else if (text.startsWith('#')) section = text.replace(/^#+\s*/, '');
    else if (text.startsWith('```')) {
      const [language = '', marker = ''] = text.slice(3).trim().split(/\s+/);
      open = { line: index + 1, section, language, marker, lines: [] };
    }
  });
  return blocks;
}

const blocks = codeBlocks(readFileSync('README.md', 'utf8')).filter((block) => block.language === 'ts' || block.language === 'typescript');
const runnable = blocks.filter((block) => block.marker === 'runnable');
const isTestFile = (block: Block) => /from 'vitest'/.test(block.code);
const name = (block: Block) => `README.md:${block.line} (${block.section})`;

// A place in the repository where a block saved "at the repository's root" finds what it imports
// there: `durable-endpoints` (the package itself) and, through a link, ./examples.
const scratch = await scratchDir('readme');
await symlink(resolve('examples'), join(scratch.dir, 'examples'));
await mkdir(join(scratch.dir, 'test'));
afterAll(() => scratch.remove());
const fileOf = (block: Block) => (isTestFile(block) ? `test/block-${block.line}.test.ts` : `block-${block.line}.ts`);
for (const block of runnable) await writeFile(join(scratch.dir, fileOf(block)), block.code);

it('marks every TypeScript block as runnable or as a fragment', () => {
  expect(blocks.filter((block) => block.marker !== 'runnable' && block.marker !== 'fragment').map(name)).toEqual([]);
});

it('type-checks every runnable block, as an editor shows it with the project’s settings', async () => {
  await writeFile(join(scratch.dir, 'tsconfig.json'), JSON.stringify({ extends: resolve('tsconfig.json'), include: runnable.map(fileOf) }));

  const checked = await run(resolve('node_modules/.bin/tsc'), ['-p', join(scratch.dir, 'tsconfig.json')]).catch((error) => error);

  // tsc names each file with an error: map them back to the README's lines.
  const report = String(checked.stdout ?? '').replace(/\S*block-(\d+)(?:\.test)?\.ts\((\d+),\d+\)/g, (_m, line, row) => `README.md:${Number(line) + Number(row)}`);
  expect(report).toBe('');
}, 120_000);

describe('the README blocks run with `npx node`', () => {
  let devServer: Awaited<ReturnType<typeof startTestDevServer>> | undefined;
  afterAll(() => devServer?.close());

  for (const block of runnable.filter((b) => !isTestFile(b))) {
    it(`runs ${name(block)}`, async () => {
      let code = block.code;
      if (code.includes('localhost:3000')) {
        // What `npm start` serves, on a port of its own (3000 may be taken on this machine).
        devServer ??= await startTestDevServer();
        code = code.replaceAll('localhost:3000', new URL(devServer.url).host);
      }
      const file = fileOf(block);
      await writeFile(join(scratch.dir, file), code);

      // Rejects unless the program exits with 0.
      const { stdout } = await run('npx', ['node', file], {
        cwd: scratch.dir,
        // The AWS SDK's DynamoDB (the one block that needs it) is the test run's DynamoDB Local.
        env: { ...process.env, AWS_ENDPOINT_URL_DYNAMODB: inject('dynamoEndpoint'), AWS_REGION: 'local', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' },
        timeout: 90_000,
      });

      if (code.includes('durableFetch(')) {
        // What the block's comment says it prints: the statuses, then the final response.
        expect(stdout).toMatch(/^retrying [0-9A-Z]{26} \d+\n(running [0-9A-Z]{26} \d+\n)*completed [0-9A-Z]{26} \n200 [0-9A-Z]{26} \{\s+success: true,\s+result: /);
      }
    }, 120_000);
  }
});

for (const block of runnable.filter(isTestFile)) {
  // Collected as vitest collects a test file: its tests run here, under this name.
  describe(name(block), async () => {
    await import(join(scratch.dir, fileOf(block)));
  });
}
