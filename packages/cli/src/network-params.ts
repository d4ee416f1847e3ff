/** Registration work on a devnet (`--local`): trivial, so `pnpm start` is ready in seconds. */
export const LOCAL_REGISTRATION_DIFFICULTY_BITS = 12;
