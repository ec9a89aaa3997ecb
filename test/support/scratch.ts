import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A fresh directory inside the repository (git ignores `.scratch/`), so that files written there
 * import `durable-endpoints`, `aws-cdk-lib` and relative paths as a user's files in a project do.
 */
export async function scratchDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  await mkdir(join(root, '.scratch'), { recursive: true });
  const dir = await mkdtemp(join(root, '.scratch', `${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
