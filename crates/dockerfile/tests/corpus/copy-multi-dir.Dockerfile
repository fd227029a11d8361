FROM alpine:3.20
COPY app.conf logging.conf /etc/app/
COPY ["a.txt", "b.txt", "/opt/app/"]
COPY config/*.yaml /etc/app
COPY single.conf /etc/app.conf
USER 1000
