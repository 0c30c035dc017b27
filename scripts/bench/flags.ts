// Checks for the bench scripts' command-line flags: a bad value stops the script before anything starts.

/** `--name`'s value as an integer of at least `min`; throws naming the flag and the value. */
export function intFlag(name: string, raw: string | undefined, min = 1): number {
  const n = Number(raw);
  if (raw === undefined || raw.trim() === "" || !Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${raw}`);
  return n;
}
