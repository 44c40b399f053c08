import type { Env } from "./env.ts";

/** What middleware puts on the Hono context for the handlers after it. */
export interface AuthAccount {
  accountId: string;
  username: string;
  isAdmin: boolean;
}

export interface AppEnv {
  Bindings: Env;
  Variables: {
    /** Set by the bearer middleware (execution routes) or the session middleware (dashboard routes). */
    account: AuthAccount;
    /** Set by the bearer middleware: the token's id. */
    tokenId: string;
    requestId: string;
  };
}
