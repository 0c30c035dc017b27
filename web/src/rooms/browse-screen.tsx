import { useEffect, useState } from "react";
import type { Room } from "../../../src/protocol.ts";
import { api, ApiError } from "../api.ts";
import { chat, useChat } from "../app/chat-store.ts";
import { navigate } from "../app/router.ts";
import { BackButton } from "../ui/back-button.tsx";

export default function BrowseScreen() {
  const mine = useChat((s) => s.rooms);
  const [rooms, setRooms] = useState<Room[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api.publicRooms().then(
      (r) => setRooms(r.data.filter((room) => !room.isPrivate)),
      (err) => setError(err instanceof ApiError ? err.message : String(err)),
    );
  }, []);

  async function join(room: Room) {
    try {
      const joined = await api.join(room.id);
      chat.dispatch({ type: "room_upserted", room: joined });
      navigate(`/r/${room.id}`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  }

  return (
    <section className="screen" aria-labelledby="browse-title">
      <header className="screen-head">
        <BackButton />
        <h1 id="browse-title">Public rooms</h1>
      </header>
      {error && <p className="form-error" role="alert">{error}</p>}
      {!rooms && !error && <p className="loading">Loading…</p>}
      <ul className="browse-list">
        {rooms?.map((room) => (
          <li key={room.id}>
            <div>
              <strong># {room.name}</strong>
              <span className="muted">
                {room.memberCount} {room.memberCount === 1 ? "member" : "members"}
              </span>
            </div>
            {mine[room.id] ? (
              <button type="button" onClick={() => navigate(`/r/${room.id}`)}>
                Open
              </button>
            ) : (
              <button type="button" className="primary" onClick={() => void join(room)}>
                Join
              </button>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
