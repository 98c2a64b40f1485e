// The service worker of workers.html: holds 500 SwRecords from the start.
// A message with a port gets {synced, kept} back on it.
"use strict";
class SwRecord {
  constructor(i) {
    this.i = i;
    this.payload = new Array(32).fill(i);
  }
}
const held = Array.from({ length: 500 }, (_, i) => new SwRecord(i));
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));
self.addEventListener("message", (e) => {
  const port = e.ports[0];
  if (!port) return;
  port.onmessage = (m) => port.postMessage({ synced: m.data.sync, kept: held.length });
});
