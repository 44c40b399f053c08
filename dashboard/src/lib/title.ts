/** Names the browser tab (and history entry) after the page, so tabs and screen readers tell pages apart. */
export function setPageTitle(page: string): void {
  document.title = `${page} · Onlyboxes console`;
}
