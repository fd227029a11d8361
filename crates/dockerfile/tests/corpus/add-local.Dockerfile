FROM alpine:3.20
ADD . /app
ADD config.json /etc/app/config.json
ADD --chown=app:app static/ /srv/static/
USER 1000
