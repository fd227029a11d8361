FROM alpine:3.20
ARG CONF=/etc/app.conf
COPY a.conf b.conf ${CONF}
COPY --chown=1000 x y ${CONF}.d/
USER 1000
