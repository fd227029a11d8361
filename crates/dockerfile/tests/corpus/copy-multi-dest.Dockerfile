FROM alpine:3.20
COPY app.conf logging.conf /etc/app
ADD one.txt two.txt /srv/data
COPY ["a.txt", "b.txt", "/opt/app"]
USER 1000
