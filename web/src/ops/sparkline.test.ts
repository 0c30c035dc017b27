import { describe, expect, test } from "bun:test";
import { niceMax, sparkPath } from "./sparkline.tsx";

describe("sparkline", () => {
  test("a missing value breaks the line into two runs; values map to the box, y flipped", () => {
    const { line, area } = sparkPath(
      [
        { t: 0, v: 0 },
        { t: 10, v: 10 },
        { t: 20, v: null },
        { t: 30, v: 5 },
        { t: 40, v: 5 },
      ],
      0,
      40,
      10,
    );
    expect(line).toBe("M3.0 45.0L56.5 3.0M163.5 24.0L217.0 24.0");
    expect(area.match(/Z/g)?.length).toBe(2);
  });

  test("nothing to draw gives empty paths; values over the top are clamped to it", () => {
    expect(sparkPath([{ t: 0, v: null }], 0, 10, 1)).toEqual({ line: "", area: "" });
    expect(sparkPath([{ t: 0, v: 99 }], 0, 10, 1).line).toBe("M3.0 3.0L4.5 3.0");
  });

  test("the scale's top is the floor or the next 1-2-5 step above the largest value", () => {
    expect(niceMax([null, 0.4], 1)).toBe(1);
    expect(niceMax([13, 7], 5)).toBe(20);
    expect(niceMax([51], 10)).toBe(100);
    expect(niceMax([], 10)).toBe(10);
  });
});
