/** Reading docker-compose.yml and .env.example as compose does: shared by the compose tests. */

/** KEY=value lines of an env file (comments and blank lines skipped). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** Compose interpolation of "${VAR}", "${VAR:-default}", "${VAR:?message}" against `vars` (":?" with VAR unset throws its message). */
export function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}/g, (_m, name: string, op: string | undefined, arg: string | undefined) => {
    const v = vars[name];
    if (op === ':-' || op === '-') return v ? v : (arg ?? '');
    if (op === ':?' || op === '?') {
      if (!v) throw new Error(`${name}: ${arg}`);
      return v;
    }
    return v ?? '';
  });
}
