FROM python:3.12-slim AS base
CMD ["python", "-m", "base"]

FROM base
USER 1000
CMD ["python", "-m", "worker"]
