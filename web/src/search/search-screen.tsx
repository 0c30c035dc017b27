import { useEffect, useState, type FormEvent } from "react";
import type { Message } from "../../../src/protocol.ts";
import { api, ApiError } from "../api.ts";
import { useChat } from "../app/chat-store.ts";
import { navigate } from "../app/router.ts";
import { clockTime } from "../ui/avatar.tsx";
import { BackButton } from "../ui/back-button.tsx";

export default function SearchScreen({ initial }: { initial: string }) {
  const rooms = useChat((s) => s.rooms);
  const [q, setQ] = useState(initial);
  const [results, setResults] = useState<Message[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function run(text: string) {
    if (!text.trim()) return;
    setError(null);
    try {
      setResults((await api.search(text.trim())).data);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  }
  useEffect(() => void run(initial), [initial]);

  function submit(e: FormEvent) {
    e.preventDefault();
    navigate(`/search?q=${encodeURIComponent(q)}`, { replace: true });
    void run(q);
  }

  return (
    <section className="screen" aria-labelledby="search-title">
      <header className="screen-head">
        <BackButton />
        <h1 id="search-title">Search</h1>
      </header>
      <form onSubmit={submit} className="search-form" role="search">
        <label className="sr-only" htmlFor="search-q">
          Search messages
        </label>
        <input id="search-q" type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Search messages in your rooms" maxLength={200} autoFocus />
        <button type="submit" className="primary">
          Search
        </button>
      </form>
      {error && <p className="form-error" role="alert">{error}</p>}
      <ul className="search-results">
        {results?.map((m) => (
          <li key={m.id}>
            <a
              href={`/r/${m.roomId}?m=${m.seq}`}
              onClick={(e) => {
                e.preventDefault();
                navigate(`/r/${m.roomId}?m=${m.seq}`);
              }}
            >
              <span className="muted">
                # {rooms[m.roomId]?.name ?? "room"} · {m.author.username} · {clockTime(m.createdAt)}
              </span>
              <span className="result-text">{m.content}</span>
            </a>
          </li>
        ))}
        {results?.length === 0 && <li className="muted">No messages found.</li>}
      </ul>
    </section>
  );
}
