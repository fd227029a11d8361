FROM alpine:3.20 AS Test
RUN echo one > /one
FROM alpine:3.20 AS test
RUN echo two > /two
FROM alpine:3.20
COPY --from=tset /one /one
RUN --mount=from=cache-stage,target=/mnt true
USER 1000
