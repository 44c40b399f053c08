import type { JSX } from "solid-js";

export interface PageProps {
  /** Prefix of the heading's id (`<id>-title`), which names the page's region. */
  id: string;
  title: string;
  lede: JSX.Element;
  /** Beside the heading: the page's main action. */
  actions?: JSX.Element;
  children: JSX.Element;
}

/** A dashboard page: its heading with a lede and main action, then its content. */
export function Page(props: PageProps): JSX.Element {
  return (
    <section class="page" aria-labelledby={`${props.id}-title`}>
      <header class="page-header">
        <div>
          <h1 id={`${props.id}-title`}>{props.title}</h1>
          <p class="page-lede">{props.lede}</p>
        </div>
        {props.actions}
      </header>
      {props.children}
    </section>
  );
}
