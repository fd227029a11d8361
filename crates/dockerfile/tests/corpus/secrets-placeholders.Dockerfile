FROM node:20.11-alpine
ENV SESSION_SECRET=""
ENV API_KEY_PATH=/run/secrets/api_key
ARG NPM_REGISTRY=https://registry.npmjs.org/
ENV TOKEN_TTL_SECONDS=3600
USER node
