// memdbg demo app for Bun:
//   `bun --inspect=127.0.0.1:0/memdbg app.js leaky|clean|idle`
// Same shape as ../node/app.js: serves HTTP on a free loopback port, prints
//   memdbg-app ready mode=MODE http=http://127.0.0.1:PORT
// and exposes `handleRequests(n)`; `GET /work?n=N`, `GET /stats`.
const MODES = ["leaky", "clean", "idle"];
const mode = process.argv[2] || "idle";
if (!MODES.includes(mode)) {
  console.error(`unknown mode ${mode}: use ${MODES.join("|")}`);
  process.exit(2);
}

// Each action registers one of these as an event listener; it holds ~10 KB.
// Unlike the V8 apps (an Array of 1280 doubles) the payload is a
// Float64Array: a JSC heap snapshot gives an Array node only its 16-byte cell
// (the butterfly storage is not counted), while a Float64Array(1280) node
// reports 10288 bytes, so the leak shows by size as well as by the class name
// `LeakyListener`.
class LeakyListener {
  constructor(id) {
    this.id = id;
    this.payload = new Float64Array(1280).fill(id + 0.5);
    this.calls = 0;
    this.handle = () => { this.calls++; };
  }
}

const bus = new EventTarget();
globalThis.leakedListeners = []; // leaky: never cleared
let handled = 0;

function stats() {
  return { mode, handled, retained: globalThis.leakedListeners.length };
}

globalThis.handleRequests = function handleRequests(n) {
  n = Math.max(0, Math.floor(Number(n) || 0));
  if (mode === "idle") return globalThis.leakedListeners.length;
  const added = [];
  for (let i = 0; i < n; i++) {
    const listener = new LeakyListener(handled++);
    bus.addEventListener("request", listener.handle);
    added.push(listener);
  }
  bus.dispatchEvent(new Event("request"));
  if (mode === "leaky") {
    for (const l of added) globalThis.leakedListeners.push(l); // the leak
  } else {
    for (const l of added) bus.removeEventListener("request", l.handle);
  }
  return globalThis.leakedListeners.length;
};
globalThis.appStats = stats;

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/work") {
      globalThis.handleRequests(url.searchParams.get("n") ?? 1);
      return Response.json(stats());
    }
    if (url.pathname === "/stats") return Response.json(stats());
    if (url.pathname === "/") return new Response(`ok ${mode}\n`);
    return new Response("not found\n", { status: 404 });
  },
});
console.log(`memdbg-app ready mode=${mode} http=http://127.0.0.1:${server.port}`);
process.on("SIGTERM", () => process.exit(0));
