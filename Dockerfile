# The daemon's own image: the single executable from scripts/build.
#   scripts/build && docker build -t previewd:latest .
# BASE defaults to Debian's slim image (where a registry is reachable); on a
# machine without one, build on the locally made preview base instead:
#   docker build --build-arg BASE=previewd/preview-base:latest -t previewd:latest .
# Run it with the Docker socket and a DATABASE_URL (the embedded PostgreSQL is
# for `scripts/start` on a host, not for this image):
#   docker run -v /var/run/docker.sock:/var/run/docker.sock -e DATABASE_URL=... \
#     -e PREVIEWD_HOST=0.0.0.0 --network host previewd:latest
ARG BASE=debian:12-slim
FROM ${BASE}
COPY dist/previewd /usr/local/bin/previewd
ENV PREVIEWD_HOST=0.0.0.0 PREVIEWD_DATA_DIR=/var/lib/previewd PREVIEWD_LOG_PRETTY=0
# The daemon talks to the Docker socket, which needs root (or the docker group) on the host.
USER root
WORKDIR /var/lib/previewd
EXPOSE 8080 8081 8082 8082/udp
ENTRYPOINT ["/usr/local/bin/previewd"]
CMD ["serve"]
