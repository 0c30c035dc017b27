import { useRef, useState, type FormEvent, type KeyboardEvent } from "react";

// The server's limit (src/protocol.ts CONTENT_MAX); repeated here so the client bundles no zod.
const CONTENT_MAX = 4000;
const TYPING_EVERY_MS = 2_000;

export function Composer({ roomName, onSend, onTyping }: { roomName: string; onSend: (text: string) => void; onTyping: () => void }) {
  const [text, setText] = useState("");
  const lastTyping = useRef(0);
  const ref = useRef<HTMLTextAreaElement>(null);

  function send(e?: FormEvent) {
    e?.preventDefault();
    if (!text.trim()) return;
    onSend(text);
    setText("");
    ref.current?.focus();
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    // Enter sends, Shift+Enter is a new line (and IME composition is left alone).
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send();
    }
  }

  return (
    <form className="composer" onSubmit={send}>
      <label htmlFor="composer-input" className="sr-only">
        Message {roomName}
      </label>
      <textarea
        id="composer-input"
        ref={ref}
        rows={1}
        value={text}
        maxLength={CONTENT_MAX}
        placeholder={`Message ${roomName}`}
        onKeyDown={onKeyDown}
        onChange={(e) => {
          setText(e.target.value);
          const now = Date.now();
          if (e.target.value && now - lastTyping.current > TYPING_EVERY_MS) {
            lastTyping.current = now;
            onTyping();
          }
        }}
      />
      <button type="submit" className="send primary" aria-label="Send" disabled={!text.trim()}>
        ➤
      </button>
    </form>
  );
}
