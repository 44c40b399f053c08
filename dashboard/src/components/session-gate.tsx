import { type JSX, Match, Switch } from "solid-js";
import { useSession } from "../lib/session.tsx";
import { RestoringSplash } from "./feedback.tsx";

/** By the session's state: the restoring splash while it is checked, then `signedIn` or `signedOut`. */
export function SessionGate(props: { signedIn: JSX.Element; signedOut: JSX.Element }): JSX.Element {
  const session = useSession();
  return (
    <Switch>
      <Match when={session.state() === "checking"}>
        <RestoringSplash />
      </Match>
      <Match when={session.state() === "signed-in"}>{props.signedIn}</Match>
      <Match when={session.state() === "signed-out"}>{props.signedOut}</Match>
    </Switch>
  );
}
