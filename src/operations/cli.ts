/**
 * The operator CLI: `npx trade-exec COMMAND` (bin/trade-exec.js) or `npm run cli -- COMMAND`.
 * Commands and their help live in cli/commands.ts. Every failure is one line on stderr and a
 * non-zero exit code (see cli/errors.ts EXIT).
 */
import { parseArgs } from 'node:util';
import { COMMANDS, commandHelp, findCommand, GLOBAL_OPTIONS, mainHelp, type Values } from './cli/commands';
import { CliContext, type Output } from './cli/context';
import { CliError, describeError, EXIT, oneLine } from './cli/errors';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

/** Runs one command line; returns the exit code. Never throws. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  const quiet = argv.includes('--quiet') || argv.includes('-q');
  const fail = (err: unknown): number => {
    const code = err instanceof CliError ? err.exitCode : EXIT.failed;
    const message = err instanceof CliError ? oneLine(err.message) : describeError(err);
    io.stderr(json ? `${JSON.stringify({ error: message, exitCode: code })}\n` : `trade-exec: ${message}\n`);
    return code;
  };

  const nameIndex = argv.findIndex((a) => !a.startsWith('-'));
  const name = nameIndex === -1 ? undefined : argv[nameIndex]!;
  const rest = nameIndex === -1 ? argv : [...argv.slice(0, nameIndex), ...argv.slice(nameIndex + 1)];

  if (name === undefined || name === 'help') {
    const topic = name === 'help' ? rest.find((a) => !a.startsWith('-')) : undefined;
    if (topic !== undefined) {
      const c = findCommand(topic);
      if (!c) return fail(new CliError(`unknown command ${JSON.stringify(topic)} (commands: ${COMMANDS.map((x) => x.name).join(', ')})`, EXIT.usage));
      io.stdout(commandHelp(c));
      return EXIT.ok;
    }
    if (name === undefined && !rest.includes('--help') && !rest.includes('-h')) {
      io.stderr(mainHelp());
      return fail(new CliError('missing command', EXIT.usage));
    }
    io.stdout(mainHelp());
    return EXIT.ok;
  }

  const command = findCommand(name);
  if (!command) {
    return fail(new CliError(`unknown command ${JSON.stringify(name)} (commands: ${COMMANDS.map((c) => c.name).join(', ')}; see trade-exec --help)`, EXIT.usage));
  }

  let values: Values;
  let positionals: string[];
  try {
    const parsed = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...command.options }, allowPositionals: true, strict: true });
    values = parsed.values as Values;
    positionals = parsed.positionals;
  } catch (err) {
    return fail(new CliError(`${command.name}: ${describeError(err).replace(/\. To specify a positional argument.*$/, '')} (see trade-exec ${command.name} --help)`, EXIT.usage));
  }
  if (values.help) {
    io.stdout(commandHelp(command));
    return EXIT.ok;
  }

  const output: Output = {
    json,
    out: io.stdout,
    progress: (text) => {
      if (!quiet) io.stderr(`${text}\n`);
    },
  };
  const ctx = new CliContext(io.env, output);
  try {
    await command.run(ctx, values, positionals);
    return EXIT.ok;
  } catch (err) {
    return fail(err);
  } finally {
    await ctx.close();
  }
}

if (require.main === module) {
  const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);
  void runCli(process.argv.slice(2), { stdout: write(process.stdout), stderr: write(process.stderr), env: process.env }).then((code) => {
    // Connections are closed; exit once what was written has been flushed (pipes are asynchronous).
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  });
}
