import { expect, test } from "bun:test";
import { intFlag } from "./flags.ts";

test("intFlag takes integers at or above the minimum and names the flag otherwise", () => {
  expect(intFlag("clients", "200")).toBe(200);
  expect(intFlag("clients", "2", 2)).toBe(2);
  for (const bad of ["0", "-3", "1.5", "abc", "", " ", undefined]) expect(() => intFlag("clients", bad)).toThrow(/--clients must be an integer >= 1/);
  expect(() => intFlag("clients", "1", 2)).toThrow("--clients must be an integer >= 2, got 1");
});
