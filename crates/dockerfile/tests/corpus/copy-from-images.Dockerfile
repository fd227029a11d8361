FROM alpine:3.20 AS certs
RUN apk add --no-cache ca-certificates

FROM scratch
COPY --from=certs /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=0 /etc/passwd /etc/passwd
COPY --from=docker.io/library/busybox:1.36 /bin/busybox /bin/busybox
COPY --from=ghcr.io/example/tools@sha256:3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d /tool /tool
RUN --mount=from=certs,source=/etc/ssl,target=/mnt/ssl ["/bin/busybox", "ls", "/mnt/ssl"]
USER 65534
