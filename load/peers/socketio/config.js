// The peer's settings, read once. It is a separate program (Node), not part of src/,
// so it has its own small reader of the environment.
const int = (name, fallback) => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return n;
};
const required = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

export function loadConfig() {
  return {
    port: int("PORT", 3000),
    host: process.env.HOST || "127.0.0.1",
    databaseUrl: required("DATABASE_URL"),
    redisUrl: required("REDIS_URL"),
    instanceId: process.env.INSTANCE_ID || `peer-${process.pid}`,
    poolSize: int("DB_POOL_SIZE", 10),
    sessionTtlDays: int("SESSION_TTL_DAYS", 30),
  };
}
