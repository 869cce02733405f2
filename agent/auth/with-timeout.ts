/**
 * Races a call to the API server against a deadline, so a hung API server cannot hold a request forever. At the
 * deadline the call's signal aborts too: the request is given up, not left holding a connection to the API server
 * (a TokenReview left open for the client's own 30 s would outlive the authenticator's cap of reviews in flight).
 */
export async function withTimeout<T>(
  call: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const giveUp = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      call(giveUp.signal),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`${what}: no answer within ${timeoutMs} ms`));
          giveUp.abort();
        }, timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
