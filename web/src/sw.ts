/// <reference lib="webworker" />
// The service worker: the app shell and hashed assets precached (workbox-build
// injects the list at build time), every app route answered with the shell, and
// the API's GET answers kept so the app opens offline with its rooms and history.
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from "workbox-precaching";
import { clientsClaim } from "workbox-core";
import { ExpirationPlugin } from "workbox-expiration";
import { NavigationRoute, registerRoute } from "workbox-routing";
import { NetworkFirst } from "workbox-strategies";

declare const self: ServiceWorkerGlobalScope & { __WB_MANIFEST: Array<{ url: string; revision: string | null }> };

const API_CACHE = "api";

// The first visit's page is controlled at once, so its API answers are kept for offline use.
clientsClaim();
cleanupOutdatedCaches();
precacheAndRoute(self.__WB_MANIFEST);

registerRoute(new NavigationRoute(createHandlerBoundToURL("/"), { denylist: [/^\/api\//, /^\/ws/, /^\/metrics/, /^\/healthz/, /^\/readyz/] }));

// Network first: a live answer whenever the server is reachable, the last one when it is not.
registerRoute(
  ({ url, request }) =>
    request.method === "GET" && url.origin === self.location.origin && url.pathname.startsWith("/api/") && !url.pathname.startsWith("/api/search") && url.pathname !== "/api/openapi.json",
  new NetworkFirst({ cacheName: API_CACHE, networkTimeoutSeconds: 5, plugins: [new ExpirationPlugin({ maxEntries: 400 })] }),
);

self.addEventListener("message", (event) => {
  if (event.data?.type === "SKIP_WAITING") void self.skipWaiting();
});
