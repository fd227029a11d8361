FROM alpine:3.20
RUN apk update
RUN apk add curl bash
RUN apk upgrade
USER nobody
RUN echo done
USER root
ENTRYPOINT ["/bin/sh"]
