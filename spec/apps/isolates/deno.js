// memdbg demo app with a Deno Worker (issue 16):
//   deno run --inspect=127.0.0.1:0 --allow-net --allow-read deno.js isolates
// The main module hands each message to a module worker (worker.js, the one
// Chromium's page runs too), which leaks a WorkerRecord per message; the main
// module keeps nothing. Evaluate send(n) -> Promise (n messages handled).
// Prints: memdbg-app ready mode=isolates http=http://127.0.0.1:PORT
const worker = new Worker(new URL("./worker.js", import.meta.url).href, { type: "module", name: "leaky-worker" });
let syncs = 0;
globalThis.send = function send(n) {
  return new Promise((resolve) => {
    for (let i = 0; i < n; i++) worker.postMessage({ i, text: "message " + i });
    const id = ++syncs;
    const onMessage = (e) => {
      if (e.data.synced !== id) return;
      worker.removeEventListener("message", onMessage);
      resolve(e.data.kept);
    };
    worker.addEventListener("message", onMessage);
    worker.postMessage({ sync: id });
  });
};
await globalThis.send(5);
Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: ({ port }) => {
  console.log(`memdbg-app ready mode=isolates http=http://127.0.0.1:${port}`);
} }, () => new Response("ok\n"));
