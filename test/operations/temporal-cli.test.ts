/**
 * ensureTemporalCli's search order and build path, with fake binaries in temp dirs and a fake
 * PATH (the real Go build is never run here).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  locateTemporalCli,
  ensureTemporalCli,
  temporalCliCachePath,
  TEMPORAL_CLI_VERSION,
} from '../../src/operations/temporal-cli';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'temporal-cli-test-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const FAKE_TEMPORAL = (tag: string): string =>
  `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "temporal version 1.5.1-${tag} (Server 0, UI 0)"; exit 0; fi\nexit 3\n`;

function writeExe(file: string, content: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content, { mode: 0o755 });
  return file;
}

/** A `go` that "builds" a fake temporal into $GOBIN, counting its runs in $dir/count. */
function fakeGo(dir: string, opts: { sleep?: number; fail?: boolean } = {}): string {
  return writeExe(
    path.join(dir, 'go'),
    `#!/bin/sh
PATH=/usr/bin:/bin
echo run >> "${dir}/count"
case "$*" in *github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}*) ;; *) echo "unexpected args: $*" >&2; exit 9;; esac
[ -n "$GOBIN" ] || { echo "GOBIN unset" >&2; exit 8; }
echo "go: downloading github.com/temporalio/cli ${TEMPORAL_CLI_VERSION}" >&2
sleep ${opts.sleep ?? 0}
${opts.fail ? 'echo "compile error: boom" >&2; exit 1' : ''}
cat > "$GOBIN/temporal" <<'EOS'
${FAKE_TEMPORAL('built')}EOS
chmod 755 "$GOBIN/temporal"
`,
  );
}

const quiet = (): ((l: string) => void) => () => undefined;

describe('ensureTemporalCli: where the binary comes from', () => {
  test('TEMPORAL_CLI_PATH wins over PATH and cache', async () => {
    const explicit = writeExe(path.join(tmp, 'explicit', 'temporal'), FAKE_TEMPORAL('env'));
    const bin = path.join(tmp, 'bin');
    writeExe(path.join(bin, 'temporal'), FAKE_TEMPORAL('path'));
    const env = { TEMPORAL_CLI_PATH: explicit, PATH: bin, XDG_CACHE_HOME: path.join(tmp, 'cache') };
    writeExe(temporalCliCachePath(env), FAKE_TEMPORAL('cache'));
    const loc = await locateTemporalCli(quiet(), { env });
    expect(loc).toEqual({ path: explicit, source: 'env', version: 'temporal version 1.5.1-env (Server 0, UI 0)' });
  });

  test('a TEMPORAL_CLI_PATH that does not work is an error, not ignored', async () => {
    await expect(locateTemporalCli(quiet(), { env: { TEMPORAL_CLI_PATH: path.join(tmp, 'missing'), PATH: '' } })).rejects.toThrow(
      /TEMPORAL_CLI_PATH=.*missing is not an executable file/,
    );
    const broken = writeExe(path.join(tmp, 'broken'), '#!/bin/sh\necho nope\n');
    await expect(locateTemporalCli(quiet(), { env: { TEMPORAL_CLI_PATH: broken, PATH: '' } })).rejects.toThrow(/not "temporal version/);
  });

  test('then `temporal` on PATH', async () => {
    const bin = path.join(tmp, 'bin');
    const onPath = writeExe(path.join(bin, 'temporal'), FAKE_TEMPORAL('path'));
    const env = { PATH: `${path.join(tmp, 'empty')}:${bin}`, XDG_CACHE_HOME: path.join(tmp, 'cache') };
    writeExe(temporalCliCachePath(env), FAKE_TEMPORAL('cache'));
    const loc = await locateTemporalCli(quiet(), { env });
    expect(loc.source).toBe('path');
    expect(loc.path).toBe(onPath);
  });

  test('then the per-user cache under $XDG_CACHE_HOME, skipping a broken `temporal` on PATH', async () => {
    const bin = path.join(tmp, 'bin');
    writeExe(path.join(bin, 'temporal'), '#!/bin/sh\nexit 1\n');
    const env = { PATH: bin, XDG_CACHE_HOME: path.join(tmp, 'xdg') };
    const cached = writeExe(path.join(tmp, 'xdg', 'trade-exec', `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'temporal'), FAKE_TEMPORAL('cache'));
    const lines: string[] = [];
    const loc = await locateTemporalCli((l) => lines.push(l), { env });
    expect(loc).toMatchObject({ path: cached, source: 'cache' });
    expect(lines.join('\n')).toMatch(/ignoring .*bin\/temporal on PATH/);
  });

  test('the cache defaults to $HOME/.cache when XDG_CACHE_HOME is unset', async () => {
    const env = { PATH: '', HOME: path.join(tmp, 'home') };
    const cached = writeExe(path.join(tmp, 'home', '.cache', 'trade-exec', `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'temporal'), FAKE_TEMPORAL('home'));
    expect(await ensureTemporalCli(quiet(), { env })).toBe(cached);
  });
});

describe('ensureTemporalCli: building with go', () => {
  test('builds once into the cache even when two callers race; streams go output and heartbeats', async () => {
    const goDir = path.join(tmp, 'go');
    fakeGo(goDir, { sleep: 1 });
    const env = { PATH: goDir, XDG_CACHE_HOME: path.join(tmp, 'cache') };
    const lines: string[] = [];
    const progress = (l: string): void => void lines.push(l);
    const [a, b] = await Promise.all([
      locateTemporalCli(progress, { env, heartbeatMs: 200 }),
      locateTemporalCli(progress, { env, heartbeatMs: 200 }),
    ]);
    const target = temporalCliCachePath(env);
    expect(a.path).toBe(target);
    expect(b.path).toBe(target);
    expect([a.source, b.source].sort()).toEqual(['built', 'cache']);
    expect(a.version).toMatch(/1\.5\.1-built/);
    expect(fs.readFileSync(path.join(goDir, 'count'), 'utf8').trim().split('\n')).toHaveLength(1);
    const text = lines.join('\n');
    expect(text).toMatch(/go: downloading github.com\/temporalio\/cli/);
    expect(text).toMatch(/still building the Temporal CLI .* s elapsed/);
    expect(text).toMatch(/another process \(pid \d+\) is building the Temporal CLI; waiting/);
    // No temp dir or lock left behind.
    const root = path.join(tmp, 'cache', 'trade-exec');
    expect(fs.readdirSync(root).sort()).toEqual([`temporal-cli-${TEMPORAL_CLI_VERSION}`]);
    // Next time it is simply found.
    expect((await locateTemporalCli(progress, { env })).source).toBe('cache');
  });

  test('takes over a stale lock and cleans up what a killed build left', async () => {
    const goDir = path.join(tmp, 'go');
    fakeGo(goDir);
    const env = { PATH: goDir, XDG_CACHE_HOME: path.join(tmp, 'cache') };
    const root = path.join(tmp, 'cache', 'trade-exec');
    fs.mkdirSync(path.join(root, '.build-killed'), { recursive: true });
    fs.writeFileSync(path.join(root, '.build-killed', 'temporal'), 'half a binary');
    const dead = spawnSync('true').pid!; // a pid that has exited
    fs.writeFileSync(path.join(root, `temporal-cli-${TEMPORAL_CLI_VERSION}.lock`), JSON.stringify({ pid: dead, host: os.hostname() }));
    const lines: string[] = [];
    const loc = await locateTemporalCli((l) => lines.push(l), { env });
    expect(loc.source).toBe('built');
    expect(lines.join('\n')).toMatch(/removing stale lock/);
    expect(fs.readdirSync(root).sort()).toEqual([`temporal-cli-${TEMPORAL_CLI_VERSION}`]);
  });

  test('a failed build reports go output and leaves no binary', async () => {
    const goDir = path.join(tmp, 'go');
    fakeGo(goDir, { fail: true });
    const env = { PATH: goDir, XDG_CACHE_HOME: path.join(tmp, 'cache') };
    await expect(locateTemporalCli(quiet(), { env })).rejects.toThrow(/go install failed \(code 1[\s\S]*compile error: boom/);
    expect(fs.existsSync(temporalCliCachePath(env))).toBe(false);
    expect(fs.readdirSync(path.join(tmp, 'cache', 'trade-exec'))).toEqual([]);
  });

  test('without Go (and the SDK download disabled) the error says what to install', async () => {
    const env = { PATH: path.join(tmp, 'empty'), XDG_CACHE_HOME: path.join(tmp, 'cache') };
    await expect(locateTemporalCli(quiet(), { env, allowDownload: false })).rejects.toThrow(
      /No temporal CLI found[\s\S]*Go is not on PATH[\s\S]*install Go[\s\S]*TEMPORAL_CLI_PATH/,
    );
  });
});
