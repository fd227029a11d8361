FROM debian:12-slim AS build
WORKDIR /src/vendor/lib
RUN (cd .. && ./configure) && make
WORKDIR /src
RUN ./build.sh --cdrom cd-image

FROM scratch
COPY --from=build /src/out/app /app
USER 65534
ENTRYPOINT ["/app"]
