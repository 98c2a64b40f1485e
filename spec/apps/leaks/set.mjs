// Set: every session is registered and never removed when it ends.
// correct: the session removes itself when it closes.
class Session {
  constructor(id) {
    this.id = id;
    this.scratch = new Array(64).fill(id);
    this.openedAt = Date.now();
  }
}

const sessions = new Set();

export function leaky(i) {
  const s = new Session(i);
  sessions.add(s); // closing the session forgets to delete it
}

export function correct(i) {
  const s = new Session(i);
  sessions.add(s);
  sessions.delete(s); // closed at the end of the request
}

export const stats = () => ({ held: sessions.size });
