FROM python:latest
RUN apt-get update
RUN apt-get install -y gcc libpq-dev
COPY . /app
WORKDIR /app
RUN pip install -r requirements.txt
CMD gunicorn app:app
