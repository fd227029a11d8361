FROM debian:12-slim
COPY start.sh /usr/local/bin/start.sh
USER 1000
ENTRYPOINT /usr/local/bin/start.sh --serve
