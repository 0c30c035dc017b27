// The first requests, started by a tiny classic script that the page loads before the app's entry
// chunk: under a slow CPU that chunk takes a while to run, and these need only the URL. The app
// (web/src/app/early.ts) takes the responses from window.__early; `bun dev` has no such script and
// the app asks for itself. A separate file because the CSP forbids inline scripts.
// Keep the URLs in step with web/src/api.ts (me, myRooms, newest).
const get = (path: string) => {
  const res = fetch(path, { credentials: "same-origin" });
  res.catch(() => {});
  return res;
};
const match = /^\/r\/([^/]+)$/.exec(location.pathname);
const roomId = match ? decodeURIComponent(match[1]!) : undefined;
(window as unknown as { __early: unknown }).__early = {
  me: get("/api/me"),
  rooms: get("/api/rooms?mine=true&limit=100"),
  newest: roomId === undefined ? undefined : { roomId, res: get(`/api/rooms/${encodeURIComponent(roomId)}/messages?limit=50`) },
};
