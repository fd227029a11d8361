# berth-lint ignore-file=BL004
# base image chosen by the platform team
# berth-lint ignore=BL001
FROM ubuntu
# berth-lint ignore=BL007,BL006
RUN apt-get update && apt-get install -y curl
# berth-lint ignore=BL999
RUN echo one

# berth-lint ignre=BL005
RUN echo two
# berth-lint ignore=BL021

WORKDIR app
