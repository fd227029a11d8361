FROM redis:7.2-alpine
EXPOSE 6379
HEALTHCHECK NONE
USER redis
CMD ["redis-server"]
