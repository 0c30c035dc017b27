import { createRoot } from "react-dom/client";
import { App } from "./app/app.tsx";
import { chat } from "./app/chat-store.ts";
import { earlyMe, firstScreenReady, roomDataReady } from "./app/early.ts";
import { parseRoute } from "./app/router.ts";

// The shell's HTML already shows the boot screen; React's first render waits for the answers
// started early (usually in before this chunk has run) and draws the signed-in screen directly.
void firstScreenReady().then(async () => {
  const me = await earlyMe().then(
    ({ user }) => user,
    () => null,
  );
  if (me) {
    chat.start(me);
    // On a room's URL, its newest page and my rooms come with `me`: apply them before the first
    // render, so the room's first paint has its messages (waiting a little if they are late).
    const route = parseRoute(location.pathname, location.search);
    if (route.name === "room" && route.jumpTo === undefined) {
      await roomDataReady(300);
      await Promise.race([chat.roomsReady(), new Promise((r) => setTimeout(r, 50))]);
      chat.primeRoom(route.roomId);
    }
  }
  createRoot(document.getElementById("root")!).render(<App initialMe={me} />);
  // The service worker exists only in the production build (bun dev has hot reload instead);
  // registered once the first screen is up, so its script does not compete with it.
  if (process.env.NODE_ENV === "production" && "serviceWorker" in navigator) {
    const register = () => void import("./app/service-worker.ts").then((m) => m.registerServiceWorker());
    if (document.readyState === "complete") setTimeout(register, 1000);
    else window.addEventListener("load", () => setTimeout(register, 1000), { once: true });
  }
});
