# syntax=docker/dockerfile:1
FROM python:3.12-slim
ENV GPG_KEY=7169605F62C751356D054A26A821E680E5FA6305
ENV DB_PASSWORD_FILE=/run/secrets/db_password \
    TOKEN_URL=https://auth.example.com/token \
    PWD_HINT=none
ARG PIP_INDEX_URL=https://pypi.org/simple
RUN --mount=type=secret,id=pip_token,env=PIP_TOKEN pip install --no-cache-dir private-package==1.4.0
USER 10001
CMD ["python", "-m", "private_package"]
