// Postgres access for the peer, on the product's schema (drizzle/ migrations), so both
// servers persist exactly the same rows. Named queries: pg prepares each once per connection.
import { createHash, randomBytes, randomUUID } from "node:crypto";

export const hashToken = (token) => createHash("sha256").update(token).digest("hex");

const ROOM_COLUMNS = `r.id, r.slug, r.name, r.is_private, r.created_at, r.last_seq,
  (select count(*)::int from room_members m where m.room_id = r.id) as member_count`;

export const toRoom = (row) => ({
  id: row.id,
  slug: row.slug,
  name: row.name,
  isPrivate: row.is_private,
  createdAt: row.created_at.toISOString(),
  memberCount: Number(row.member_count),
  lastSeq: Number(row.last_seq),
});

export const toMessage = (row) => ({
  id: row.id,
  roomId: row.room_id,
  seq: Number(row.seq),
  updatedSeq: row.updated_seq === null ? null : Number(row.updated_seq),
  author: { id: row.author_id, username: row.username },
  content: row.content,
  clientMsgId: row.client_msg_id,
  sentAt: row.sent_at === null ? null : Number(row.sent_at),
  createdAt: row.created_at.toISOString(),
  editedAt: row.edited_at?.toISOString() ?? null,
  deletedAt: row.deleted_at?.toISOString() ?? null,
  reactions: [],
});

// Persist before emit: the room's counter and the insert in one statement (one transaction),
// UPDATE ... RETURNING takes the row lock, so seq order is commit order.
const SEND = `
  with next as (
    update rooms set last_seq = last_seq + 1
    where id = $2
      and exists (select 1 from room_members where room_id = $2 and user_id = $3)
      and not exists (select 1 from messages where room_id = $2 and author_id = $3 and client_msg_id = $4)
    returning last_seq
  )
  insert into messages (id, room_id, seq, author_id, client_msg_id, content, sent_at)
  select $1, $2, next.last_seq, $3, $4, $5, $6 from next
  on conflict (room_id, author_id, client_msg_id) do nothing
  returning id, room_id, seq, updated_seq, author_id, client_msg_id, content, sent_at, created_at, edited_at, deleted_at`;

export function createStore(pool, { sessionTtlDays }) {
  const one = async (query) => (await pool.query(query)).rows[0];
  return {
    userByEmail: (email) =>
      one({ name: "user-by-email", text: "select id, email, username, password_hash from users where lower(email) = lower($1)", values: [email] }),

    async createSession(userId) {
      const token = randomBytes(32).toString("base64url");
      const expires = new Date(Date.now() + sessionTtlDays * 86_400_000);
      await pool.query({
        name: "session-insert",
        text: "insert into sessions (id, user_id, token_hash, expires_at) values ($1, $2, $3, $4)",
        values: [randomUUID(), userId, hashToken(token), expires],
      });
      return token;
    },

    userByToken: (token) =>
      one({
        name: "user-by-token",
        text: `select u.id, u.email, u.username from sessions s join users u on u.id = s.user_id
               where s.token_hash = $1 and s.revoked_at is null and s.expires_at > now()`,
        values: [hashToken(token)],
      }),

    /** A room the user may read (public, or a member of it), by id or slug. */
    roomFor: (key, userId) =>
      one({
        name: "room-for",
        text: `select ${ROOM_COLUMNS}, (select role from room_members m where m.room_id = r.id and m.user_id = $2) as role
               from rooms r where (r.id::text = $1 or r.slug = $1)
               and (not r.is_private or exists (select 1 from room_members m where m.room_id = r.id and m.user_id = $2))`,
        values: [key, userId],
      }),

    async lastSeq(roomId) {
      const row = await one({ name: "room-last-seq", text: "select last_seq from rooms where id = $1", values: [roomId] });
      return Number(row.last_seq);
    },

    join: (roomId, userId) =>
      pool.query({
        name: "member-insert",
        text: "insert into room_members (room_id, user_id) values ($1, $2) on conflict do nothing",
        values: [roomId, userId],
      }),

    async listRooms(userId, limit) {
      const { rows } = await pool.query({
        name: "rooms-list",
        text: `select ${ROOM_COLUMNS} from rooms r
               where not r.is_private or exists (select 1 from room_members m where m.room_id = r.id and m.user_id = $1)
               order by r.id limit $2`,
        values: [userId, limit],
      });
      return rows.map(toRoom);
    },

    async createRoom(name, userId) {
      const slug = `${name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 40) || "room"}-${randomBytes(3).toString("hex")}`;
      const id = randomUUID();
      const client = await pool.connect();
      try {
        await client.query("begin");
        await client.query("insert into rooms (id, slug, name, created_by) values ($1, $2, $3, $4)", [id, slug, name, userId]);
        await client.query("insert into room_members (room_id, user_id, role) values ($1, $2, 'owner')", [id, userId]);
        await client.query("commit");
      } catch (err) {
        await client.query("rollback").catch(() => {});
        throw err;
      } finally {
        client.release();
      }
      return toRoom(await one({ text: `select ${ROOM_COLUMNS} from rooms r where r.id = $1`, values: [id] }));
    },

    async history(roomId, before, limit) {
      const { rows } = await pool.query({
        name: "history",
        text: `select * from (
                 select m.*, u.username from messages m join users u on u.id = m.author_id
                 where m.room_id = $1 and m.seq < $2 order by m.seq desc limit $3
               ) page order by seq`,
        values: [roomId, before ?? Number.MAX_SAFE_INTEGER, limit],
      });
      return rows.map(toMessage);
    },

    markRead: (roomId, userId, seq) =>
      pool.query({
        name: "read-marker",
        text: "update room_members set last_read_seq = greatest(last_read_seq, $3) where room_id = $1 and user_id = $2",
        values: [roomId, userId, seq],
      }),

    /** Returns the new message's row, or undefined when nothing was written (not a member, or a retry). */
    send: ({ roomId, userId, clientMsgId, content, sentAt }) =>
      one({ name: "send", text: SEND, values: [randomUUID(), roomId, userId, clientMsgId, content, sentAt] }),

    existing: (roomId, userId, clientMsgId) =>
      one({
        name: "message-by-client-id",
        text: "select m.*, u.username from messages m join users u on u.id = m.author_id where room_id = $1 and author_id = $2 and client_msg_id = $3",
        values: [roomId, userId, clientMsgId],
      }),
  };
}
