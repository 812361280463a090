import type { Server, ServerResponse } from 'node:http';

/**
 * The responses a server has not finished, so that a shutdown can have each keep-alive connection end with
 * the response it is carrying: the client is told (`Connection: close`) instead of finding the socket gone
 * when it sends its next request.
 */
class ResponsesInFlight {
  private readonly live = new Set<ServerResponse>();
  private draining = false;

  constructor(server: Server) {
    // First, so a handler that answers at once has not yet written its headers.
    server.prependListener('request', (_req, res: ServerResponse) => {
      if (this.draining) {
        res.shouldKeepAlive = false;
        return;
      }
      this.live.add(res);
      res.once('close', () => this.live.delete(res));
    });
  }

  /** From now on no response keeps its connection open: those begun already and those still to come. */
  drain(): void {
    this.draining = true;
    for (const res of this.live) if (!res.headersSent) res.shouldKeepAlive = false;
    this.live.clear();
  }
}

const tracked = new WeakMap<Server, ResponsesInFlight>();

/** Starts tracking `server`'s responses; call once, when the server is created. */
export function trackResponsesInFlight(server: Server): void {
  if (!tracked.has(server)) tracked.set(server, new ResponsesInFlight(server));
}

/** Ends every keep-alive connection of `server` with its current or next response. */
export function lastResponsesOnTheirConnections(server: Server): void {
  tracked.get(server)?.drain();
}
