// memdbg demo app for Cloudflare workers (wrangler dev and workerd serve).
// The mode comes from the MODE binding (wrangler: [vars] / `--var MODE:leaky`;
// workerd: config.capnp reads it from the MEMDBG_MODE environment variable).
// Drive it with HTTP: `GET /work?n=N` performs the action N times, `GET /stats`
// reports counts as JSON, `GET /` answers "ok MODE". `handleRequests(n)` is
// also a global for clients that evaluate in the isolate (workerd needs a
// contextId for Runtime.evaluate; see the runtime notes). The mode is only
// known once the first request has arrived, or from `import { env }` below.
import { env as moduleEnv } from "cloudflare:workers";

const MODES = ["leaky", "clean", "idle"];
let mode = pickMode(moduleEnv);

function pickMode(env) {
  const m = env && env.MODE;
  return MODES.includes(m) ? m : "idle";
}

// Each action registers one of these as an event listener; it holds ~10 KB
// (1280 doubles).
class LeakyListener {
  constructor(id) {
    this.id = id;
    this.payload = new Array(1280).fill(id + 0.5);
    this.calls = 0;
    this.handle = () => { this.calls++; };
  }
}

const bus = new EventTarget();
globalThis.leakedListeners = []; // leaky: never cleared (module state lives as long as the isolate)
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

export default {
  async fetch(request, env) {
    mode = pickMode(env);
    const url = new URL(request.url);
    if (url.pathname === "/work") {
      globalThis.handleRequests(url.searchParams.get("n") ?? 1);
      return Response.json(stats());
    }
    if (url.pathname === "/stats") return Response.json(stats());
    if (url.pathname === "/") return new Response(`ok ${mode}\n`);
    return new Response("not found\n", { status: 404 });
  },
};
