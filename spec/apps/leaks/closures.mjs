// Closures keeping large data alive (the classic shared-context leak): each
// request replaces `current`, but the closure `unused` captures the previous
// one in the context it shares with `describe`, so every Report stays reachable
// from the newest one. correct: nothing captures the previous report.
class Report {
  constructor(id, describe) {
    this.id = id;
    this.rows = new Array(256).fill(id); // the large data
    this.describe = describe;
  }
}

let current = null;
let count = 0;

export function leaky(i) {
  const previous = current;
  // never called, but it shares its context with `describe` below
  const unused = function () { if (previous) return previous.id; };
  void unused;
  current = new Report(i, function describe() { return `report ${i}`; });
  count++;
}

export function correct(i) {
  current = new Report(i, function describe() { return `report ${i}`; });
  count++;
}

export const stats = () => ({ made: count });
