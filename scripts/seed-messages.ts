// A large history, written by Postgres itself with generate_series (a million
// messages in well under a minute): the data the query bench and the plan tests
// read. Half the messages are in one big room, the rest spread over `rooms - 1`
// others; one reader belongs to every room and has read nothing.
import { sql } from "drizzle-orm";
import type { Database } from "../src/db/client.ts";

export interface SeedOptions {
  messages: number;
  rooms?: number;
  users?: number;
}

export interface Seeded {
  bigRoomId: string;
  bigRoomMessages: number;
  readerId: string;
  roomIds: string[];
  /** Words with a known share of messages: in every one, in 1%, in 0.01%. */
  words: { common: string; middling: string; rare: string };
}

const uuid = (n: number, tag: number) => `00000000-0000-4000-8${String(tag).padStart(3, "0")}-${String(n).padStart(12, "0")}`;

export async function seedMessages(database: Database, opts: SeedOptions): Promise<Seeded> {
  const { db } = database;
  const roomCount = opts.rooms ?? 100;
  const userCount = opts.users ?? 1000;
  const big = Math.floor(opts.messages / 2);
  const rest = opts.messages - big;
  const others = roomCount - 1;
  const roomIds = Array.from({ length: roomCount }, (_, i) => uuid(i + 1, 1));
  const [bigRoomId] = roomIds as [string];
  const readerId = uuid(1, 2);

  await db.execute(sql`insert into users (id, email, username, password_hash)
    select ('00000000-0000-4000-8002-' || lpad(g::text, 12, '0'))::uuid, 'seed' || g || '@example.com', 'seed' || g, 'x'
    from generate_series(1, ${userCount}) g`);
  await db.execute(sql`insert into rooms (id, slug, name, is_private, last_seq)
    select ('00000000-0000-4000-8001-' || lpad(g::text, 12, '0'))::uuid, 'seed-room-' || g, 'Seed room ' || g, false, 0
    from generate_series(1, ${roomCount}) g`);
  // The reader in every room; everybody in the big one.
  await db.execute(sql`insert into room_members (room_id, user_id, role)
    select r.id, ${readerId}::uuid, 'member' from rooms r where r.slug like 'seed-room-%'`);
  await db.execute(sql`insert into room_members (room_id, user_id)
    select ${bigRoomId}::uuid, u.id from users u where u.email like 'seed%@example.com' and u.id <> ${readerId}::uuid`);

  const content = (g: string) => sql.raw(`'hello ' || case when ${g} % 10000 = 0 then 'zebra ' else '' end
      || case when ${g} % 100 = 0 then 'middling ' else '' end || 'message number ' || ${g}`);
  const author = (g: string) => sql.raw(`('00000000-0000-4000-8002-' || lpad((1 + ${g} % ${userCount})::text, 12, '0'))::uuid`);
  // Oldest first, a millisecond apart, in both series.
  await db.execute(sql`insert into messages (id, room_id, seq, author_id, client_msg_id, content, created_at)
    select gen_random_uuid(), ${bigRoomId}::uuid, g, ${author("g")}, 'seed-' || g, ${content("g")},
      now() - (${opts.messages} - g) * interval '1 millisecond'
    from generate_series(1, ${big}) g`);
  await db.execute(sql`insert into messages (id, room_id, seq, author_id, client_msg_id, content, created_at)
    select gen_random_uuid(), ('00000000-0000-4000-8001-' || lpad((2 + g % ${others})::text, 12, '0'))::uuid,
      g / ${others} + 1, ${author("g")}, 'seed-' || g, ${content("g")}, now() - (${rest} - g) * interval '1 millisecond'
    from generate_series(0, ${rest - 1}) g`);
  // One message in a hundred of the big room edited once since: each edit takes the room's next value.
  await db.execute(sql`with edited as (
      select id, seq, ${big} + row_number() over (order by seq) as value from messages
      where room_id = ${bigRoomId}::uuid and seq % 100 = 50
    ), changed as (
      update messages m set updated_seq = e.value, edited_at = now() from edited e where m.id = e.id returning m.id, e.value
    )
    insert into message_changes (room_id, seq, message_id, kind) select ${bigRoomId}::uuid, value, id, 'edited' from changed`);
  await db.execute(sql`update rooms r set last_seq = coalesce((select max(greatest(seq, coalesce(updated_seq, 0))) from messages m where m.room_id = r.id), 0)
    where r.slug like 'seed-room-%'`);
  await db.execute(sql`vacuum analyze`);
  return {
    bigRoomId,
    bigRoomMessages: big,
    readerId,
    roomIds,
    words: { common: "hello", middling: "middling", rare: "zebra" },
  };
}
