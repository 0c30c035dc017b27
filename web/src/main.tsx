import "./app/early.ts";
import { createRoot } from "react-dom/client";
import { App } from "./app/app.tsx";

createRoot(document.getElementById("root")!).render(<App />);

// The service worker exists only in the production build (bun dev has hot reload instead).
if (process.env.NODE_ENV === "production" && "serviceWorker" in navigator) {
  void import("./app/service-worker.ts").then((m) => m.registerServiceWorker());
}
