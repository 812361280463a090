import DataLoader from 'dataloader';

type WithLoaders = { custosLoaders?: Map<string, DataLoader<unknown, unknown>> };

/**
 * A DataLoader that lives for one request (kept on the request object), so every resolver of that request
 * shares its batch and cache — and nothing leaks between principals.
 */
export function requestLoader<K, V>(req: object, key: string, create: () => DataLoader<K, V>): DataLoader<K, V> {
  const holder = req as WithLoaders;
  holder.custosLoaders ??= new Map();
  let loader = holder.custosLoaders.get(key) as DataLoader<K, V> | undefined;
  if (!loader) {
    loader = create();
    holder.custosLoaders.set(key, loader as DataLoader<unknown, unknown>);
  }
  return loader;
}
