FROM ubuntu:24.04
RUN useradd -m dev && apt-get update && apt-get install -y --no-install-recommends sudo && rm -rf /var/lib/apt/lists/*
USER dev
RUN sudo mkdir -p /opt/app
WORKDIR /opt/app
RUN DEBIAN_FRONTEND=noninteractive sudo -E apt-get update
