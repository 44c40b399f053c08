import { A } from "@solidjs/router";
import type { JSX } from "solid-js";
import { EmptyState } from "../components/feedback.tsx";
import { setPageTitle } from "../lib/title.ts";

/** Any unknown path inside the signed-in area. */
export function NotFoundPage(): JSX.Element {
  setPageTitle("Not found");
  return (
    <section class="page">
      <EmptyState title="Page not found">
        <p>
          Nothing lives at this address. Go to <A href="/">the dashboard</A>.
        </p>
      </EmptyState>
    </section>
  );
}
