// Work that the first screen does not need (the socket, IndexedDB) starts after the next paint,
// so it does not sit between the data and the pixels. A hidden tab paints no frames: a timer
// runs it then.
export function afterPaint(run: () => void, fallbackMs = 200) {
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    run();
  };
  if (typeof requestAnimationFrame === "function") requestAnimationFrame(() => setTimeout(once, 0));
  setTimeout(once, fallbackMs);
}
