import { type Accessor, createContext, createSignal, type JSX, onCleanup, useContext } from "solid-js";
import { ApiError, api, errorMessage, setUnauthorizedListener } from "../api/client.ts";
import type { SessionInfo } from "../api/types.ts";

export type SessionState = "checking" | "signed-in" | "signed-out";

export interface SessionContextValue {
  state: Accessor<SessionState>;
  info: Accessor<SessionInfo | undefined>;
  /** Why the user was sent to sign-in (an expired session), shown once on the sign-in page. */
  notice: Accessor<string | undefined>;
  clearNotice: () => void;
  /** Set when GET /session failed for a reason other than "not signed in". */
  restoreError: Accessor<string | undefined>;
  signIn: (username: string, password: string) => Promise<void>;
  signOut: () => Promise<void>;
  /** Retry restoring the session (after the console was unreachable). */
  restore: () => Promise<void>;
}

const SessionContext = createContext<SessionContextValue>();

export const EXPIRED_NOTICE = "Your session has expired. Please sign in again.";
export const SIGNED_OUT_NOTICE = "You have signed out.";

/** Restores the session on load (GET /session) and owns sign-in, sign-out and expiry. */
export function SessionProvider(props: { children: JSX.Element }): JSX.Element {
  const [state, setState] = createSignal<SessionState>("checking");
  const [info, setInfo] = createSignal<SessionInfo>();
  const [notice, setNotice] = createSignal<string>();
  const [restoreError, setRestoreError] = createSignal<string>();

  const restore = async (): Promise<void> => {
    setRestoreError(undefined);
    setState("checking");
    try {
      setInfo(await api.session());
      setState("signed-in");
    } catch (err) {
      setInfo(undefined);
      setState("signed-out");
      if (!(err instanceof ApiError && err.status === 401)) {
        setRestoreError(errorMessage(err));
      }
    }
  };

  setUnauthorizedListener(() => {
    if (state() !== "signed-in") return;
    setInfo(undefined);
    setNotice(EXPIRED_NOTICE);
    setState("signed-out");
  });
  onCleanup(() => setUnauthorizedListener(undefined));
  void restore();

  const value: SessionContextValue = {
    state,
    info,
    notice,
    clearNotice: () => setNotice(undefined),
    restoreError,
    restore,
    async signIn(username, password) {
      const session = await api.login(username, password);
      setNotice(undefined);
      setRestoreError(undefined);
      setInfo(session);
      setState("signed-in");
    },
    async signOut() {
      try {
        await api.logout();
      } finally {
        // Signed out locally even if the console was unreachable: the cookie expires anyway.
        setInfo(undefined);
        setNotice(SIGNED_OUT_NOTICE);
        setState("signed-out");
      }
    },
  };

  return <SessionContext.Provider value={value}>{props.children}</SessionContext.Provider>;
}

/** The session context; only valid under SessionProvider. */
export function useSession(): SessionContextValue {
  const ctx = useContext(SessionContext);
  if (!ctx) throw new Error("useSession must be used inside SessionProvider");
  return ctx;
}
