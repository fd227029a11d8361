FROM alpine
# berth-lint ignore=BL001
USER 1000
# berth-lint ignore-file=BL017, BL019
MAINTAINER someone
RUN sudo true
