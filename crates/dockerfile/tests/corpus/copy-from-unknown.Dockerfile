FROM golang:1.22 AS build
RUN go build -o /out/app ./...

FROM alpine:3.20
COPY --from=biuld /out/app /app
COPY --from=2 /etc/passwd /etc/passwd
COPY --from=tests /report /report
COPY --from=1 /etc/hosts /tmp/hosts
USER 1000

FROM alpine:3.20 AS tests
RUN true
