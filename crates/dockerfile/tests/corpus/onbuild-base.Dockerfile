FROM python:3.12-slim
ONBUILD COPY requirements.txt /app/
ONBUILD RUN pip install --no-cache-dir -r /app/requirements.txt
ONBUILD COPY . /app
RUN useradd -r app
USER app
CMD ["python", "/app/main.py"]
