# zipflow worker. Runs the TypeScript sources through tsx (a runtime dependency), so there
# is no build step. Debian (glibc) rather than Alpine: the Temporal worker's native core
# and its workflow bundler's SWC ship prebuilt glibc binaries.
FROM node:20-bookworm-slim

ENV NODE_ENV=production
# Worker memory settings: src/workerRuntime.ts says why, docs/benchmarks.md what they save.
ENV NODE_OPTIONS="--max-old-space-size=128 --max-semi-space-size=2" MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src

USER node
CMD ["node", "bin/zipflow.js", "worker"]
