FROM golang:1.22 AS build
RUN go version

FROM node:20-alpine AS build
RUN node --version

FROM alpine:3.20
COPY --from=build /usr/local/bin/node /usr/local/bin/node
USER 1000
