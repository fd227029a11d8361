FROM alpine:3.20
ARG APP_USER=app
ENV APP_HOME=/opt/app \
    PORT=8080
WORKDIR $APP_HOME
COPY --chown=${APP_USER}:${APP_USER} bin/ ${APP_HOME}/bin/
EXPOSE ${PORT:-80} ${METRICS_PORT:-9090}
EXPOSE ${PORT:+$PORT/udp}
USER ${APP_USER}
HEALTHCHECK CMD ["/opt/app/bin/check"]
ENTRYPOINT ["/opt/app/bin/run"]
