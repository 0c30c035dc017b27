import { useState, type FormEvent } from "react";
import { api, ApiError } from "../api.ts";
import { chat } from "../app/chat-store.ts";
import { navigate } from "../app/router.ts";
import { Dialog } from "../ui/dialog.tsx";

export default function CreateRoomDialog({ onClose }: { onClose: () => void }) {
  const [name, setName] = useState("");
  const [isPrivate, setPrivate] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    try {
      const room = await api.createRoom({ name: name.trim(), isPrivate });
      chat.dispatch({ type: "room_upserted", room });
      onClose();
      navigate(`/r/${room.id}`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  }

  return (
    <Dialog title="New room" onClose={onClose}>
      <form onSubmit={submit} className="stack">
        <label>
          Name
          <input required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} autoFocus />
        </label>
        <label className="check">
          <input type="checkbox" checked={isPrivate} onChange={(e) => setPrivate(e.target.checked)} />
          Private (invite only)
        </label>
        {error && <p className="form-error" role="alert">{error}</p>}
        <button type="submit" className="primary">
          Create
        </button>
      </form>
    </Dialog>
  );
}
