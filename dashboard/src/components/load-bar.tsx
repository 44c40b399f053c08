import type { JSX } from "solid-js";

/** One capability's in-flight load as a labelled meter bar (e.g. "echo 1/4"). */
export function LoadBar(props: { name: string; inflight: number; max: number }): JSX.Element {
  const ratio = (): number => (props.max > 0 ? Math.min(1, props.inflight / props.max) : 0);
  const level = (): string => (ratio() >= 1 ? "full" : ratio() >= 0.75 ? "high" : "ok");
  return (
    <div class="load">
      <span class="load-name">{props.name}</span>
      {/* biome-ignore lint/a11y/useSemanticElements: a styled bar; <meter> cannot be themed consistently across browsers. */}
      <div
        class={`load-track ${level()}`}
        role="meter"
        aria-label={`${props.name} in flight`}
        aria-valuemin={0}
        aria-valuemax={props.max}
        aria-valuenow={props.inflight}
        aria-valuetext={`${props.inflight} of ${props.max}`}
      >
        <div class="load-fill" style={{ width: `${Math.round(ratio() * 100)}%` }} />
      </div>
      <span class="load-count">
        {props.inflight}/{props.max}
      </span>
    </div>
  );
}
