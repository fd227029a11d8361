FROM redis:7.2-alpine
USER redis
CMD ["redis-server", "--appendonly", "yes"]
