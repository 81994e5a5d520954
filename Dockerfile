# syntax=docker/dockerfile:1.7
#
# entrastream container image.
#   docker build -t entrastream:dev .        (or: podman build -t entrastream:dev .)
#   docker run --rm entrastream:dev --version
#
# Two stages:
#   build   - the Rust toolchain; compiles the `entrastream` binary. Cargo's registry and the
#             target directory live in BuildKit/buildah cache mounts, so a rebuild after a source
#             change recompiles only our crates, not the ~300 dependencies.
#   runtime - Debian slim (glibc) with CA certificates and nothing else: OpenSSL, zlib and ISA-L
#             are linked into the binary statically, so no libssl3 or zlib1g is installed (see
#             `ldd`: libc, libm, libgcc_s only). No compiler, no package lists, no secrets. Runs as a numeric non-root
#             user and writes only where the config says (dead-letter and file sinks under
#             /var/lib/entrastream, scratch in /tmp), so it works with a read-only root filesystem.
#
# The base images are arguments so that a mirror or a pinned digest can be used
# (e.g. --build-arg RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim@sha256:...).
# The runtime must have a glibc at least as new as the builder's (the same Debian release is
# simplest): glibc is the one library the binary links dynamically.
#
# The shipped binary carries no DWARF debug info (about 175 MB with line tables, 41 MB without);
# its symbol table stays, so a backtrace still names functions. The debug info is kept in a
# separate file, exported with:  docker build --target debug-symbols -o out .

ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
# librdkafka's build script needs a C toolchain, pkg-config, OpenSSL and zlib headers; ISA-L
# (feature `isal`: the HTTP sinks' gzip, ~1.8x zlib-rs's speed) needs nasm and autotools. ISA-L
# is linked statically, so the runtime stage needs nothing more.
# DL3008: Debian package versions are not pinned on purpose; the release (bookworm) is pinned
# by the image tag and security updates should flow in on rebuild.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libssl-dev zlib1g-dev \
      nasm autoconf automake libtool \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Every workspace member's manifest is needed to resolve the workspace, so the workspace is
# copied whole; .dockerignore keeps target/, .git/, docs and deploy files out of the context.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY benches ./benches
COPY tests ./tests
COPY config ./config
# The build context has no .git: the commit for entrastream_build_info{commit} comes from the
# same REVISION argument as the image label (unknown when not given).
ARG REVISION=unknown
ENV ENTRASTREAM_COMMIT=${REVISION}
# --no-default-features: no `demo` (its embedded Kafka broker and Event Hubs peer are test
# support, not part of the daemon); scripts/check-shipped-build checks these flags' dependency
# tree for test crates. `isal`: the HTTP sinks' gzip with ISA-L.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p entrastream --no-default-features --features isal \
 && install -d /out \
 && objcopy --only-keep-debug target/release/entrastream /out/entrastream.debug \
 && objcopy --strip-debug --add-gnu-debuglink=/out/entrastream.debug \
      target/release/entrastream /out/entrastream \
 && chmod 0755 /out/entrastream

# The debug info of the shipped binary, for symbolising a core dump or a backtrace offline.
FROM scratch AS debug-symbols
COPY --from=build /out/entrastream.debug /entrastream.debug

FROM ${RUNTIME_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="entrastream" \
      org.opencontainers.image.description="Streams Microsoft Entra ID activity logs from Azure Event Hubs into SIEMs" \
      org.opencontainers.image.source="https://github.com/entrastream/entrastream" \
      org.opencontainers.image.url="https://github.com/entrastream/entrastream" \
      org.opencontainers.image.documentation="https://github.com/entrastream/entrastream/blob/main/docs/deploy.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
# CA certificates only (TLS to Event Hubs, Azure Storage and the SIEMs): the binary needs no
# shared library beyond glibc's, which the base has. The data directory belongs to the runtime user; in Kubernetes an
# emptyDir or volume is mounted over it.
# DL3008: see the build stage.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/entrastream \
 && install -d -m 0755 /etc/entrastream
COPY --from=build /out/entrastream /usr/local/bin/entrastream
COPY config/entrastream.example.toml /usr/share/doc/entrastream/entrastream.example.toml
# Numeric user and group: Kubernetes' runAsNonRoot can verify a number, not a name.
USER 10001:10001
WORKDIR /var/lib/entrastream
# The admin server: /metrics, /livez, /readyz, /status ([admin] listen).
EXPOSE 9464
ENTRYPOINT ["entrastream"]
# Mount a config file at this path (a ConfigMap in Kubernetes, -v in docker/podman run).
CMD ["run", "--config", "/etc/entrastream/entrastream.toml"]
