import { navigate } from "../app/router.ts";

/** On narrow screens the sidebar is a screen of its own: this goes back to it. */
export function BackButton() {
  return (
    <button type="button" className="back ghost" aria-label="Back to rooms" onClick={() => navigate("/")}>
      ←
    </button>
  );
}
