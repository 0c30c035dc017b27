// Fills a database with users, rooms and memberships for local use and load tests.
//   bun run seed -- --users 10000 --rooms 50
// Users are user1@example.com .. userN@example.com (usernames user1 .. userN), all
// with the password SEED_PASSWORD below. Everybody is in `general`; each user is
// also in up to three of the rooms seed-room-1 .. seed-room-M (every fifth one is
// private); user1 owns those rooms. Safe to run again: existing rows are left alone.
// Uses DATABASE_URL when set, else the embedded PGlite under DATA_DIR.
import { parseArgs } from "node:util";
import { inArray, sql } from "drizzle-orm";
import { createPasswordHasher } from "../src/auth/password.ts";
import type { Db } from "../src/db/client.ts";
import { roomMembers, rooms, users } from "../src/db/schema.ts";
import { loadEnv } from "../src/env.ts";
import { openStores } from "../src/stores.ts";

export const SEED_PASSWORD = "password123";
const CHUNK = 1000;
const ROOMS_PER_USER = 3;

export interface SeedOptions {
  users: number;
  rooms: number;
  /** One hash for every seeded user: hashing 10,000 passwords would take minutes. */
  passwordHash: string;
}

const chunks = <T>(items: T[]) => Array.from({ length: Math.ceil(items.length / CHUNK) }, (_, i) => items.slice(i * CHUNK, (i + 1) * CHUNK));
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

export async function seedDatabase(db: Db, opts: SeedOptions) {
  const usernames = range(opts.users).map((n) => `user${n}`);
  for (const part of chunks(usernames)) {
    await db
      .insert(users)
      .values(part.map((username) => ({ username, email: `${username}@example.com`, passwordHash: opts.passwordHash })))
      .onConflictDoNothing();
  }
  const userIds = new Map<string, string>();
  for (const part of chunks(usernames)) {
    const rows = await db.select({ id: users.id, username: users.username }).from(users).where(inArray(users.username, part));
    for (const row of rows) userIds.set(row.username, row.id);
  }
  const owner = userIds.get("user1");

  const slugs = range(opts.rooms).map((n) => `seed-room-${n}`);
  await db
    .insert(rooms)
    .values([
      { slug: "general", name: "General" },
      ...slugs.map((slug, i) => ({ slug, name: `Seed room ${i + 1}`, isPrivate: (i + 1) % 5 === 0, createdBy: owner })),
    ])
    .onConflictDoNothing();
  const roomRows = await db.select({ id: rooms.id, slug: rooms.slug }).from(rooms).where(inArray(rooms.slug, ["general", ...slugs]));
  const roomIds = new Map(roomRows.map((r) => [r.slug, r.id]));
  const general = roomIds.get("general")!;
  const seedRooms = slugs.map((slug) => roomIds.get(slug)!);

  // Spread users over the rooms with different strides, so rooms overlap in membership.
  const memberships: { roomId: string; userId: string; role: "owner" | "member" }[] = [];
  usernames.forEach((username, i) => {
    const userId = userIds.get(username);
    if (!userId) return;
    memberships.push({ roomId: general, userId, role: "member" });
    if (!seedRooms.length) return;
    const picks = new Set([0, 7, 13].slice(0, ROOMS_PER_USER).map((stride) => seedRooms[(i + stride) % seedRooms.length]!));
    for (const roomId of picks) memberships.push({ roomId, userId, role: userId === owner ? "owner" : "member" });
  });
  if (owner) {
    for (const roomId of seedRooms) memberships.push({ roomId, userId: owner, role: "owner" });
  }
  for (const part of chunks(memberships)) {
    await db.insert(roomMembers).values(part).onConflictDoNothing();
  }
  const [count] = await db.select({ n: sql<number>`count(*)::int`.mapWith(Number) }).from(roomMembers);
  return { users: userIds.size, rooms: roomIds.size, memberships: count?.n ?? 0 };
}

function parseFlags(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: { users: { type: "string", default: "100" }, rooms: { type: "string", default: "10" } },
    strict: true,
  });
  const count = (name: string, value: string, max: number) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n > max) throw new Error(`--${name} must be an integer from 0 to ${max}`);
    return n;
  };
  return { users: count("users", values.users, 1_000_000), rooms: count("rooms", values.rooms, 10_000) };
}

if (import.meta.main) {
  let flags: ReturnType<typeof parseFlags>;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    console.error(`seed: ${(err as Error).message}\nusage: bun run seed -- --users 10000 --rooms 50`);
    process.exit(1);
  }
  const env = loadEnv();
  // Bulk inserts: the request-sized statement deadline (DB_STATEMENT_TIMEOUT_MS) does not apply.
  const stores = await openStores({ ...env, DB_STATEMENT_TIMEOUT_MS: Math.max(env.DB_STATEMENT_TIMEOUT_MS, 600_000) });
  try {
    const started = performance.now();
    await stores.database.migrate();
    const hasher = createPasswordHasher({ memoryKib: env.PASSWORD_MEMORY_KIB, timeCost: env.PASSWORD_TIME_COST });
    const result = await seedDatabase(stores.database.db, { ...flags, passwordHash: await hasher.hash(SEED_PASSWORD) });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `seeded ${result.users} users, ${result.rooms} rooms, ${result.memberships} memberships on ${stores.database.driver} in ${seconds}s; password: ${SEED_PASSWORD}`,
    );
  } finally {
    await stores.close();
  }
}
