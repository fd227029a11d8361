# syntax=docker/dockerfile:1
FROM python:3.12-slim AS base
ENV PIP_NO_CACHE_DIR=1
FROM base
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY requirements-dev.txt .
RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements-dev.txt
USER 1000
