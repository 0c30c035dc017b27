import { lazy, memo, Suspense, useMemo, useState } from "react";
import type { RoomSummary } from "../apply-event.ts";
import { chat, useChat } from "../app/chat-store.ts";
import { askNotificationConsent, notificationsSupported } from "../app/notify.ts";
import { navigate } from "../app/router.ts";
import { Avatar, timeAgo } from "../ui/avatar.tsx";
import { ConnectionBadge } from "../ui/connection-badge.tsx";

const CreateRoomDialog = lazy(() => import("./create-room-dialog.tsx"));
const UserPickerDialog = lazy(() => import("./user-picker-dialog.tsx"));

const isDirect = (room: RoomSummary) => room.slug.startsWith("dm-");
/** The server's times are all toISOString() values: as strings they sort as the times do. */
const byIso = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
// localeCompare builds a collator on every call; one, made on first use.
let collator: Intl.Collator | undefined;
const byName = { compare: (a: string, b: string) => (collator ??= new Intl.Collator()).compare(a, b) };

/** A DM's name lists both people; show the other one. */
export function roomTitle(room: RoomSummary, myName: string | undefined) {
  if (!isDirect(room)) return room.name;
  const other = room.name.split(", ").filter((n) => n !== myName);
  return other.join(", ") || room.name;
}

export function Sidebar({ activeRoomId }: { activeRoomId?: string }) {
  const me = useChat((s) => s.me);
  const roomsById = useChat((s) => s.rooms);
  const [dialog, setDialog] = useState<"create" | "dm" | null>(null);
  const [notify, setNotify] = useState(() => (notificationsSupported() ? Notification.permission : "denied"));
  const rooms = useMemo(
    () =>
      Object.values(roomsById).sort(
        (a, b) => byIso(b.lastActivityAt ?? b.createdAt, a.lastActivityAt ?? a.createdAt) || byName.compare(a.name, b.name),
      ),
    [roomsById],
  );
  const channels = rooms.filter((r) => !isDirect(r));
  const directs = rooms.filter(isDirect);

  return (
    <aside className="sidebar" aria-label="Rooms">
      <header className="sidebar-head">
        <div className="brand">
          <img src="/icons/icon-192.png" alt="" width={28} height={28} />
          <span>Bun Chat</span>
        </div>
        <ConnectionBadge />
      </header>
      <nav className="sidebar-actions" aria-label="Actions">
        <button type="button" onClick={() => navigate("/search")}>
          🔍 Search
        </button>
        <button type="button" onClick={() => navigate("/browse")}>
          🧭 Browse
        </button>
        <button type="button" onClick={() => setDialog("create")}>
          + New room
        </button>
      </nav>
      <div className="room-lists">
        <h2>My rooms</h2>
        <ul className="room-list">
          {channels.map((room) => (
            <RoomItem key={room.id} room={room} active={room.id === activeRoomId} title={`# ${room.name}`} />
          ))}
          {channels.length === 0 && <li className="muted">No rooms yet: browse or create one.</li>}
        </ul>
        <h2 className="with-action">
          Direct messages
          <button type="button" aria-label="New direct message" onClick={() => setDialog("dm")}>
            +
          </button>
        </h2>
        <ul className="room-list">
          {directs.map((room) => (
            <RoomItem key={room.id} room={room} active={room.id === activeRoomId} title={roomTitle(room, me?.username)} />
          ))}
        </ul>
      </div>
      <footer className="sidebar-foot">
        {me && <Avatar name={me.username} id={me.id} size={32} />}
        <span className="me-name">{me?.username}</span>
        {notificationsSupported() && notify === "default" && (
          <button type="button" className="ghost" title="Notify me of direct messages and mentions" onClick={() => void askNotificationConsent().then(setNotify)}>
            🔔
          </button>
        )}
        <button type="button" className="ghost" onClick={() => void chat.logout().then(() => navigate("/login"))}>
          Log out
        </button>
      </footer>
      <Suspense fallback={null}>
        {dialog === "create" && <CreateRoomDialog onClose={() => setDialog(null)} />}
        {dialog === "dm" && (
          <UserPickerDialog
            title="New direct message"
            onClose={() => setDialog(null)}
            onPick={async (user) => {
              const { api } = await import("../api.ts");
              const room = await api.dm(user.id);
              chat.dispatch({ type: "room_upserted", room });
              setDialog(null);
              navigate(`/r/${room.id}`);
            }}
          />
        )}
      </Suspense>
    </aside>
  );
}

const RoomItem = memo(function RoomItem({ room, active, title }: { room: RoomSummary; active: boolean; title: string }) {
  const unread = active ? 0 : room.unreadCount;
  return (
    <li>
      <a
        href={`/r/${room.id}`}
        className={`room-item${active ? " active" : ""}${unread ? " unread" : ""}`}
        aria-current={active ? "page" : undefined}
        onClick={(e) => {
          e.preventDefault();
          navigate(`/r/${room.id}`);
        }}
      >
        <span className="room-name">
          {room.isPrivate && !room.slug.startsWith("dm-") ? "🔒 " : ""}
          {title}
        </span>
        <span className="room-meta">
          <time dateTime={room.lastActivityAt ?? undefined}>{timeAgo(room.lastActivityAt)}</time>
          {unread > 0 && (
            <span className="badge" aria-label={`${unread} unread`}>
              {unread > 99 ? "99+" : unread}
            </span>
          )}
        </span>
      </a>
    </li>
  );
});
