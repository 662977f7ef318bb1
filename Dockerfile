# The service image: worker, bridge and paper exchange are the same code with different roles.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts=false
COPY . .
ENV NODE_ENV=production
USER node
CMD ["npx", "tsx", "src/operations/main.ts"]
