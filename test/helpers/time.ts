/** `promise`, or a rejection once `ms` have passed naming `what`: a hang fails the test instead of stalling it. */
export function within<T>(ms: number, promise: PromiseLike<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    Promise.resolve(promise).finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}
