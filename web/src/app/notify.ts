// A notification for a direct message or a mention, only while the tab is hidden
// and only after the user said yes (the permission is asked from a button).
import type { ChatState, ServerFrameIn } from "../apply-event.ts";

export const notificationsSupported = () => typeof Notification !== "undefined";

export async function askNotificationConsent(): Promise<NotificationPermission> {
  if (!notificationsSupported()) return "denied";
  return Notification.permission === "default" ? Notification.requestPermission() : Notification.permission;
}

const isDirect = (slug: string | undefined) => Boolean(slug?.startsWith("dm-"));

export function notifyIfHidden(frame: ServerFrameIn, state: ChatState) {
  if (!notificationsSupported() || Notification.permission !== "granted" || !document.hidden || !state.me) return;
  if (frame.event === "new_message") {
    const m = frame.data;
    if (m.author.id === state.me.id) return;
    const room = state.rooms[m.roomId];
    const mention = m.content.toLowerCase().includes(`@${state.me.username.toLowerCase()}`);
    if (!isDirect(room?.slug) && !mention) return;
    new Notification(isDirect(room?.slug) ? m.author.username : `${m.author.username} in ${room?.name ?? "a room"}`, {
      body: m.content.slice(0, 140),
      tag: m.roomId,
    });
  } else if (frame.event === "room_activity") {
    const room = state.rooms[frame.data.roomId];
    // Open rooms get new_message (with the text) instead.
    if (!room || !isDirect(room.slug) || state.views[room.id]?.loaded || frame.data.lastSeq <= room.lastSeq) return;
    new Notification(room.name, { body: "New direct message", tag: room.id });
  }
}
