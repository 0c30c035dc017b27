import { useEffect, useState } from "react";
import type { UserRef } from "../../../src/protocol.ts";
import { api, ApiError } from "../api.ts";
import { useChat } from "../app/chat-store.ts";
import { Avatar } from "../ui/avatar.tsx";
import { Dialog } from "../ui/dialog.tsx";

/** Finds people by username prefix (for invites and direct messages). */
export default function UserPickerDialog({ title, onClose, onPick }: { title: string; onClose: () => void; onPick: (u: UserRef) => Promise<void> }) {
  const me = useChat((s) => s.me);
  const [q, setQ] = useState("");
  const [users, setUsers] = useState<UserRef[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string[]>([]);

  useEffect(() => {
    const text = q.trim();
    if (!text) return setUsers([]);
    const timer = setTimeout(() => {
      api.users(text).then(
        (r) => setUsers(r.data.filter((u) => u.id !== me?.id)),
        (err) => setError(err instanceof ApiError ? err.message : String(err)),
      );
    }, 150);
    return () => clearTimeout(timer);
  }, [q, me?.id]);

  return (
    <Dialog title={title} onClose={onClose}>
      <div className="stack">
        <label>
          Username
          <input value={q} onChange={(e) => setQ(e.target.value)} placeholder="Start typing a name" autoFocus maxLength={50} />
        </label>
        {error && <p className="form-error" role="alert">{error}</p>}
        <ul className="user-list">
          {users.map((u) => (
            <li key={u.id}>
              <Avatar name={u.username} id={u.id} size={28} />
              <span>{u.username}</span>
              <button
                type="button"
                disabled={done.includes(u.id)}
                onClick={() =>
                  void onPick(u).then(
                    () => setDone((d) => [...d, u.id]),
                    (err) => setError(err instanceof ApiError ? err.message : String(err)),
                  )
                }
              >
                {done.includes(u.id) ? "Done" : "Choose"}
              </button>
            </li>
          ))}
          {q.trim() && users.length === 0 && <li className="muted">Nobody found.</li>}
        </ul>
      </div>
    </Dialog>
  );
}
