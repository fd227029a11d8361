FROM python:3.12-slim
WORKDIR /app
COPY requirements.txt .
RUN pip3 install -r requirements.txt
RUN python -m pip install --upgrade pip setuptools
USER 1000
