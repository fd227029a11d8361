FROM ubuntu:24.04
RUN apt-get update && apt-get install --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
RUN apt-get update && apt install -qq --no-install-recommends jq && rm -rf /var/lib/apt/lists/*
WORKDIR /data
RUN apt-get update && apt-get -o APT::Get::Assume-Yes=true install --no-install-recommends git && rm -rf /var/lib/apt/lists/*
WORKDIR /srv
RUN dnf install --assumeyes git && dnf clean all
WORKDIR /tmp
RUN apt-get update && apt-get remove python3 && rm -rf /var/lib/apt/lists/*
USER 1000
