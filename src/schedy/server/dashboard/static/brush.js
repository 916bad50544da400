// Brushing parallel coordinates: drag along an axis to select a range of it (several axes AND
// together), click an axis to clear its range; drag an axis label sideways to move the axis.
//
// The ranges live on the figure (fig.brushes: axis name → [t0, t1], positions in [0, 1] of the
// axis, see axis.js); analysis.js selectionOf() turns them into the selected jobs, which the page puts in
// data.selection: the history, the scatters, the EDF, the contour and the job table show only
// those (plots.js shown(), page_experiment.js renderTable()).

/** How close (CSS pixels) to an axis a press must be to brush it or move it. */
const REACH = 14;

/** Clear every range (the figure's "clear selection" button). */
export function clearBrushes(fig) {
  if (fig.brushes) fig.brushes.clear();
}

/**
 * Listen for brushing and axis moves on a parallel-coordinates figure. `redraw()` draws the
 * figure again (live while dragging); `changed()` runs when a drag or click ends with a new
 * selection or order.
 */
export function brushable(fig, redraw, changed) {
  if (fig.brushable) return;
  fig.brushable = true;
  fig.brushes = fig.brushes || new Map();
  let drag = null;
  let frameRequested = false;
  const later = () => {
    if (frameRequested) return;
    frameRequested = true;
    requestAnimationFrame(() => { frameRequested = false; redraw(); });
  };
  const at = (event) => {
    const rect = fig.canvas.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  };
  fig.canvas.addEventListener("mousedown", (event) => {
    const layout = fig.layout;
    if (!layout || event.button !== 0) return;
    const [mx, my] = at(event);
    let index = -1, bestD = REACH;
    layout.xs.forEach((x, i) => { const d = Math.abs(x - mx); if (d < bestD) { bestD = d; index = i; } });
    if (index < 0) return;
    event.preventDefault();
    const name = layout.axes[index].name;
    drag = my > layout.frame.y0 + 4
      ? {kind: "move", name, x0: mx, index}
      : {kind: "brush", name, y0: my, t0: Math.min(1, Math.max(0, layout.ty(my))), before: fig.brushes.get(name)};
  });
  window.addEventListener("mousemove", (event) => {
    if (!drag || drag.kind !== "brush") return;
    const [, my] = at(event);
    if (Math.abs(my - drag.y0) < 3) return;
    const t = Math.min(1, Math.max(0, fig.layout.ty(my)));
    fig.brushes.set(drag.name, [Math.min(drag.t0, t), Math.max(drag.t0, t)]);
    drag.moved = true;
    later();
  });
  window.addEventListener("mouseup", (event) => {
    if (!drag) return;
    const done = drag;
    drag = null;
    const [mx] = at(event);
    if (done.kind === "brush") {
      // A click (no drag) on an axis clears its range.
      if (!done.moved) fig.brushes.delete(done.name);
      changed();
      return;
    }
    if (Math.abs(mx - done.x0) < 8) return;
    const xs = fig.layout.xs;
    let target = 0, bestD = Infinity;
    xs.forEach((x, i) => { const d = Math.abs(x - mx); if (d < bestD) { bestD = d; target = i; } });
    const order = fig.order.slice();
    order.splice(done.index, 1);
    order.splice(target, 0, done.name);
    fig.order = order;
    changed();
  });
}
