import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MetricsService } from './metrics.service';

/** Times every HTTP request; the route label is the path without query, bounded to known prefixes. */
@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  constructor(private readonly metrics: MetricsService) {}

  use(req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, next: () => void): void {
    const stop = this.metrics.httpDuration.startTimer();
    res.on('finish', () => {
      const path = (req.originalUrl ?? req.url ?? '').split('?')[0];
      const route = ['/graphql', '/health/live', '/health/ready', '/metrics'].includes(path)
        ? path
        : path.startsWith('/audit/') ? '/audit/*' : 'other';
      stop({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  }
}
