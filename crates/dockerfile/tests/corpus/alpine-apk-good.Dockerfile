FROM alpine:3.20.2
RUN apk add --no-cache curl ca-certificates \
    && adduser -D -u 10001 app
COPY --chown=app:app bin/ /opt/app/
USER app
ENTRYPOINT ["/opt/app/run"]
