FROM alpine:3.20
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/tool.bin /usr/local/bin/tool
ADD rootfs.tar.gz /
ADD https://example.com/releases/app-1.2.tgz /opt/
ADD git@github.com:example/repo.git /src/repo
ADD --keep-git-dir=true https://github.com/example/lib.git#v1.0 /src/lib
USER 1000
