export interface PasswordCost {
  memoryKib: number;
  timeCost: number;
}

export function createPasswordHasher(cost: PasswordCost) {
  const options = { algorithm: "argon2id", memoryCost: cost.memoryKib, timeCost: cost.timeCost } as const;
  // Verified against when the email is unknown, so both failures take the same time.
  let dummy: Promise<string> | undefined;
  return {
    hash: (password: string) => Bun.password.hash(password, options),
    verify: (password: string, hash: string) => Bun.password.verify(password, hash),
    async verifyDummy(password: string) {
      dummy ??= Bun.password.hash(crypto.randomUUID(), options);
      await Bun.password.verify(password, await dummy);
      return false;
    },
  };
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>;
