# zipflow worker on Node 24 (LTS), running the compiled JavaScript: the build stage compiles
# src/ into dist/, the image has the production dependencies, bin/ and dist/ only (no tsx, no
# TypeScript). Debian (glibc) rather than Alpine: the Temporal worker's native core and its
# workflow bundler's SWC ship prebuilt glibc binaries.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim

ENV NODE_ENV=production
# Worker memory settings: src/workerRuntime.ts says why, docs/benchmarks.md what they save.
ENV NODE_OPTIONS="--max-old-space-size=128 --max-semi-space-size=2" MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY bin ./bin
COPY --from=build /app/dist ./dist

USER node
CMD ["node", "bin/zipflow.js", "worker"]
