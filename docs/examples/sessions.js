// The program of docs/heap-queries.md: seven Session objects held three ways.
class Session { constructor(id) { this.id = id; this.buf = new Array(100).fill(id); } }
const cache = new Map();
for (let i = 0; i < 5; i++) cache.set(i, new Session(i));
globalThis.cache = cache;
globalThis.current = new Session(99);
const timers = [];
function remember(s) { timers.push(setInterval(() => s.id, 60000)); }
remember(new Session(7));
require('v8').writeHeapSnapshot('app.heapsnapshot');
timers.forEach(clearInterval);
