import { lazy, Suspense, useEffect, useState, type ComponentProps } from "react";
import type { Me } from "../../../src/protocol.ts";
import { ApiError } from "../api.ts";
import { chat, useChat } from "./chat-store.ts";
import { earlyMe, loadedRoomScreen, roomScreenChunk } from "./early.ts";
import { navigate, useRoute } from "./router.ts";
import { Sidebar } from "../rooms/sidebar.tsx";

const AuthScreen = lazy(() => import("../auth/auth-screen.tsx"));
const LazyRoomScreen = lazy(roomScreenChunk);
type RoomProps = ComponentProps<typeof LazyRoomScreen>;
/** Lazy, but drawn in the same render when its chunk is in already (a room's URL starts it early). */
function RoomScreen(props: RoomProps) {
  const [Screen] = useState(() => loadedRoomScreen() ?? LazyRoomScreen);
  return <Screen {...props} />;
}
const BrowseScreen = lazy(() => import("../rooms/browse-screen.tsx"));
const SearchScreen = lazy(() => import("../search/search-screen.tsx"));
const OpsScreen = lazy(() => import("../ops/ops-screen.tsx"));

type Boot = "loading" | "signed-out" | "signed-in";

/** `initialMe`: who I am, when known before the first render (null: signed out); chat.start was called. */
export function App({ initialMe }: { initialMe?: Me | null }) {
  const route = useRoute();
  const me = useChat((s) => s.me);
  const [boot, setBoot] = useState<Boot>(initialMe === undefined ? "loading" : initialMe ? "signed-in" : "signed-out");

  useEffect(() => {
    if (initialMe !== undefined) return;
    earlyMe().then(
      ({ user }) => {
        chat.start(user);
        setBoot("signed-in");
      },
      (err) => {
        if (err instanceof ApiError && err.status === 0) return setBoot("signed-out");
        setBoot("signed-out");
      },
    );
  }, []);

  useEffect(() => {
    if (boot === "signed-in" && !me) setBoot("signed-out");
  }, [me, boot]);

  useEffect(() => {
    if (boot === "signed-out" && route.name !== "login" && route.name !== "signup") navigate("/login", { replace: true });
    if (boot === "signed-in" && (route.name === "login" || route.name === "signup")) navigate("/", { replace: true });
  }, [boot, route.name]);

  if (boot === "loading") return <div className="boot">Chat</div>;
  if (boot === "signed-out" || !me) {
    return (
      <Suspense fallback={<div className="boot">Chat</div>}>
        <AuthScreen
          mode={route.name === "signup" ? "signup" : "login"}
          onSignedIn={(user) => {
            chat.start(user);
            setBoot("signed-in");
          }}
        />
      </Suspense>
    );
  }

  // The operator's page is a screen of its own, without the chat around it.
  if (route.name === "ops") {
    return (
      <Suspense fallback={<div className="boot">Loading…</div>}>
        <OpsScreen />
      </Suspense>
    );
  }

  const main =
    route.name === "room" ? (
      <RoomScreen key={route.roomId} roomId={route.roomId} jumpTo={route.jumpTo} />
    ) : route.name === "browse" ? (
      <BrowseScreen />
    ) : route.name === "search" ? (
      <SearchScreen initial={route.q} />
    ) : (
      <div className="empty-main">
        <h2>Welcome, {me.username}</h2>
        <p>Pick a room on the left, or browse public rooms.</p>
      </div>
    );
  return (
    <div className={`layout ${route.name === "home" ? "at-home" : "in-screen"}`}>
      <Sidebar activeRoomId={route.name === "room" ? route.roomId : undefined} />
      <main className="main">
        <Suspense fallback={<div className="loading">Loading…</div>}>{main}</Suspense>
      </main>
      <UpdateBanner />
    </div>
  );
}

function UpdateBanner() {
  const [apply, setApply] = useState<(() => void) | null>(null);
  useEffect(() => {
    const on = (e: Event) => setApply(() => (e as CustomEvent<() => void>).detail);
    window.addEventListener("app-update", on);
    return () => window.removeEventListener("app-update", on);
  }, []);
  if (!apply) return null;
  return (
    <div className="update-banner" role="status">
      A new version is available.
      <button type="button" onClick={apply}>
        Reload
      </button>
    </div>
  );
}
