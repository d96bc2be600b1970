# The bot's container image (SPEC §11). Three stages from the official node:22-bookworm-slim (on machines
# that cannot pull it, ../shared/tools/container-base builds it locally): the bundle built with the dev
# dependencies, the production dependencies installed alone, and a runtime stage holding only those two.
#   podman build -t convai-llm-bot .     (here: ../shared/tools/podman-here build -t convai-llm-bot .)
#   npm run test:image                   builds it and runs it against the test fakes

FROM docker.io/library/node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

FROM docker.io/library/node:22-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# npm leaves the scope folders of omitted dev packages behind, empty.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force \
 && find node_modules -mindepth 1 -maxdepth 1 -type d -empty -delete

FROM docker.io/library/node:22-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000 \
    CONVAI_SANDBOX_FILE=/data/convai-sandbox.json
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The embedded sandbox keeps its state here (only without CONVAI_API_KEY); the rest of the filesystem can
# be read-only.
RUN mkdir /data && chown node:node /data
VOLUME /data
USER node
EXPOSE 3000
# node itself, so no curl in the image; PORT as the container sees it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT||3000}/healthz`).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The bot drains in-flight requests on SIGTERM (at most 10 s) and exits 0: give `stop` more than that.
STOPSIGNAL SIGTERM
# node as PID 1, not npm (npm does not wait for its script on SIGTERM); dist/ is current by construction.
CMD ["node", "dist/app.mjs"]
