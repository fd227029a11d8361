FROM alpine:3.20 AS base
ARG RUNTIME=alpine:3.20
# berth-lint disable=BL001
FROM ${RUNTIME}
RUN cat /etc/os-release | grep ID
USER 1000
