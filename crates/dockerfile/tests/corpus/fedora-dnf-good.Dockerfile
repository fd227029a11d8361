FROM fedora:40
RUN dnf install -y --setopt=install_weak_deps=False python3 \
    && dnf clean all \
    && useradd -r app
USER app
CMD ["python3", "-m", "http.server", "8000"]
