// The shared worker of workers.html: holds 300 SharedRecords from the start
// and leaks one more per message ({sync: id} answers {synced: id, kept: n};
// {close: true} ends the worker).
"use strict";
class SharedRecord {
  constructor(i, text) {
    this.i = i;
    this.text = text;
    this.payload = new Array(64).fill(i);
  }
}
const kept = Array.from({ length: 300 }, (_, i) => new SharedRecord(i, "initial " + i));
self.addEventListener("connect", (e) => {
  const port = e.ports[0];
  port.addEventListener("message", (m) => {
    const d = m.data;
    if (d.close) self.close();
    else if (d.sync !== undefined) port.postMessage({ synced: d.sync, kept: kept.length });
    else kept.push(new SharedRecord(d.i, d.text));
  });
  port.start();
});
