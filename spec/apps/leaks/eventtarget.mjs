// EventTarget listeners: each widget listens on a shared target and never
// removes its listener. correct: it removes it when done.
import { setMaxListeners } from "node:events";

class Widget {
  constructor(id) {
    this.id = id;
    this.state = new Array(64).fill(id);
    this.onChange = (e) => { this.state[0] = e.type; };
  }
}

const target = new EventTarget();
setMaxListeners(0, target); // the warning would name the leak; many listeners are the point here
let held = 0;

export function leaky(i) {
  const w = new Widget(i);
  target.addEventListener("change", w.onChange);
  held++;
}

export function correct(i) {
  const w = new Widget(i);
  target.addEventListener("change", w.onChange);
  target.dispatchEvent(new Event("change"));
  target.removeEventListener("change", w.onChange);
}

export const stats = () => ({ held });
