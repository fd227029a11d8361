FROM debian:12-slim AS a
RUN set -o pipefail && curl -fsSL https://example.com/install.sh | sh

FROM debian:12-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN curl -fsSL https://example.com/install.sh | bash
WORKDIR /app
RUN ["sh", "-c", "true"] 
RUN make test || echo failed
USER 1000
