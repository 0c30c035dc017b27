// What a person does in the PWA, as browser steps (playwright-core on Debian's Chromium).
import { expect } from "bun:test";
import type { Browser, BrowserContext, Page } from "playwright-core";

export const unique = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

export interface Person {
  context: BrowserContext;
  page: Page;
  username: string;
  email: string;
  password: string;
  /** Browser dialogs seen (an alert() from a message would land here). */
  dialogs: string[];
  errors: string[];
}

/** `name`: a readable username for screenshots (each e2e run has a fresh database); else a unique one. */
export async function newPerson(
  browser: Browser,
  baseUrl: string,
  opts: { name?: string; viewport?: { width: number; height: number }; serviceWorkers?: boolean } = {},
): Promise<Person> {
  const context = await browser.newContext({
    baseURL: baseUrl,
    viewport: opts.viewport ?? { width: 1200, height: 760 },
    serviceWorkers: opts.serviceWorkers === false ? "block" : "allow",
  });
  const page = await context.newPage();
  const tag = unique();
  const username = opts.name ?? `p${tag}`.slice(0, 32);
  const person: Person = { context, page, username, email: `${username}.${tag}@example.com`, password: "correct horse battery", dialogs: [], errors: [] };
  page.on("dialog", (d) => {
    person.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on("pageerror", (e) => person.errors.push(e.message));
  return person;
}

export async function signUp(p: Person) {
  await p.page.goto("/");
  await p.page.getByRole("link", { name: "Sign up" }).click();
  await p.page.getByLabel("Email").fill(p.email);
  await p.page.getByLabel("Username").fill(p.username);
  await p.page.getByLabel("Password").fill(p.password);
  await p.page.getByRole("button", { name: "Sign up" }).click();
  await p.page.locator(".me-name", { hasText: p.username }).waitFor();
  await waitConnected(p);
}

export const waitConnected = (p: Person, timeout = 20_000) => p.page.locator('.conn[data-state="connected"]').waitFor({ timeout });

export async function createRoom(p: Person, name: string) {
  await p.page.getByRole("button", { name: "+ New room" }).click();
  await p.page.getByLabel("Name").fill(name);
  await p.page.getByRole("button", { name: "Create" }).click();
  await p.page.getByRole("heading", { name: `# ${name}` }).waitFor();
  await p.page.waitForURL(/\/r\//);
  return p.page.url().split("/r/")[1]!.split("?")[0]!;
}

export async function joinFromBrowser(p: Person, name: string) {
  await p.page.getByRole("button", { name: "Browse" }).click();
  const row = p.page.locator(".browse-list li", { hasText: `# ${name}` });
  await row.getByRole("button", { name: "Join" }).click();
  await p.page.getByRole("heading", { name: `# ${name}` }).waitFor();
}

export async function send(p: Person, text: string) {
  const box = p.page.locator("#composer-input");
  await box.fill(text);
  await box.press("Enter");
}

/** A confirmed (not pending) message with exactly this text. */
export const messageRow = (p: Person, text: string) => p.page.locator(".row:not(.pending) .content").filter({ hasText: new RegExp(`^${escapeRegExp(text)}$`) });

export async function expectMessage(p: Person, text: string, timeout = 15_000) {
  await messageRow(p, text).first().waitFor({ timeout });
  expect(await messageRow(p, text).count()).toBe(1);
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The seqs of the rows rendered now, in DOM order. */
export const renderedSeqs = (p: Person) =>
  p.page.$$eval(".message-list [data-seq]", (rows) => rows.map((r) => Number((r as HTMLElement).dataset.seq)));

/** Posts messages over HTTP as this token, `concurrency` at a time (for history fixtures). */
export async function postMany(baseUrl: string, token: string, roomId: string, count: number, concurrency = 8) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const res = await fetch(`${baseUrl}/api/rooms/${roomId}/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ content: `history ${String(i + 1).padStart(4, "0")}`, clientMsgId: `h-${roomId}-${i}` }),
      });
      if (res.status !== 201) throw new Error(`post ${i}: ${res.status} ${await res.text()}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

export async function loginToken(baseUrl: string, p: Person) {
  const res = await fetch(`${baseUrl}/api/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: p.email, password: p.password }),
  });
  if (res.status !== 200) throw new Error(`login: ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

export async function history(baseUrl: string, token: string, roomId: string) {
  const all: { seq: number; content: string; clientMsgId: string }[] = [];
  let after = 0;
  for (;;) {
    const res = await fetch(`${baseUrl}/api/rooms/${roomId}/messages?after=${after}&limit=100`, { headers: { authorization: `Bearer ${token}` } });
    const page = (await res.json()) as { data: { seq: number; content: string; clientMsgId: string }[]; nextCursor: number | null };
    all.push(...page.data);
    if (page.nextCursor === null) return all.sort((a, b) => a.seq - b.seq);
    after = page.nextCursor;
  }
}
