# syntax=docker/dockerfile:1.7
FROM debian:12-slim
RUN <<EOF
set -e
apt-get update
apt-get install -y --no-install-recommends python3
EOF
RUN <<-'SCRIPT' bash
	cd /opt
	echo "done" > marker
	SCRIPT
USER 1000
CMD ["python3"]
