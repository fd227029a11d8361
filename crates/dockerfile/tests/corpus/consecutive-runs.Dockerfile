FROM debian:12-slim
RUN --mount=type=cache,target=/var/cache/apt --mount=type=cache,target=/var/lib/apt \
    apt-get update && apt-get install -y --no-install-recommends make
RUN make -C /usr/share/doc
RUN echo a
RUN echo b
LABEL stage=test
RUN echo c
USER 1000
