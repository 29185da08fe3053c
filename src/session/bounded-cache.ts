/**
 * Put `key` in a small insertion-ordered cache that forgets its oldest entry
 * once it holds `max`, so nobody can grow it without limit; returns `value`.
 */
export function remember<K, V>(cache: Map<K, V>, key: K, value: V, max: number): V {
  if (cache.size >= max) cache.delete(cache.keys().next().value as K);
  cache.set(key, value);
  return value;
}
