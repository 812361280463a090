import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';

/** The largest WebSocket message accepted, as HTTP's 1 MB body limit (SPEC §6). */
export const MAX_SOCKET_MESSAGE_BYTES = 1024 * 1024;

type SocketServer = { options: { maxPayload?: number } };

/**
 * Bounds the size of a message on the subscription socket. Nest creates graphql-ws's WebSocketServer itself,
 * with `ws`'s default of 100 MiB per message, and offers no option for it; `ws` reads `maxPayload` from the
 * server's options for each connection it accepts, so setting it once the server exists (before the app
 * listens) covers every socket: a larger frame closes the socket with 1009 before it is parsed. Fails start-up
 * loudly if a library upgrade moves the server, rather than leaving sockets unbounded.
 */
@Injectable()
export class SubscriptionSocketLimits implements OnApplicationBootstrap {
  constructor(private readonly moduleRef: ModuleRef) {}

  onApplicationBootstrap(): void {
    const graphql = this.moduleRef.get(GraphQLModule, { strict: false });
    const adapter = graphql.graphQlAdapter as unknown as { _subscriptionService?: { wss?: SocketServer } };
    const server = adapter._subscriptionService?.wss;
    if (!server?.options) throw new Error('the subscription WebSocket server was not found: its message size cannot be bounded');
    server.options.maxPayload = MAX_SOCKET_MESSAGE_BYTES;
  }
}
