# syntax=docker/dockerfile:1.7
#
# entrastream container image.
#   docker build -t entrastream:dev .        (or: podman build -t entrastream:dev .)
#   docker run --rm entrastream:dev --version
#
# Stages:
#   build   - the Rust toolchain; compiles the `entrastream` binary. Cargo's registry and the
#             target directory live in BuildKit/buildah cache mounts, so a rebuild after a source
#             change recompiles only our crates, not the ~300 dependencies.
#   rootfs  - assembles the runtime's whole file system from Debian packages of the builder's
#             release: the dynamic loader and exactly the shared libraries `ldd` says the binary
#             loads (glibc's libc and libm, libgcc_s), the CA certificate bundle, passwd/group
#             entries for the runtime user, and the directories it writes to.
#   runtime - FROM scratch plus that file system and the binary: no shell, no package manager,
#             no libssl or zlib (OpenSSL, zlib and ISA-L are linked into the binary statically).
#             This is the smallest base that has glibc and CA certificates; it is what distroless
#             `cc` images hold, minus their timezone data and package metadata. Runs as a numeric
#             non-root user and writes only where the config says (dead-letter and file sinks under
#             /var/lib/entrastream, scratch in /tmp), so it works with a read-only root filesystem.
#             To debug a running pod, attach a debug container (`kubectl debug -it POD
#             --image=busybox --target=entrastream`); there is nothing to `exec` into.
#
# The base images are arguments so that a mirror or a pinned digest can be used
# (e.g. --build-arg RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim@sha256:...).
# RUNTIME_IMAGE is where the runtime's glibc and CA certificates come from: it must be the
# builder's Debian release (or newer), because glibc is the one library the binary links
# dynamically.
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

# The runtime's file system, taken from Debian packages and nothing else. Every path the
# runtime needs is listed here, so the image holds exactly these files and the binary.
FROM ${RUNTIME_IMAGE} AS rootfs
# DL3008: see the build stage.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/entrastream /rootfs/usr/local/bin/entrastream
# SHELL with pipefail: the ldd listing below is piped.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN set -eu; R=/rootfs; BIN="$R/usr/local/bin/entrastream"; \
    # Debian's merged /usr: /lib and /lib64 are links into /usr, as on the host the binary was
    # linked for (its ELF interpreter is /lib64/ld-linux-x86-64.so.2).
    install -d -m 0755 "$R/usr/lib" "$R/usr/lib64" "$R/etc/ssl/certs" "$R/usr/share/doc"; \
    ln -s usr/lib "$R/lib"; ln -s usr/lib64 "$R/lib64"; \
    # The libraries come from ldd, so a new dynamic dependency cannot be forgotten; a library
    # ldd cannot find fails the build here rather than the container at start.
    if ldd "$BIN" | grep -q 'not found'; then ldd "$BIN" >&2; exit 1; fi; \
    for lib in $(ldd "$BIN" | awk '$2 == "=>" { print $3; next } $1 ~ /^\// { print $1 }'); do \
      real=$(readlink -f "$lib"); \
      install -D -m 0755 "$real" "$R$real"; \
      [ -e "$R$lib" ] || ln -s "$real" "$R$lib"; \
      # Debian lists a file under the path it ships (/lib/...), not its merged-/usr twin.
      pkg=$({ dpkg -S "$lib" 2>/dev/null || dpkg -S "$real"; } | head -n1 | cut -d: -f1); \
      install -D -m 0644 "/usr/share/doc/$pkg/copyright" "$R/usr/share/doc/$pkg/copyright"; \
    done; \
    # The CA bundle update-ca-certificates built: rustls (Azure SDK, HTTP sinks) and librdkafka's
    # static OpenSSL both find it at this Debian path.
    install -m 0644 /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/ca-certificates.crt"; \
    install -D -m 0644 /usr/share/doc/ca-certificates/copyright "$R/usr/share/doc/ca-certificates/copyright"; \
    # Names for the runtime user (10001) and root, for tools and logs that map ids to names.
    printf 'root:x:0:0:root:/root:/sbin/nologin\nentrastream:x:10001:10001:entrastream:/var/lib/entrastream:/sbin/nologin\n' > "$R/etc/passwd"; \
    printf 'root:x:0:\nentrastream:x:10001:\n' > "$R/etc/group"; \
    # glibc resolves host names from /etc/hosts first, then DNS (the runtime mounts both files).
    printf 'hosts: files dns\n' > "$R/etc/nsswitch.conf"; \
    chmod 0644 "$R/etc/passwd" "$R/etc/group" "$R/etc/nsswitch.conf"; \
    install -d -m 1777 "$R/tmp"; \
    install -d -m 0755 "$R/etc/entrastream" "$R/usr/share/doc/entrastream"; \
    # /var/lib exists (root's) before the data directory's COPY --chown, which would otherwise
    # create it, and /var, owned by the runtime user.
    install -d -m 0755 "$R/var/lib"; \
    # The data directory is copied on its own below, owned by the runtime user.
    install -d -m 0750 /rootfs-data; \
    rm "$BIN"

FROM scratch AS runtime
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
COPY --from=rootfs /rootfs/ /
# The data directory belongs to the runtime user (COPY --chown: there is no shell to chown
# with); in Kubernetes an emptyDir or volume is mounted over it.
COPY --from=rootfs --chown=10001:10001 /rootfs-data/ /var/lib/entrastream/
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
