# syntax=docker/dockerfile:1
#
# callbridge: compiled once with the project's TypeScript, run on Node 22 with production
# dependencies only, as the unprivileged node user (uid 1000).

ARG NODE_IMAGE=node:22-bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# .npmrc matters: onnxruntime-node-install=skip (the Silero VAD's CPU binaries ship inside the
# package; its install script would otherwise try to download CUDA ones).
COPY package.json package-lock.json .npmrc ./
# The install hook builds the web console only when its sources are there: not yet at this step.
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/build-console.ts ./scripts/
# The server (tsc → dist/) and the web console (esbuild → dist/console/: page, script, styles).
RUN npm run build

# ---------------------------------------------------------------------------------------------
# A separate install so that no dev dependency (TypeScript, the `node` package that pins Node for
# development, test tools) reaches the final image.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev && npm cache clean --force

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# dist/ holds the server and dist/console, the web console it serves at /.
COPY --from=build /app/dist ./dist
COPY package.json ./

# Mount points: the playback volume shared with FreeSWITCH (callbridge writes, FreeSWITCH reads) and the
# call history (a new named volume takes this directory's owner, so node can write the database).
RUN install -d -o node -g node /var/lib/callbridge/playback /app/data \
    && install -d -o 999 -g node -m 2775 /var/lib/callbridge/recordings

USER node
EXPOSE 8080

# /health answers as long as the process serves HTTP (also while FreeSWITCH is away: callbridge
# reconnects by itself, a restart would not help).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["node", "-e", "const h=process.env.HTTP_HOST;const host=!h||h==='0.0.0.0'||h==='::'?'127.0.0.1':h.includes(':')?'['+h+']':h;fetch('http://'+host+':'+(process.env.HTTP_PORT||8080)+'/health',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

CMD ["node", "dist/main.js"]
