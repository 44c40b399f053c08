import { cleanup } from "@solidjs/testing-library";
import { afterEach } from "vitest";

// jsdom has no layout: the router scrolls to the top on navigation, which jsdom only reports.
window.scrollTo = () => undefined;

afterEach(() => {
  cleanup();
  window.history.replaceState(null, "", "/");
});
