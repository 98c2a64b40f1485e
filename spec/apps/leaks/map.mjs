// Map cache: pages cached by their full URL, query string included, never
// evicted (every distinct query is a new key). correct: a bounded LRU (50 entries).
class CachedPage {
  constructor(url, i) {
    this.url = url;
    this.html = new Array(64).fill(i); // stands for the rendered page
    this.cachedAt = Date.now();
  }
}

const pageCache = new Map();
const LIMIT = 50;

function url(i) {
  return `/products?page=${i % 7}&utm_source=mail&session=${i}`;
}

export function leaky(i) {
  const key = url(i);
  if (!pageCache.has(key)) pageCache.set(key, new CachedPage(key, i));
  return pageCache.get(key);
}

export function correct(i) {
  const key = url(i);
  let page = pageCache.get(key);
  if (page) {
    pageCache.delete(key); // most recently used goes last
  } else {
    page = new CachedPage(key, i);
  }
  pageCache.set(key, page);
  if (pageCache.size > LIMIT) pageCache.delete(pageCache.keys().next().value);
  return page;
}

export const stats = () => ({ held: pageCache.size });
