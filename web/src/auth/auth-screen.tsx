import { useState, type FormEvent } from "react";
import type { Me } from "../../../src/protocol.ts";
import { api, ApiError } from "../api.ts";
import { navigate } from "../app/router.ts";

export default function AuthScreen({ mode, onSignedIn }: { mode: "login" | "signup"; onSignedIn: (me: Me) => void }) {
  const [email, setEmail] = useState("");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const signup = mode === "signup";

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { user } = signup ? await api.register({ email, username, password }) : await api.login({ email, password });
      onSignedIn(user);
    } catch (err) {
      if (err instanceof ApiError) {
        setError(err.details?.length ? err.details.map((d) => `${d.field}: ${d.message}`).join("; ") : err.message);
      } else setError(String(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="auth">
      <form className="auth-card" onSubmit={submit} aria-labelledby="auth-title">
        <div className="brand">
          <img src="/icons/icon-192.png" alt="" width={40} height={40} />
          <span>Bun Chat</span>
        </div>
        <h1 id="auth-title">{signup ? "Create your account" : "Log in"}</h1>
        <label>
          Email
          <input type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        {signup && (
          <label>
            Username
            <input autoComplete="username" required minLength={3} maxLength={32} value={username} onChange={(e) => setUsername(e.target.value)} />
          </label>
        )}
        <label>
          Password
          <input
            type="password"
            autoComplete={signup ? "new-password" : "current-password"}
            required
            minLength={signup ? 8 : 1}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "…" : signup ? "Sign up" : "Log in"}
        </button>
        <p className="switch">
          {signup ? "Have an account? " : "New here? "}
          <a
            href={signup ? "/login" : "/signup"}
            onClick={(e) => {
              e.preventDefault();
              setError(null);
              navigate(signup ? "/login" : "/signup");
            }}
          >
            {signup ? "Log in" : "Sign up"}
          </a>
        </p>
      </form>
    </div>
  );
}
