FROM python:3.12-slim
USER 1000
HEALTHCHECK CMD ["python", "-c", "print(1)"]
CMD ["python", "-m", "worker"]
HEALTHCHECK --interval=10s CMD ["python", "/check.py"]
CMD ["python", "-m", "worker", "--queue", "default"]
ENTRYPOINT ["tini", "--"]
