// Path routing with the History API: /login, /signup, /r/:roomId, /browse, /search, /ops.
import { useSyncExternalStore } from "react";

const listeners = new Set<() => void>();
const notify = () => listeners.forEach((l) => l());
if (typeof window !== "undefined") window.addEventListener("popstate", notify);

export function navigate(path: string, opts: { replace?: boolean } = {}) {
  if (path === location.pathname + location.search) return;
  if (opts.replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  notify();
}

export type Route =
  | { name: "login" }
  | { name: "signup" }
  | { name: "home" }
  | { name: "room"; roomId: string; jumpTo?: number }
  | { name: "browse" }
  | { name: "search"; q: string }
  | { name: "ops" };

export function parseRoute(pathname: string, search: string): Route {
  const params = new URLSearchParams(search);
  if (pathname === "/login") return { name: "login" };
  if (pathname === "/signup") return { name: "signup" };
  if (pathname === "/browse") return { name: "browse" };
  if (pathname === "/ops") return { name: "ops" };
  if (pathname === "/search") return { name: "search", q: params.get("q") ?? "" };
  const room = /^\/r\/([^/]+)$/.exec(pathname);
  if (room) {
    const jump = Number(params.get("m"));
    return { name: "room", roomId: decodeURIComponent(room[1]!), ...(Number.isInteger(jump) && jump > 0 ? { jumpTo: jump } : {}) };
  }
  return { name: "home" };
}

let cached: { key: string; route: Route } | undefined;
function current(): Route {
  const key = location.pathname + location.search;
  if (cached?.key !== key) cached = { key, route: parseRoute(location.pathname, location.search) };
  return cached.route;
}

export function useRoute(): Route {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => void listeners.delete(l);
    },
    current,
  );
}
