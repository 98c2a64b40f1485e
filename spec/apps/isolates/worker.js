// The dedicated worker of page.html: every message leaves a WorkerRecord in
// a module-level array (the leak), {sync: id} answers {synced: id, kept: n}.
"use strict";
class WorkerRecord {
  constructor(i, text) {
    this.i = i;
    this.text = text;
    this.payload = new Array(64).fill(i);
  }
}
const kept = [];
self.addEventListener("message", (e) => {
  const m = e.data;
  if (m.sync !== undefined) self.postMessage({ synced: m.sync, kept: kept.length });
  else kept.push(new WorkerRecord(m.i, m.text));
});
