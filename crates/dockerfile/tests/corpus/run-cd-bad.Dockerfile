FROM debian:12-slim AS build
RUN cd /tmp && curl -fsSLO https://example.com/tool-1.0.tar.gz
WORKDIR /src
COPY . .
RUN make && cd build && make install

FROM debian:12-slim
COPY --from=build /usr/local/bin/tool /usr/local/bin/tool
USER 1000
ENTRYPOINT ["tool"]
