import { memo } from "react";

const COLORS = ["#ef4444", "#f97316", "#eab308", "#22c55e", "#14b8a6", "#3b82f6", "#6366f1", "#a855f7", "#ec4899"];

function colorOf(key: string) {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) | 0;
  return COLORS[Math.abs(h) % COLORS.length]!;
}

export const Avatar = memo(function Avatar({ name, id, size = 36 }: { name: string; id: string; size?: number }) {
  return (
    <span className="avatar" aria-hidden="true" style={{ background: colorOf(id), width: size, height: size, fontSize: size * 0.42 }}>
      {(name[0] ?? "?").toUpperCase()}
    </span>
  );
});

export function timeAgo(iso: string | null, now = Date.now()): string {
  if (!iso) return "";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return "now";
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return (dayFormat ??= new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" })).format(Date.parse(iso));
}

// One formatter each, made on first use: toLocaleTimeString builds a new one on every call,
// which for a page of rows costs tens of ms on a slow phone.
let dayFormat: Intl.DateTimeFormat | undefined;
let clockFormat: Intl.DateTimeFormat | undefined;
export const clockTime = (iso: string) => (clockFormat ??= new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" })).format(Date.parse(iso));
