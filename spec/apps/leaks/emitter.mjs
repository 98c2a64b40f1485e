// EventEmitter listeners: each subscriber listens on a shared bus and never
// unsubscribes. correct: it removes its listener when done.
import { EventEmitter } from "node:events";

class Subscriber {
  constructor(id) {
    this.id = id;
    this.inbox = new Array(64).fill(id);
    this.onMessage = (m) => { this.inbox[0] = m; };
  }
}

const bus = new EventEmitter();
bus.setMaxListeners(0); // the warning would name the leak; many listeners are the point here

export function leaky(i) {
  const sub = new Subscriber(i);
  bus.on("message", sub.onMessage);
}

export function correct(i) {
  const sub = new Subscriber(i);
  bus.on("message", sub.onMessage);
  bus.emit("message", i);
  bus.off("message", sub.onMessage);
}

export const stats = () => ({ held: bus.listenerCount("message") });
