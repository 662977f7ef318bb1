# The service image: worker, bridge, paper exchange and the operator CLI are the same code,
# run with different roles (TRADE_EXEC_ROLES) or entry points. See docker-compose.yml.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# Dependencies first (cached layer); tsx is a runtime dependency, the TypeScript runs as source.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
# The worker bundles workflows/ at start-up; DATA_DIR is only used for embedded services.
RUN mkdir -p /tmp/trade-exec && chown node:node /tmp/trade-exec
USER node
ENV DATA_DIR=/tmp/trade-exec
# Operator CLI inside the container: docker compose exec worker node bin/trade-exec.js list
CMD ["node_modules/.bin/tsx", "src/operations/main.ts"]
