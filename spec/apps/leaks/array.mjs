// Array: every order is pushed onto a module-level list that nothing trims.
// correct: the list keeps the last 20 orders.
class Order {
  constructor(id) {
    this.id = id;
    this.lines = new Array(64).fill(id); // ~0.5 KB per order
    this.placedAt = Date.now();
  }
}

const orders = [];

export function leaky(i) {
  orders.push(new Order(i));
}

export function correct(i) {
  orders.push(new Order(i));
  if (orders.length > 20) orders.shift();
}

export const stats = () => ({ held: orders.length });
