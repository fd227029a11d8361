FROM debian:12-slim
RUN apt-get update
RUN apt-get install -y curl && rm -rf /var/lib/apt/lists/*
WORKDIR /x
RUN apt-get install -y --no-install-recommends wget \
    && apt-get update
USER 1000
