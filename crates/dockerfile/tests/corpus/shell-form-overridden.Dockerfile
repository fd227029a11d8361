FROM debian:12-slim AS base
CMD echo base
ENTRYPOINT ["/bin/true"]

FROM base
USER 1000
CMD ["--verbose"]
