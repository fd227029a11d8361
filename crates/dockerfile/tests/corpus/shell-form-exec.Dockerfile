FROM nginx:1.27-alpine
USER nginx
HEALTHCHECK CMD wget -qO- http://localhost:8080/ || exit 1
CMD exec nginx -g 'daemon off;'
