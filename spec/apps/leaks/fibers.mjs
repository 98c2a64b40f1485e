// Effect fibers (npm `effect`): each request forks a poller that loops forever
// and is never interrupted. correct: the request interrupts its fiber.
import { Effect, Fiber } from "effect";

class Poller {
  constructor(id) {
    this.id = id;
    this.seen = new Array(64).fill(id);
    this.polls = 0;
  }
}

let live = 0;

function pollForever(poller) {
  return Effect.forever(
    Effect.sync(() => { poller.polls++; }).pipe(Effect.andThen(Effect.sleep("1 hour"))),
  );
}

export function leaky(i) {
  Effect.runFork(pollForever(new Poller(i)));
  live++;
}

export async function correct(i) {
  const fiber = Effect.runFork(pollForever(new Poller(i)));
  await Effect.runPromise(Fiber.interrupt(fiber));
}

export const stats = () => ({ held: live });
