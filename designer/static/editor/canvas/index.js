// The canvas: the diagram as the place where a topic is built (see each module's header).

import { initDrag } from "./drag.js";
import { initKeyboard } from "./keyboard.js";
import { initZoom } from "./zoom.js";

export { decorate } from "./select.js";

export function initCanvas() {
  initZoom();
  initDrag();
  initKeyboard();
}
