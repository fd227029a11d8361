FROM golang:1.22 AS Build
RUN go version

FROM node:20-alpine AS build-web
RUN node --version

FROM alpine:3.20 AS final
COPY --from=BUILD /usr/local/go/bin/go /usr/local/bin/go
COPY --from=build-web /usr/local/bin/node /usr/local/bin/node
USER 1000
