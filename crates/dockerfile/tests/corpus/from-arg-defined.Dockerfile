ARG BASE_IMAGE=debian:12-slim
ARG VARIANT
FROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS build
ARG TARGETARCH
RUN echo building for $TARGETARCH

FROM ${RUNTIME_IMAGE:-gcr.io/distroless/base-debian12:nonroot}
COPY --from=build /etc/os-release /os-release

FROM debian:12-${VARIANT}
USER 1000
