import { memo, useState, type KeyboardEvent } from "react";
import type { Message } from "../../../src/protocol.ts";
import type { PendingMessage } from "../apply-event.ts";
import { Avatar, clockTime } from "../ui/avatar.tsx";

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉"];

export interface RowActions {
  edit(id: string, content: string): Promise<void>;
  remove(id: string): Promise<void>;
  react(id: string, emoji: string): Promise<void>;
  retry(clientMsgId: string): Promise<void>;
}

export type Item = { kind: "message"; message: Message } | { kind: "pending"; pending: PendingMessage };

interface RowProps {
  item: Item;
  /** Same author as the row above, within a few minutes: no avatar or name again. */
  grouped: boolean;
  mine: boolean;
  myId: string;
  unreadMarker: boolean;
  highlighted: boolean;
  actions: RowActions;
  /** Not connected: a pending message waits in the outbox. */
  offline?: boolean;
}

/** One row of the list; memoized, so a new message re-renders only itself. */
export const MessageRow = memo(function MessageRow({ item, grouped, mine, myId, unreadMarker, highlighted, actions, offline }: RowProps) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);

  const m = item.kind === "message" ? item.message : null;
  const p = item.kind === "pending" ? item.pending : null;
  const author = m?.author ?? p!.author;
  const content = m?.content ?? p!.content;
  const createdAt = m?.createdAt ?? p!.createdAt;
  const deleted = Boolean(m?.deletedAt);

  function onEditKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === "Escape") {
      e.preventDefault();
      setEditing(false);
    } else if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      const text = draft.trim();
      if (!text || !m) return;
      actions.edit(m.id, text).then(
        () => setEditing(false),
        (err) => setError(String(err?.message ?? err)),
      );
    }
  }

  return (
    <div
      className={`row${grouped ? " grouped" : ""}${p ? ` pending ${p.status}` : ""}${highlighted ? " highlighted" : ""}`}
      data-seq={m?.seq}
      data-client-msg-id={m?.clientMsgId ?? p?.clientMsgId}
    >
      {unreadMarker && (
        <div className="unread-marker" role="separator">
          <span>New messages</span>
        </div>
      )}
      <div className="row-inner">
        <div className="row-avatar">{!grouped && <Avatar name={author.username} id={author.id} />}</div>
        <div className="row-body">
          {!grouped && (
            <div className="row-head">
              <span className="author">{author.username}</span>
              <time dateTime={createdAt}>{clockTime(createdAt)}</time>
            </div>
          )}
          {editing ? (
            <div className="edit-box">
              <label className="sr-only" htmlFor={`edit-${m!.id}`}>
                Edit message
              </label>
              <textarea id={`edit-${m!.id}`} autoFocus value={draft} onChange={(e) => setDraft(e.target.value)} onKeyDown={onEditKey} rows={2} maxLength={4000} />
              <span className="hint">Enter to save · Escape to cancel</span>
              {error && <span className="form-error">{error}</span>}
            </div>
          ) : (
            <p className={`content${deleted ? " deleted" : ""}`}>
              {deleted ? "This message was deleted" : content}
              {m?.editedAt && !deleted && <span className="edited"> (edited)</span>}
            </p>
          )}
          {p?.status === "pending" && <span className="status">{offline ? "Waiting for the connection…" : "Sending…"}</span>}
          {p?.status === "failed" && (
            <span className="status failed" role="alert">
              Not sent{p.error ? `: ${p.error}` : ""} ·{" "}
              <button type="button" className="link" onClick={() => void actions.retry(p.clientMsgId)}>
                Retry
              </button>
            </span>
          )}
          {m && m.reactions.length > 0 && !deleted && (
            <div className="reactions">
              {m.reactions.map((r) => (
                <button
                  type="button"
                  key={r.emoji}
                  className={`reaction${r.userIds.includes(myId) ? " mine" : ""}`}
                  aria-label={`${r.emoji} ${r.count}`}
                  aria-pressed={r.userIds.includes(myId)}
                  onClick={() => void actions.react(m.id, r.emoji)}
                >
                  {r.emoji} {r.count}
                </button>
              ))}
            </div>
          )}
        </div>
        {m && !deleted && !editing && (
          <div className="row-actions" role="toolbar" aria-label="Message actions">
            {QUICK_REACTIONS.map((emoji) => (
              <button type="button" key={emoji} aria-label={`React ${emoji}`} onClick={() => void actions.react(m.id, emoji)}>
                {emoji}
              </button>
            ))}
            {mine && (
              <>
                <button
                  type="button"
                  aria-label="Edit"
                  onClick={() => {
                    setDraft(m.content);
                    setError(null);
                    setEditing(true);
                  }}
                >
                  ✏️
                </button>
                {confirming ? (
                  <>
                    <button type="button" className="danger" onClick={() => void actions.remove(m.id).finally(() => setConfirming(false))}>
                      Delete
                    </button>
                    <button type="button" onClick={() => setConfirming(false)}>
                      Keep
                    </button>
                  </>
                ) : (
                  <button type="button" aria-label="Delete" onClick={() => setConfirming(true)}>
                    🗑️
                  </button>
                )}
              </>
            )}
          </div>
        )}
      </div>
    </div>
  );
});

/**
 * A sent message as drawn in the room's first paint, before the list has positioned itself
 * (message-list.tsx): the same look as MessageRow, no controls, and class names of its own so
 * that nothing taking rows from the page (tests, scripts) sees a message twice.
 */
export const PreviewRow = memo(function PreviewRow({ message: m, grouped }: { message: Message; grouped: boolean }) {
  const deleted = Boolean(m.deletedAt);
  return (
    <div className={`preview-row${grouped ? " grouped" : ""}`}>
      <div className="row-inner">
        <div className="row-avatar">{!grouped && <Avatar name={m.author.username} id={m.author.id} />}</div>
        <div className="row-body">
          {!grouped && (
            <div className="row-head">
              <span className="author">{m.author.username}</span>
              <time dateTime={m.createdAt}>{clockTime(m.createdAt)}</time>
            </div>
          )}
          <p className={`preview-content${deleted ? " deleted" : ""}`}>
            {deleted ? "This message was deleted" : m.content}
            {m.editedAt && !deleted && <span className="edited"> (edited)</span>}
          </p>
          {m.reactions.length > 0 && !deleted && (
            <div className="reactions">
              {m.reactions.map((r) => (
                <span key={r.emoji} className="preview-reaction">
                  {r.emoji} {r.count}
                </span>
              ))}
            </div>
          )}
        </div>
      </div>
    </div>
  );
});
