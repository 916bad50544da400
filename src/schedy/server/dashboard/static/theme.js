// The page's colours for canvases: read from the CSS variables of style.css, so dark mode
// (prefers-color-scheme) reaches what is drawn as well as the HTML.

/** The value of a CSS variable of the page (e.g. colour("--fg")), or `fallback` when unset. */
export function colour(name, fallback = "#000") {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}
