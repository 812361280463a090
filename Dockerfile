# syntax=docker/dockerfile:1
#
# Custos production image.
#   docker build -t custos .
#   docker compose up        (see docker-compose.yml for the required environment)
#
# Stage 1 compiles TypeScript (src/ and migrations/ -> dist/) and then drops dev dependencies;
# stage 2 carries only what `node dist/src/main.js` needs and runs it as the unprivileged `node` user.

ARG NODE_IMAGE=node:22-bookworm-slim

# ---------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app

# Dependencies first, so this layer is reused until package.json / package-lock.json change.
# argon2 ships prebuilt linux-x64/arm64 glibc binaries, so no compiler toolchain is needed here.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# Sources (the .dockerignore keeps node_modules, dist, test, .data, .git, ... out of the context).
COPY . .

# nest build compiles src/ and migrations/ into dist/ and copies the src/**/*.txt assets (nest-cli.json).
RUN npx nest build \
 && test -f dist/src/main.js \
 && npm prune --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# ---------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

ENV NODE_ENV=production \
    PORT=3000 \
    AUDIT_CHECKPOINT_PATH=/var/lib/custos/audit-checkpoints.jsonl

WORKDIR /app

# Writable state lives outside the (root-owned, read-only for `node`) application tree:
#   /var/lib/custos  audit checkpoints (mount a volume here)
#   /app/.data       DATA_DIR default; only used without DATABASE_URL / secrets, i.e. never in production
RUN mkdir -p /var/lib/custos /app/.data \
 && chown node:node /var/lib/custos /app/.data

COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Only for `npm start` / `npm run migration:run` inside the container (build-if-needed.js sees no src/ and
# uses dist/ as built); the CMD below does not use them.
COPY --from=build /app/scripts ./scripts

USER node

# Mount a volume on /var/lib/custos (docker-compose.yml does) so the checkpoints survive the container.
EXPOSE 3000

# Liveness only (the process answers). /health/ready additionally checks the database and migrations.
# Slim images have no curl: use Node's built-in fetch.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

STOPSIGNAL SIGTERM

# Run the compiled entry point directly (no `npm start`: its prestart would try to build, and npm
# would sit between the signal and Node). main.ts handles SIGTERM with a graceful shutdown and
# applies pending migrations before listening.
# The same Node flags as `npm start`: a larger young generation (32 MB semi-spaces instead of 16) halves
# the scavenges a 100-row PII page causes; measured in docs/SCALING.md.
CMD ["node", "--max-semi-space-size=32", "dist/src/main.js"]
