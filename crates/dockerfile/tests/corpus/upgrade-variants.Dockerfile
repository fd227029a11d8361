FROM ubuntu:24.04
RUN apt-get update && apt-get -y dist-upgrade && rm -rf /var/lib/apt/lists/*
WORKDIR /a
RUN dnf -y upgrade && dnf clean all
WORKDIR /b
RUN dnf -y update openssl && dnf clean all
WORKDIR /c
RUN apt-get update && apt-get install -y --no-install-recommends --only-upgrade openssl && rm -rf /var/lib/apt/lists/*
USER 1000
