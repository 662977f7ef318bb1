/**
 * The last lines of a ready banner (`npm start`, `npm run stack`): how to point the operator CLI
 * (npx trade-exec) at what just started.
 *
 * Only addresses of what this process started go in: a DATABASE_URL or REDIS_URL the user gave
 * may hold a password that must not reach a terminal log (the embedded ones are local, with a
 * generated password kept in DATA_DIR). The paper exchange's built-in pair is public (it is in
 * the source); the CLI's configuration requires a key with BINANCE_BASE_URL, so the line carries it.
 */
export function operatorCliHint(o: {
  temporalAddress: string;
  /** Only when this process started it. */
  redisUrl?: string;
  /** Only when this process started it. */
  databaseUrl?: string;
  /** Only for the paper exchange this process started. */
  paper?: { baseUrl: string; apiKey: string; apiSecret: string };
}): string[] {
  const vars = [
    `TEMPORAL_ADDRESS=${o.temporalAddress}`,
    ...(o.redisUrl ? [`REDIS_URL=${o.redisUrl}`] : []),
    ...(o.databaseUrl ? [`DATABASE_URL=${o.databaseUrl}`] : []),
    ...(o.paper ? [`BINANCE_BASE_URL=${o.paper.baseUrl}`, `BINANCE_API_KEY=${o.paper.apiKey}`, `BINANCE_API_SECRET=${o.paper.apiSecret}`] : []),
  ];
  return ['Point the operator CLI (npx trade-exec) at it with:', `  export ${vars.join(' ')}`, 'Press Ctrl-C to stop.'];
}
