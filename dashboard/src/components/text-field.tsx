import { type JSX, Show, splitProps } from "solid-js";

export interface TextFieldProps extends Omit<JSX.InputHTMLAttributes<HTMLInputElement>, "onInput"> {
  id: string;
  label: JSX.Element;
  /** A rejection of the current value; replaces the hint and marks the input invalid. */
  error?: string | undefined;
  hint?: JSX.Element;
  onValue: (value: string) => void;
}

/** A labelled input with its hint or error below it, wired for screen readers (`<id>-hint`, `<id>-error`). */
export function TextField(props: TextFieldProps): JSX.Element {
  const [own, input] = splitProps(props, ["label", "error", "hint", "onValue"]);
  const describedBy = (): string | undefined => {
    if (own.error) return `${input.id}-error`;
    return own.hint ? `${input.id}-hint` : undefined;
  };
  return (
    <div class="field">
      <label for={input.id}>{own.label}</label>
      <input
        {...input}
        onInput={(e) => own.onValue(e.currentTarget.value)}
        aria-invalid={own.error ? "true" : undefined}
        aria-describedby={describedBy()}
      />
      <Show
        when={own.error}
        fallback={
          <Show when={own.hint}>
            <small id={`${input.id}-hint`}>{own.hint}</small>
          </Show>
        }
      >
        <small class="field-error" id={`${input.id}-error`} role="alert">
          {own.error}
        </small>
      </Show>
    </div>
  );
}

/** Messages for a form's fields by name, plus `form` for what belongs to no one field. */
export type FormErrors<Field extends string> = Partial<Record<Field | "form", string>>;

/** A form's primary submit button, saying what it is doing while busy. */
export function SubmitButton(props: { label: string; busyLabel: string; busy: boolean; wide?: boolean }): JSX.Element {
  return (
    <button type="submit" class={props.wide ? "button primary wide" : "button primary"} disabled={props.busy}>
      {props.busy ? props.busyLabel : props.label}
    </button>
  );
}
