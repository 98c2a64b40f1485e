// Forgotten timers: each job starts a polling interval that is never cleared;
// its callback closes over the job's context. correct: the job clears it.
class JobContext {
  constructor(id) {
    this.id = id;
    this.results = new Array(64).fill(id);
    this.polls = 0;
  }
}

const running = { started: 0, cleared: 0 };

export function leaky(i) {
  const ctx = new JobContext(i);
  setInterval(() => { ctx.polls++; }, 3600 * 1000);
  running.started++;
}

export function correct(i) {
  const ctx = new JobContext(i);
  const timer = setInterval(() => { ctx.polls++; }, 3600 * 1000);
  running.started++;
  clearInterval(timer); // the job finished
  running.cleared++;
}

export const stats = () => ({ held: running.started - running.cleared });
