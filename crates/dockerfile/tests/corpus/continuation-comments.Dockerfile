FROM debian:12-slim
RUN apt-get update \
# the runtime libraries only
    && apt-get install -y --no-install-recommends \
        libssl3 \

        ca-certificates \
    && rm -rf /var/lib/apt/lists/*
USER 1000
