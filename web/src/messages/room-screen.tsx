import { lazy, Suspense, useCallback, useEffect, useMemo, useState } from "react";
import { api, ApiError } from "../api.ts";
import { chat, useChat } from "../app/chat-store.ts";
import { navigate } from "../app/router.ts";
import { roomTitle } from "../rooms/sidebar.tsx";
import { Avatar } from "../ui/avatar.tsx";
import { BackButton } from "../ui/back-button.tsx";
import { Composer } from "./composer.tsx";
import { MessageList } from "./message-list.tsx";
import type { RowActions } from "./message-row.tsx";

// Whoever is online in the room is a member: the count is at least that (it was read at open).
const members = (n: number) => `${n} ${n === 1 ? "member" : "members"}`;

const UserPickerDialog = lazy(() => import("../rooms/user-picker-dialog.tsx"));

const actions: RowActions = {
  edit: (id, content) => chat.edit(id, content),
  remove: (id) => chat.remove(id),
  react: (id, emoji) => chat.react(id, emoji),
  retry: (clientMsgId) => chat.retry(clientMsgId),
};

export default function RoomScreen({ roomId, jumpTo }: { roomId: string; jumpTo?: number }) {
  const me = useChat((s) => s.me)!;
  const room = useChat((s) => s.rooms[roomId]);
  const view = useChat((s) => s.views[roomId]);
  const allPending = useChat((s) => s.pending);
  const pending = useMemo(() => allPending.filter((p) => p.roomId === roomId), [allPending, roomId]);
  const [error, setError] = useState<string | null>(null);
  // Ready at once when the room's page was applied before this render (see chat.primeRoom).
  const [ready, setReady] = useState(() => Boolean(chat.getState().views[roomId]?.loaded) && jumpTo === undefined);
  const [inviting, setInviting] = useState(false);
  // The read marker as it was when the room opened (the list draws its "new messages" line there).
  const [openedReadSeq, setOpenedReadSeq] = useState(() => chat.getState().rooms[roomId]?.lastReadSeq ?? 0);

  useEffect(() => {
    let cancelled = false;
    // The header's details, when the room list has not brought them (yet): beside the messages, not before.
    if (!chat.getState().rooms[roomId]) {
      api.room(roomId).then(
        (r) => !chat.getState().rooms[roomId] && r.unreadCount !== undefined && chat.dispatch({ type: "room_upserted", room: r }),
        () => {},
      );
    }
    (async () => {
      await chat.openRoom(roomId);
      if (jumpTo !== undefined) {
        for (let i = 0; i < 40; i++) {
          const v = chat.getState().views[roomId];
          if (!v || v.reachedStart || (v.messages[0]?.seq ?? 0) <= jumpTo) break;
          await chat.loadOlder(roomId);
        }
      }
    })().then(
      () => {
        if (cancelled) return;
        setOpenedReadSeq(chat.getState().rooms[roomId]?.lastReadSeq ?? 0);
        setReady(true);
      },
      (err) => {
        if (cancelled) return;
        // Offline with nothing cached: still show whatever this tab holds.
        if (err instanceof ApiError && err.status === 0 && chat.getState().views[roomId]) setReady(true);
        else setError(err instanceof ApiError ? (err.status === 404 ? "This room does not exist, or it is private." : err.message) : String(err));
      },
    );
    return () => {
      cancelled = true;
      chat.closeRoom(roomId);
    };
  }, [roomId, jumpTo]);

  useEffect(() => {
    if (!view?.typing.length) return;
    const t = setInterval(() => chat.dispatch({ type: "typing_expired", now: Date.now() }), 1000);
    return () => clearInterval(t);
  }, [view?.typing.length]);

  const loadOlder = useCallback(() => chat.loadOlder(roomId).catch(() => {}), [roomId]);
  const onReadBottom = useCallback(() => {
    const v = chat.getState().views[roomId];
    if (v && v.lastSeq > 0 && !document.hidden) chat.markRead(roomId, v.lastSeq);
  }, [roomId]);

  const title = room ? roomTitle(room, me.username) : "";
  const isDirect = room?.slug.startsWith("dm-");
  const typers = (view?.typing ?? []).filter((t) => t.user.id !== me.id);
  const online = view?.online;

  if (error) {
    return (
      <section className="screen">
        <header className="screen-head">
          <BackButton />
          <h1>Room</h1>
        </header>
        <p className="form-error" role="alert">
          {error}
        </p>
      </section>
    );
  }

  return (
    <section className="room" aria-label={`Room ${title}`}>
      <header className="room-head">
        <BackButton />
        <div className="room-title">
          <h1>{isDirect ? title : `# ${title}`}</h1>
          <span className="muted">
            {room ? members(Math.max(room.memberCount, online?.total ?? 0)) : ""}
            {online && online.total > 0 ? ` · ${online.total} online` : ""}
          </span>
        </div>
        <div className="online" aria-label="Online now">
          {online?.users.slice(0, 5).map((u) => (
            <span key={u.id} title={u.username} className="online-user">
              <Avatar name={u.username} id={u.id} size={26} />
            </span>
          ))}
        </div>
        {room?.isPrivate && !isDirect && (
          <button type="button" onClick={() => setInviting(true)}>
            Invite
          </button>
        )}
        {room && (
          <button
            type="button"
            className="ghost"
            onClick={() =>
              void api.leave(roomId).then(() => {
                chat.dispatch({ type: "room_removed", roomId });
                navigate("/");
              })
            }
          >
            Leave
          </button>
        )}
      </header>
      {ready && view ? (
        <MessageList
          messages={view.messages}
          pending={pending}
          myId={me.id}
          lastReadSeq={openedReadSeq}
          reachedStart={view.reachedStart}
          jumpTo={jumpTo}
          loadOlder={loadOlder}
          onReadBottom={onReadBottom}
          actions={actions}
        />
      ) : (
        <div className="loading">Loading messages…</div>
      )}
      <div className="typing" aria-live="polite">
        {typers.length > 0 && `${typers.map((t) => t.user.username).join(", ")} ${typers.length === 1 ? "is" : "are"} typing…`}
      </div>
      <Composer roomName={isDirect ? title : `#${title}`} onSend={(text) => void chat.send(roomId, text)} onTyping={() => chat.typing(roomId)} />
      <Suspense fallback={null}>
        {inviting && (
          <UserPickerDialog
            title={`Invite to #${title}`}
            onClose={() => setInviting(false)}
            onPick={async (u) => {
              await api.invite(roomId, u.id);
            }}
          />
        )}
      </Suspense>
    </section>
  );
}
