// Placeholder: replaced by the service launcher (Temporal dev server, Postgres, Redis).
export default async function globalSetup(): Promise<void> {}
