FROM debian:12-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
COPY src/ /src/
WORKDIR /src
RUN make

FROM debian:12-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmakefile-parser-perl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/tool /usr/local/bin/tool
USER 1000
ENTRYPOINT ["/usr/local/bin/tool"]
