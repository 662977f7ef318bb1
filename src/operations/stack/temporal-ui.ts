/**
 * The Temporal UI server (github.com/temporalio/ui-server, the same release the CLI's embedded
 * UI and the temporalio/ui image are built from) in front of the cluster's frontend. The CLI's
 * own UI serves only its dev server, so a cluster needs this one.
 *
 * Its configuration is a YAML file it reads from a directory (`--root R --config C --env E` reads
 * R/C/E.yaml); we write it into the stack's data directory at each start. Write actions stay on:
 * operators cancel trades from the UI ("Request Cancellation").
 */
import fs from 'node:fs';
import path from 'node:path';
import { SupervisedProcess } from './supervised-process';

export interface TemporalUiOptions {
  uiServerBinary: string;
  temporalAddress: string;
  namespace: string;
  port: number;
  host?: string;
  /** Directory for its configuration file. */
  dir: string;
  logFile: string;
  progress?: (line: string) => void;
}

export function temporalUiProcess(o: TemporalUiOptions): SupervisedProcess {
  const host = o.host ?? '127.0.0.1';
  const configDir = path.join(o.dir, 'config');
  fs.mkdirSync(configDir, { recursive: true });
  const origin = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${o.port}`;
  fs.writeFileSync(
    path.join(configDir, 'stack.yaml'),
    [
      '# Written by npm run stack (src/operations/stack/temporal-ui.ts) at every start.',
      `temporalGrpcAddress: ${o.temporalAddress}`,
      `host: ${host}`,
      `port: ${o.port}`,
      'enableUi: true',
      `defaultNamespace: ${o.namespace}`,
      'refreshInterval: 1m',
      'notifyOnNewVersion: false',
      'disableWriteActions: false',
      'cors:',
      '  cookieInsecure: true',
      '  allowOrigins:',
      `    - ${origin}`,
      '',
    ].join('\n'),
  );
  return new SupervisedProcess({
    name: 'temporal ui',
    command: o.uiServerBinary,
    args: ['--root', o.dir, '--config', 'config', '--env', 'stack', 'start'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    logFile: o.logFile,
    readyCheck: async () => {
      const res = await fetch(`${origin}/api/v1/settings`, { signal: AbortSignal.timeout(2_000) });
      return res.ok;
    },
    readyTimeoutMs: 60_000,
    stopTimeoutMs: 5_000,
    progress: o.progress,
  });
}
