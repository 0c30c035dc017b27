import { describe, expect, test } from "bun:test";
import { EnvError, parseEnv } from "./env.ts";

describe("environment", () => {
  test("defaults give a single embedded instance", () => {
    const env = parseEnv({});
    expect(env).toMatchObject({ PORT: 3000, DATA_DIR: "./.data", RATE_LIMIT_MULTIPLIER: 1, WS_PER_MESSAGE_DEFLATE: false });
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.REDIS_URL).toBeUndefined();
    expect(env.ALLOWED_ORIGINS).toEqual([]);
    expect(env).toMatchObject({
      DB_CONNECT_TIMEOUT_MS: 2_000,
      DB_STATEMENT_TIMEOUT_MS: 2_000,
      REDIS_COMMAND_TIMEOUT_MS: 250,
      HEALTH_CHECK_INTERVAL_MS: 1_000,
    });
  });

  test("values are parsed into their types", () => {
    const env = parseEnv({
      PORT: "8081",
      ALLOWED_ORIGINS: " https://a.example , http://localhost:3000 ",
      WS_PER_MESSAGE_DEFLATE: "true",
      RATE_LIMIT_MULTIPLIER: "2.5",
    });
    expect(env.PORT).toBe(8081);
    expect(env.ALLOWED_ORIGINS).toEqual(["https://a.example", "http://localhost:3000"]);
    expect(env.WS_PER_MESSAGE_DEFLATE).toBe(true);
    expect(env.RATE_LIMIT_MULTIPLIER).toBe(2.5);
  });

  test("TRUSTED_PROXIES takes addresses and CIDR blocks, empty by default", () => {
    expect(parseEnv({}).TRUSTED_PROXIES).toEqual([]);
    expect(parseEnv({ TRUSTED_PROXIES: "127.0.0.1, 10.0.0.0/8,::1,fd00::/8" }).TRUSTED_PROXIES).toEqual(["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"]);
    for (const bad of ["10.0.0.0/33", "::1/129", "1.2.3", "10.0.0.0/8/1", "10.0.0.0/x"]) {
      expect(() => parseEnv({ TRUSTED_PROXIES: bad })).toThrow(/TRUSTED_PROXIES/);
    }
  });

  test("OPERATOR_EMAILS: comma-separated emails, compared without case; empty by default", () => {
    expect(parseEnv({}).OPERATOR_EMAILS).toEqual([]);
    expect(parseEnv({ OPERATOR_EMAILS: " Ops@Example.com ,, b@example.org" }).OPERATOR_EMAILS).toEqual(["ops@example.com", "b@example.org"]);
    for (const bad of ["ops", "ops@example.com;b@example.org", "a@b@c"]) {
      expect(() => parseEnv({ OPERATOR_EMAILS: bad })).toThrow(/OPERATOR_EMAILS.*each entry is an email address/);
    }
  });

  const bad: Record<string, string> = {
    PORT: "70000",
    DATABASE_URL: "mysql://x",
    REDIS_URL: "http://x",
    DATA_DIR: "",
    INSTANCE_ID: "has spaces",
    ALLOWED_ORIGINS: "not-an-origin",
    LOG_LEVEL: "loud",
    RATE_LIMIT_MULTIPLIER: "0",
    DB_POOL_SIZE: "0",
    DB_CONNECT_TIMEOUT_MS: "5",
    DB_STATEMENT_TIMEOUT_MS: "soon",
    REDIS_COMMAND_TIMEOUT_MS: "0",
    HEALTH_CHECK_INTERVAL_MS: "1.5",
    PASSWORD_MEMORY_KIB: "1024",
    PASSWORD_TIME_COST: "1",
    SESSION_TTL_DAYS: "1.5",
    COOKIE_SECURE: "yes",
    MAX_BODY_BYTES: "abc",
    WS_FRAMES_PER_SECOND: "-1",
    WS_MAX_FRAME_BYTES: "10",
    WS_MAX_BUFFERED_BYTES: "1",
    WS_PER_MESSAGE_DEFLATE: "1",
    PRESENCE_LIST_MAX: "0",
    WS_REPLAY_MAX: "0",
    WS_MAX_SOCKETS_PER_USER: "many",
    WS_MAX_ROOMS_PER_SOCKET: "0",
    WS_MAX_ROOMS_PER_USER: "-5",
    NODE_ENV: "staging",
    RATE_LIMITS: "send=10",
    RATE_LIMIT_REDIS_TIMEOUT_MS: "0",
    RESPONSE_CACHE: "maybe",
    CACHE_TTL_SECONDS: "0",
    CACHE_TIMEOUT_MS: "1",
    TRUSTED_PROXIES: "127.0.0.1,caddy",
    OPERATOR_EMAILS: "ops@example.com,not-an-email",
    MAX_REACTIONS_PER_MESSAGE: "0",
  };
  for (const [name, value] of Object.entries(bad)) {
    test(`${name}=${JSON.stringify(value)} stops start-up naming it`, () => {
      expect(() => parseEnv({ [name]: value })).toThrow(EnvError);
      expect(() => parseEnv({ [name]: value })).toThrow(new RegExp(`\\b${name}\\b`));
    });
  }
});
