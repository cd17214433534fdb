# The socket-proxy image: one static, stripped binary and the time-zone database on scratch.
# No shell, no package manager, no libc. Docs: docs/container.md.
#
#   docker build -t socket-proxy:local .   needs a registry for debian:12-slim
#   scripts/build-image                     needs none: builds the binary on the host, then this
#                                           file's final stage (its text, unchanged) from it

FROM debian:12-slim AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake libboost1.81-dev libyaml-cpp-dev libwolfssl-dev tzdata \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY src/ src/
COPY scripts/image-rootfs scripts/
RUN cmake -S . -B build-static -DCMAKE_BUILD_TYPE=Release \
        -DSOCKET_PROXY_STATIC=ON -DSOCKET_PROXY_TESTS=OFF \
    && cmake --build build-static -j"$(nproc)" \
    && scripts/image-rootfs build-static/socket-proxy /usr/share/zoneinfo /image

# The final stage: scripts/build-image builds this text unchanged, with a stand-in `build` stage
# holding the same /image files made from the host-built binary.
FROM scratch
COPY --from=build /image/rootfs/ /
# The volume's mount point belongs to the proxy's user: Docker gives a fresh named volume the
# owner and mode of the image's directory, so the proxy can create its socket without root.
COPY --from=build --chown=1000:1000 /image/empty/ /run/proxy/
ENV SOCKET_PROXY_VOLUME=/run/proxy \
    SOCKET_PROXY_DOCKER_SOCKET=/run/docker.sock \
    SOCKET_PROXY_UID=1000 \
    SOCKET_PROXY_GID=1000 \
    SOCKET_PROXY_TCP=0.0.0.0:2375 \
    SOCKET_PROXY_KEEPALIVE=10s \
    SOCKET_PROXY_TIMEOUT=30s
# Numeric: there is no /etc/passwd. Started like this the proxy cannot open the Docker socket and
# says which `user: "0:<gid>"` to run it as; started as root it drops to 1000:1000 by itself.
USER 1000:1000
VOLUME /run/proxy
EXPOSE 2375
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s CMD ["/socket-proxy", "healthcheck"]
ENTRYPOINT ["/socket-proxy"]
