import { useChat } from "../app/chat-store.ts";

const LABELS = { connecting: "Connecting…", connected: "Connected", reconnecting: "Reconnecting…", offline: "Offline" } as const;

export function ConnectionBadge() {
  const state = useChat((s) => s.connection);
  return (
    <span className={`conn conn-${state}`} role="status" aria-live="polite" data-state={state}>
      <span className="dot" aria-hidden="true" />
      {LABELS[state]}
    </span>
  );
}
