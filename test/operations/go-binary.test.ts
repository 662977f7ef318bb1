/**
 * go-binary.ts's search order, build, lock and cleanup, with fake binaries (shell scripts that
 * print a version) and a fake `go` on a fake PATH, in temp dirs; plus the version checks of the
 * Temporal server binaries (stack/temporal-binaries.ts). No network, no real Go build, and the
 * real cache is never touched (XDG_CACHE_HOME points into the temp dir). Runs with TEST_SERVICES=none.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  type GoBinarySpec,
  GoBinaryUnavailableError,
  checkVersionLine,
  goBinaryCachePath,
  locateGoBinary,
  findGoBinary,
  readVersionLine,
} from '../../src/operations/go-binary';
import {
  TEMPORAL_SERVER_SPEC,
  TEMPORAL_SQL_TOOL_SPEC,
  TEMPORAL_UI_SERVER_SPEC,
  ensureTemporalServerBinaries,
  temporalServerBinaryCachePaths,
  verifyTemporalServer,
  verifyTemporalSqlTool,
  verifyTemporalUiServer,
} from '../../src/operations/stack/temporal-binaries';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'go-binary-test-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function writeExe(file: string, content: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content, { mode: 0o755 });
  return file;
}

/** A binary whose `--version` prints `line` (and which fails for anything else). */
const versionScript = (line: string): string => `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "${line}"; exit 0; fi\nexit 3\n`;

/** A spec for module example.com/fake/cmd/<name>@v1.2.3, whose binary prints "fake-<name> version 1.2.3". */
function fakeSpec(name: string): GoBinarySpec {
  return {
    title: `fake ${name}`,
    command: `fake-${name}`,
    envVar: `FAKE_${name.toUpperCase()}_PATH`,
    module: `example.com/fake/cmd/${name}`,
    version: 'v1.2.3',
    installedName: name,
    cacheDir: `fake-${name}-v1.2.3`,
    cacheFile: `fake-${name}`,
    ldflags: '-X example.com/fake.Version=1.2.3',
    buildNote: 'a fake build',
    verify: async (bin) =>
      checkVersionLine(bin, await readVersionLine(bin, { PATH: '/usr/bin:/bin' }), {
        pattern: new RegExp(`^fake-${name} version (\\S+)$`),
        version: '1.2.3',
        expectedLine: `fake-${name} version 1.2.3`,
      }),
  };
}

/**
 * A `go` that logs its arguments to $FAKE_GO_LOG, writes half a binary into $GOBIN, sleeps
 * $FAKE_GO_SLEEP s (its own pid and the sleep's in $FAKE_GO_LOG.pids), then fails ($FAKE_GO_FAIL) or writes a binary printing
 * "fake-<name> version ${FAKE_GO_VERSION:-1.2.3}".
 */
function fakeGo(dir: string): string {
  return writeExe(
    path.join(dir, 'go'),
    `#!/bin/sh
PATH=/usr/bin:/bin
echo "$*" >> "$FAKE_GO_LOG"
for a in "$@"; do last="$a"; done
mod="\${last%@*}"; ver="\${last#*@}"; name="\${mod##*/}"
[ -n "$GOBIN" ] || { echo "GOBIN unset" >&2; exit 8; }
printf 'half a binary' > "$GOBIN/$name"
# In the background with its own stdio, so that killing this script closes go's pipes at once.
sleep "\${FAKE_GO_SLEEP:-0}" </dev/null >/dev/null 2>&1 &
echo "$$ $!" > "$FAKE_GO_LOG.pids"
echo "go: downloading $mod $ver" >&2
wait $!
if [ -n "$FAKE_GO_FAIL" ]; then echo "compile error: boom" >&2; exit 1; fi
printf '#!/bin/sh\\necho "fake-%s version %s"\\n' "$name" "\${FAKE_GO_VERSION:-\${ver#v}}" > "$GOBIN/$name"
chmod 755 "$GOBIN/$name"
`,
  );
}

interface Sandbox {
  env: NodeJS.ProcessEnv;
  root: string;
  bin: string;
  goRuns(): string[];
}

/** An env with only a fake-bin dir (and optionally the fake go) on PATH and the cache in the temp dir. */
function sandbox(opts: { go?: boolean; extra?: NodeJS.ProcessEnv } = {}): Sandbox {
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  const goDir = path.join(tmp, 'go');
  if (opts.go) fakeGo(goDir);
  const log = path.join(tmp, 'go.log');
  const env: NodeJS.ProcessEnv = {
    PATH: opts.go ? `${bin}:${goDir}` : bin,
    XDG_CACHE_HOME: path.join(tmp, 'cache'),
    HOME: path.join(tmp, 'home'),
    FAKE_GO_LOG: log,
    ...opts.extra,
  };
  return {
    env,
    root: path.join(tmp, 'cache', 'trade-exec'),
    bin,
    goRuns: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []),
  };
}

const quiet = (): void => undefined;

/** SIGKILLs the running fake go (and its sleep) by the pids it wrote. */
function killFakeGo(sb: Sandbox): void {
  const pids = fs.readFileSync(`${sb.env.FAKE_GO_LOG}.pids`, 'utf8').trim().split(' ').map(Number);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
}

function recorder(): { lines: string[]; progress: (l: string) => void; text: () => string } {
  const lines: string[] = [];
  return { lines, progress: (l) => void lines.push(l), text: () => lines.join('\n') };
}

describe('locateGoBinary: where the binary comes from', () => {
  const spec = fakeSpec('tool');

  test('the explicit env var wins over PATH and the cache', async () => {
    const sb = sandbox();
    const explicit = writeExe(path.join(tmp, 'explicit', 'tool'), versionScript('fake-tool version 1.2.3'));
    writeExe(path.join(sb.bin, 'fake-tool'), versionScript('fake-tool version 1.2.3'));
    writeExe(goBinaryCachePath(spec, sb.env), versionScript('fake-tool version 1.2.3'));
    const loc = await locateGoBinary(spec, quiet, { env: { ...sb.env, FAKE_TOOL_PATH: explicit } });
    expect(loc).toEqual({ path: explicit, source: 'env', version: 'fake-tool version 1.2.3' });
  });

  test('an explicit env var that does not work is an error, even with a good binary on PATH', async () => {
    const sb = sandbox();
    writeExe(path.join(sb.bin, 'fake-tool'), versionScript('fake-tool version 1.2.3'));
    await expect(locateGoBinary(spec, quiet, { env: { ...sb.env, FAKE_TOOL_PATH: path.join(tmp, 'missing') } })).rejects.toThrow(
      /FAKE_TOOL_PATH=.*missing is not an executable file/,
    );
    const wrong = writeExe(path.join(tmp, 'wrong'), versionScript('fake-tool version 1.1.0'));
    await expect(locateGoBinary(spec, quiet, { env: { ...sb.env, FAKE_TOOL_PATH: wrong } })).rejects.toThrow(
      /is version 1\.1\.0, but 1\.2\.3 is needed/,
    );
  });

  test('then the command on PATH', async () => {
    const sb = sandbox();
    const onPath = writeExe(path.join(sb.bin, 'fake-tool'), versionScript('fake-tool version 1.2.3'));
    writeExe(goBinaryCachePath(spec, sb.env), versionScript('fake-tool version 1.2.3'));
    expect(await locateGoBinary(spec, quiet, { env: sb.env })).toEqual({ path: onPath, source: 'path', version: 'fake-tool version 1.2.3' });
  });

  test('a PATH candidate of another version (or another program) is ignored, with a progress line saying why', async () => {
    const sb = sandbox();
    writeExe(path.join(sb.bin, 'fake-tool'), versionScript('fake-tool version 1.1.0'));
    const cached = writeExe(goBinaryCachePath(spec, sb.env), versionScript('fake-tool version 1.2.3'));
    const rec = recorder();
    expect(await locateGoBinary(spec, rec.progress, { env: sb.env })).toEqual({ path: cached, source: 'cache', version: 'fake-tool version 1.2.3' });
    expect(rec.text()).toMatch(/ignoring .*\/bin\/fake-tool on PATH: .* is version 1\.1\.0, but 1\.2\.3 is needed/);

    writeExe(path.join(sb.bin, 'fake-tool'), versionScript('something else entirely'));
    const rec2 = recorder();
    expect((await locateGoBinary(spec, rec2.progress, { env: sb.env })).source).toBe('cache');
    expect(rec2.text()).toMatch(/ignoring .* printed "something else entirely", not "fake-tool version 1\.2\.3"/);
  });

  test('the cache is under $XDG_CACHE_HOME/trade-exec, else $HOME/.cache/trade-exec', async () => {
    const sb = sandbox();
    const xdg = writeExe(path.join(tmp, 'cache', 'trade-exec', 'fake-tool-v1.2.3', 'fake-tool'), versionScript('fake-tool version 1.2.3'));
    expect(await findGoBinary(spec, quiet, sb.env)).toMatchObject({ path: xdg, source: 'cache' });
    const home = writeExe(path.join(tmp, 'home', '.cache', 'trade-exec', 'fake-tool-v1.2.3', 'fake-tool'), versionScript('fake-tool version 1.2.3'));
    expect(await findGoBinary(spec, quiet, { ...sb.env, XDG_CACHE_HOME: undefined })).toMatchObject({ path: home, source: 'cache' });
  });

  test('a cached binary of another version is not used', async () => {
    const sb = sandbox();
    writeExe(goBinaryCachePath(spec, sb.env), versionScript('fake-tool version 0.9.0'));
    const rec = recorder();
    expect(await findGoBinary(spec, rec.progress, sb.env)).toBeUndefined();
    expect(rec.text()).toMatch(/ignoring cached .*fake-tool: .*0\.9\.0/);
  });
});

describe('locateGoBinary: building with go', () => {
  const spec = fakeSpec('tool');

  test('builds into the cache through a temp dir next to it, streaming go output and heartbeats', async () => {
    const sb = sandbox({ go: true, extra: { FAKE_GO_SLEEP: '1' } });
    const rec = recorder();
    const loc = await locateGoBinary(spec, rec.progress, { env: sb.env, heartbeatMs: 200 });
    const target = path.join(sb.root, 'fake-tool-v1.2.3', 'fake-tool');
    expect(loc).toEqual({ path: target, source: 'built', version: 'fake-tool version 1.2.3' });
    expect(spawnSync(target, ['--version'], { encoding: 'utf8' }).stdout.trim()).toBe('fake-tool version 1.2.3');
    expect(sb.goRuns()).toEqual(['install -ldflags=-X example.com/fake.Version=1.2.3 example.com/fake/cmd/tool@v1.2.3']);
    const text = rec.text();
    expect(text).toMatch(new RegExp(`building the fake tool: GOBIN=${sb.root}/\\.partial-fake-tool-v1\\.2\\.3-\\S+ .*/go install .* \\(a fake build\\)`));
    expect(text).toMatch(/go: downloading example.com\/fake\/cmd\/tool v1.2.3/);
    expect(text).toMatch(/still building the fake tool v1\.2\.3\.\.\. \d+ s elapsed/);
    expect(text).toMatch(/built .*fake-tool \(fake-tool version 1\.2\.3\) in \d+ s/);
    // No temp dir or lock left behind, and next time it is simply found.
    expect(fs.readdirSync(sb.root)).toEqual(['fake-tool-v1.2.3']);
    expect((await locateGoBinary(spec, quiet, { env: sb.env })).source).toBe('cache');
    expect(sb.goRuns()).toHaveLength(1);
  });

  test('two concurrent callers build once: the second waits for the lock, then finds the cache', async () => {
    const sb = sandbox({ go: true, extra: { FAKE_GO_SLEEP: '1' } });
    const rec = recorder();
    const [a, b] = await Promise.all([
      locateGoBinary(spec, rec.progress, { env: sb.env, heartbeatMs: 200 }),
      locateGoBinary(spec, rec.progress, { env: sb.env, heartbeatMs: 200 }),
    ]);
    expect(a.path).toBe(b.path);
    expect([a.source, b.source].sort()).toEqual(['built', 'cache']);
    expect(sb.goRuns()).toHaveLength(1);
    expect(rec.text()).toMatch(/another process \(pid \d+\) is building the fake tool; waiting/);
  });

  test('a failed build leaves nothing in the cache and reports the tail of go output', async () => {
    const sb = sandbox({ go: true, extra: { FAKE_GO_FAIL: '1' } });
    const failure = locateGoBinary(spec, quiet, { env: sb.env });
    await expect(failure).rejects.toThrow(/go install failed \(code 1, signal null\):\n[\s\S]*downloading example.com\/fake\/cmd\/tool[\s\S]*compile error: boom/);
    expect(fs.existsSync(goBinaryCachePath(spec, sb.env))).toBe(false);
    // Not even the half-written file, the temp dir or the lock.
    expect(fs.readdirSync(sb.root)).toEqual([]);
  });

  test('a built binary that fails verification is not put into the cache', async () => {
    const sb = sandbox({ go: true, extra: { FAKE_GO_VERSION: '9.9.9' } });
    await expect(locateGoBinary(spec, quiet, { env: sb.env })).rejects.toThrow(/is version 9\.9\.9, but 1\.2\.3 is needed/);
    expect(fs.readdirSync(sb.root)).toEqual([]);
  });

  test('a killed build (go gets SIGKILL) leaves no binary and no temp dir; the next run builds', async () => {
    const sb = sandbox({ go: true, extra: { FAKE_GO_SLEEP: '30' } });
    const rec = recorder();
    const failure = locateGoBinary(
      spec,
      (l) => {
        rec.progress(l);
        // go has written half a binary into $GOBIN by now; kill it the way an OOM killer would.
        if (l.startsWith('go: downloading')) killFakeGo(sb);
      },
      { env: sb.env },
    );
    await expect(failure).rejects.toThrow(/go install failed \(code null, signal SIGKILL\)/);
    expect(fs.readdirSync(sb.root)).toEqual([]);
    const again = await locateGoBinary(spec, quiet, { env: { ...sb.env, FAKE_GO_SLEEP: '0' } });
    expect(again.source).toBe('built');
  });

  test('a stale lock of a dead pid is taken over, and temp dirs of its killed build are removed', async () => {
    const sb = sandbox({ go: true });
    fs.mkdirSync(path.join(sb.root, '.partial-fake-tool-v1.2.3-killed'), { recursive: true });
    fs.writeFileSync(path.join(sb.root, '.partial-fake-tool-v1.2.3-killed', 'tool'), 'half a binary');
    const dead = spawnSync('true').pid!; // a pid that has exited
    fs.writeFileSync(path.join(sb.root, 'fake-tool-v1.2.3.lock'), JSON.stringify({ pid: dead, host: os.hostname() }));
    // Another spec's temp dir: its build may be running under its own lock, so it stays.
    fs.mkdirSync(path.join(sb.root, '.partial-fake-other-v1.2.3-running'));
    const rec = recorder();
    const loc = await locateGoBinary(spec, rec.progress, { env: sb.env });
    expect(loc.source).toBe('built');
    expect(rec.text()).toMatch(new RegExp(`removing stale lock .*fake-tool-v1\\.2\\.3\\.lock \\(\\{"pid":${dead},`));
    expect(fs.readdirSync(sb.root).sort()).toEqual(['.partial-fake-other-v1.2.3-running', 'fake-tool-v1.2.3']);
  });

  test('a lock held by a live process is waited for, up to lockTimeoutMs', async () => {
    const sb = sandbox({ go: true });
    const holder = spawn('sleep', ['30']);
    try {
      fs.mkdirSync(sb.root, { recursive: true });
      fs.writeFileSync(path.join(sb.root, 'fake-tool-v1.2.3.lock'), JSON.stringify({ pid: holder.pid, host: os.hostname() }));
      await expect(locateGoBinary(spec, quiet, { env: sb.env, lockTimeoutMs: 700 })).rejects.toThrow(/timed out after \d+ s waiting for .*fake-tool-v1\.2\.3\.lock/);
      expect(sb.goRuns()).toEqual([]);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  test('builds of two different binaries at once do not remove each other\'s temp dirs', async () => {
    const sb = sandbox({ go: true, extra: { FAKE_GO_SLEEP: '1' } });
    let toolBuilding!: () => void;
    const started = new Promise<void>((resolve) => (toolBuilding = resolve));
    const tool = locateGoBinary(spec, (l) => l.startsWith('building the fake tool') && toolBuilding(), { env: sb.env });
    await started;
    const other = await locateGoBinary(fakeSpec('other'), quiet, { env: sb.env });
    expect(other.source).toBe('built');
    expect((await tool).source).toBe('built');
    expect(fs.readdirSync(sb.root).sort()).toEqual(['fake-other-v1.2.3', 'fake-tool-v1.2.3']);
  });
});

describe('locateGoBinary: without Go', () => {
  const spec = fakeSpec('tool');

  test('says what is missing and how to fix it', async () => {
    const sb = sandbox();
    const failure = locateGoBinary(spec, quiet, { env: sb.env });
    await expect(failure).rejects.toBeInstanceOf(GoBinaryUnavailableError);
    await expect(failure).rejects.toThrow(
      /No fake tool found \(FAKE_TOOL_PATH unset, no "fake-tool" on PATH, nothing in .*fake-tool-v1\.2\.3\); Go is not on PATH\. Fix: install Go .*"go install example.com\/fake\/cmd\/tool@v1.2.3", or point FAKE_TOOL_PATH at a fake-tool binary\./,
    );
  });

  test('allowBuild: false never runs go; withoutGo gets the reasons under the lock', async () => {
    const sb = sandbox({ go: true });
    const seen: string[][] = [];
    const loc = await locateGoBinary(spec, quiet, {
      env: sb.env,
      allowBuild: false,
      withoutGo: async (reasons) => {
        seen.push(reasons);
        expect(fs.existsSync(path.join(sb.root, 'fake-tool-v1.2.3.lock'))).toBe(true);
        return { path: '/elsewhere', source: 'elsewhere' as const, version: 'x' };
      },
    });
    expect(loc).toEqual({ path: '/elsewhere', source: 'elsewhere', version: 'x' });
    expect(seen).toEqual([['building is disabled']]);
    expect(sb.goRuns()).toEqual([]);
  });
});

describe('the Temporal server binaries (stack/temporal-binaries.ts)', () => {
  // What the real binaries print (urfave/cli: "<app name> version <version>").
  const SERVER = 'temporal version 1.32.1';
  const SQL_TOOL = 'temporal-sql-tool version 1.32.1';
  const UI_SERVER = 'Temporal UI version 2.42.1';

  test('each verify accepts exactly its own version line', async () => {
    const server = writeExe(path.join(tmp, 'server'), versionScript(SERVER));
    const sql = writeExe(path.join(tmp, 'sql'), versionScript(SQL_TOOL));
    const ui = writeExe(path.join(tmp, 'ui'), versionScript(UI_SERVER));
    await expect(verifyTemporalServer(server)).resolves.toBe(SERVER);
    await expect(verifyTemporalSqlTool(sql)).resolves.toBe(SQL_TOOL);
    await expect(verifyTemporalUiServer(ui)).resolves.toBe(UI_SERVER);
    await expect(verifyTemporalServer(sql)).rejects.toThrow(/printed "temporal-sql-tool version 1.32.1", not "temporal version 1.32.1"/);
    await expect(verifyTemporalSqlTool(server)).rejects.toThrow(/not "temporal-sql-tool version 1.32.1"/);
    await expect(verifyTemporalUiServer(server)).rejects.toThrow(/not "Temporal UI version 2.42.1"/);
  });

  test('refuses an older temporal-server, and the CLI, with a readable message', async () => {
    const old = writeExe(path.join(tmp, 'old'), versionScript('temporal version 1.29.1'));
    await expect(verifyTemporalServer(old)).rejects.toThrow(/old is version 1\.29\.1, but 1\.32\.1 is needed/);
    const cli = writeExe(path.join(tmp, 'cli'), versionScript('temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)'));
    await expect(verifyTemporalServer(cli)).rejects.toThrow(/that is the Temporal CLI, not the Temporal server/);
  });

  test('the specs name the modules, versions, variables and cache paths the stack expects', () => {
    expect([TEMPORAL_SERVER_SPEC, TEMPORAL_SQL_TOOL_SPEC, TEMPORAL_UI_SERVER_SPEC].map((s) => `${s.envVar} ${s.command} ${s.module}@${s.version} ${s.installedName}`)).toEqual([
      'TEMPORAL_SERVER_PATH temporal-server go.temporal.io/server/cmd/server@v1.32.1 server',
      'TEMPORAL_SQL_TOOL_PATH temporal-sql-tool go.temporal.io/server/cmd/tools/sql@v1.32.1 sql',
      'TEMPORAL_UI_SERVER_PATH temporal-ui-server github.com/temporalio/ui-server/v2/cmd/server@v2.42.1 server',
    ]);
    expect(temporalServerBinaryCachePaths({ XDG_CACHE_HOME: '/c' })).toEqual({
      server: '/c/trade-exec/temporal-server-v1.32.1/temporal-server',
      sqlTool: '/c/trade-exec/temporal-sql-tool-v1.32.1/temporal-sql-tool',
      uiServer: '/c/trade-exec/temporal-ui-server-v2.42.1/temporal-ui-server',
    });
  });

  test('ensureTemporalServerBinaries finds all three (env var, PATH, cache), and can skip the UI server', async () => {
    const sb = sandbox();
    const paths = temporalServerBinaryCachePaths(sb.env);
    const server = writeExe(path.join(tmp, 'explicit', 'temporal-server'), versionScript(SERVER));
    const sql = writeExe(path.join(sb.bin, 'temporal-sql-tool'), versionScript(SQL_TOOL));
    writeExe(paths.uiServer, versionScript(UI_SERVER));
    const env = { ...sb.env, TEMPORAL_SERVER_PATH: server };
    expect(await ensureTemporalServerBinaries(quiet, { env, allowBuild: false })).toEqual({ server, sqlTool: sql, uiServer: paths.uiServer });
    fs.rmSync(paths.uiServer);
    expect(await ensureTemporalServerBinaries(quiet, { env, allowBuild: false, ui: false })).toEqual({ server, sqlTool: sql, uiServer: undefined });
    await expect(ensureTemporalServerBinaries(quiet, { env, allowBuild: false })).rejects.toThrow(/No Temporal UI server found .*building is disabled/);
  });
});
