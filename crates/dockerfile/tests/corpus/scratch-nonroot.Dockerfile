FROM golang:1.22-alpine AS build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -o /app && echo 'app:x:10001:10001::/:' > /passwd

FROM scratch
COPY --from=build /passwd /etc/passwd
COPY --from=build /app /app
USER app
ENTRYPOINT ["/app"]
