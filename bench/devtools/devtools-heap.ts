// DevTools' own heap-snapshot worker code (npm chrome-devtools-frontend),
// bundled for Node by bench/devtools/build.mjs: loads a .heapsnapshot file
// the way the Memory panel does (HeapSnapshotLoader, then initialize() with
// its second worker on an in-process MessageChannel, as DevTools'
// createJSHeapSnapshotForTesting does).
import * as fs from 'node:fs';

import {
  HeapSnapshotProgress,
  JSHeapSnapshot,
  SecondaryInitManager,
} from '../../tools/js/node_modules/chrome-devtools-frontend/front_end/entrypoints/heap_snapshot_worker/HeapSnapshot.js';
import {HeapSnapshotLoader} from '../../tools/js/node_modules/chrome-devtools-frontend/front_end/entrypoints/heap_snapshot_worker/HeapSnapshotLoader.js';

export {HeapSnapshotProgress, JSHeapSnapshot};

export async function loadSnapshot(path: string): Promise<JSHeapSnapshot> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const loader = new HeapSnapshotLoader({sendEvent() {}} as any);
  const fd = fs.openSync(path, 'r');
  const chunk = Buffer.alloc(1 << 20);
  const decoder = new TextDecoder();
  for (;;) {
    const n = fs.readSync(fd, chunk, 0, chunk.length, null);
    if (n === 0) {
      break;
    }
    loader.write(decoder.decode(chunk.subarray(0, n), {stream: true}));
    // the loader parses in its own async loop: let it run
    await new Promise(resolve => setImmediate(resolve));
  }
  fs.closeSync(fd);
  loader.write(decoder.decode());
  loader.close();
  const channel = new MessageChannel();
  new SecondaryInitManager(channel.port2);
  const snapshot = await loader.buildSnapshot(channel.port1);
  channel.port1.close();
  channel.port2.close();
  return snapshot;
}
