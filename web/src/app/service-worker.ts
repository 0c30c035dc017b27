// Registers /sw.js with workbox-window; when a new version waits, the app hears
// an "app-update" event whose detail applies it (skip waiting, then reload).
import { Workbox } from "workbox-window";

export const UPDATE_EVENT = "app-update";

export function registerServiceWorker() {
  const wb = new Workbox("/sw.js");
  wb.addEventListener("waiting", () => {
    const apply = () => {
      wb.addEventListener("controlling", () => location.reload());
      wb.messageSkipWaiting();
    };
    window.dispatchEvent(new CustomEvent(UPDATE_EVENT, { detail: apply }));
  });
  void wb.register();
}
