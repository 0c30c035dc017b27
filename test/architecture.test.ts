// DESIGN.md: imports only point down, no folder-level cycles.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

/** The top-level folder (or file) under src/ that a path belongs to. */
const unit = (path: string) => relative(SRC, path).split("/")[0]!;

test("no two folders of src/ import each other, directly or through others", () => {
  const edges = new Map<string, Set<string>>();
  for (const file of sourceFiles(SRC)) {
    for (const [, spec] of readFileSync(file, "utf8").matchAll(/from "(\.[^"]+)"/g)) {
      const from = unit(file);
      const to = unit(resolve(dirname(file), spec!));
      if (from === to) continue;
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from)!.add(to);
    }
  }
  const cycles: string[] = [];
  const visit = (node: string, path: string[]) => {
    for (const next of edges.get(node) ?? []) {
      if (path.includes(next)) cycles.push([...path.slice(path.indexOf(next)), next].join(" -> "));
      else visit(next, [...path, next]);
    }
  };
  for (const start of edges.keys()) visit(start, [start]);
  expect(cycles).toEqual([]);
});

test("only src/env.ts reads process.env", () => {
  const readers = sourceFiles(SRC).filter((f) => readFileSync(f, "utf8").includes("process.env"));
  expect(readers.map((f) => relative(SRC, f))).toEqual(["env.ts"]);
});

// protocol-v2.ts is the one value import allowed: the client decodes chat.v2 with the same
// decoder the tests use. Its schemas use zod/mini, about 8 KB gzip of the initial bundle with
// the decoder (the full zod was about 25 KB, measured with `bun scripts/build-web.ts`); it must
// itself import only zod/mini and types.
const WEB_VALUE_IMPORTS = ["protocol-v2.ts"];

test("protocol-v2.ts, which web/ bundles, imports only zod/mini and the protocol module's types", () => {
  const text = readFileSync(join(SRC, "protocol-v2.ts"), "utf8");
  const imports = [...text.matchAll(/^import[^;]*?from "([^"]+)"/gm)].map(([statement, spec]) => (spec === "zod/mini" ? "zod/mini" : statement));
  expect(imports).toContain("zod/mini");
  expect(imports.filter((i) => i !== "zod/mini" && !/^import type .* from "\.\/protocol\.ts"$/.test(i))).toEqual([]);
});

test("web/ imports nothing from src/ but the protocol module's types and the v2 decoder", () => {
  const WEB = resolve(import.meta.dir, "../web/src");
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return files(path);
      return /\.tsx?$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name) ? [path] : [];
    });
  const offending: string[] = [];
  for (const file of files(WEB)) {
    for (const [statement, spec] of readFileSync(file, "utf8").matchAll(/^import[^;]*?from "([^"]+)"/gm)) {
      const target = resolve(dirname(file), spec!);
      if (!spec!.startsWith(".") || !target.startsWith(SRC)) continue;
      const name = relative(SRC, target);
      if (WEB_VALUE_IMPORTS.includes(name)) continue;
      if (name !== "protocol.ts" || !statement.startsWith("import type")) offending.push(`${relative(WEB, file)}: ${statement}`);
    }
  }
  expect(offending).toEqual([]);
});
