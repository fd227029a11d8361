# syntax=docker/dockerfile:1.7
FROM nginx:1.27-alpine
COPY <<EOF /etc/nginx/conf.d/default.conf
server {
    listen 8080;
    location / { return 200 'ok'; }
}
EOF
COPY <<one.txt <<two.txt /srv/
first
one.txt
second
two.txt
USER nginx
EXPOSE 8080
HEALTHCHECK CMD wget -qO- http://localhost:8080/ || exit 1
