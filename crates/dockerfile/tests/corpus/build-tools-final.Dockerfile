FROM debian:12-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY src/ /src/
WORKDIR /src
RUN ./configure --prefix=/usr/local && make install
USER 1000
ENTRYPOINT ["/usr/local/bin/tool"]
