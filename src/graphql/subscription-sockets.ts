import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';

/** The largest WebSocket message accepted, as HTTP's 1 MB body limit (SPEC §6). */
export const MAX_SOCKET_MESSAGE_BYTES = 1024 * 1024;

/** WebSocket close code 1001 "going away": graphql-ws clients reconnect after it (to another instance). */
const GOING_AWAY = 1001;

type Socket = { close(code: number, reason: string): void };
type SocketServer = { options: { maxPayload?: number }; clients: Set<Socket> };

/**
 * The subscription WebSocket server, which Nest creates itself (for graphql-ws) and offers no options for.
 *
 * - Message size: `ws` defaults to 100 MiB per message. It reads `maxPayload` from the server's options for
 *   each connection it accepts, so setting it once the server exists (before the app listens) covers every
 *   socket: a larger frame closes the socket with 1009 before it is parsed.
 * - Shutdown: Nest disposes of the server only when the modules are torn down, after the HTTP drain, so an
 *   open socket held every shutdown for the full grace period. `goingAway` closes the sockets first.
 *
 * Fails start-up loudly if a library upgrade moves the server, rather than leaving sockets unbounded.
 */
@Injectable()
export class SubscriptionSockets implements OnApplicationBootstrap {
  private server?: SocketServer;

  constructor(private readonly moduleRef: ModuleRef) {}

  onApplicationBootstrap(): void {
    const graphql = this.moduleRef.get(GraphQLModule, { strict: false });
    const adapter = graphql.graphQlAdapter as unknown as { _subscriptionService?: { wss?: SocketServer } };
    const server = adapter._subscriptionService?.wss;
    if (!server?.options || !(server.clients instanceof Set)) throw new Error('the subscription WebSocket server was not found: its message size cannot be bounded nor its sockets closed on shutdown');
    server.options.maxPayload = MAX_SOCKET_MESSAGE_BYTES;
    this.server = server;
  }

  /**
   * Asks every open subscription socket to close (1001): a client finishes the close handshake at once and
   * reconnects elsewhere, so the HTTP drain that follows is not held up by sockets that never end on their own.
   */
  goingAway(): void {
    for (const socket of this.server?.clients ?? []) socket.close(GOING_AWAY, 'Server shutting down');
  }
}
