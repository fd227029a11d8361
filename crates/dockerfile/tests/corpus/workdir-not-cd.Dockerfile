FROM debian:12-slim
WORKDIR /src
COPY build.sh .
RUN ./build.sh --cd-rom && echo "cd done; sudo not needed"
# berth-lint ignore=BL005
RUN apt-get update && apt-get install -y --no-install-recommends sudo && rm -rf /var/lib/apt/lists/*
USER 1000
