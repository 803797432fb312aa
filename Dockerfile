# syntax=docker/dockerfile:1
#
# KafkaTwin container image.
#
#   docker build -t kafkatwin:0.1.0 .
#   docker run --rm -v "$PWD/my.yaml:/etc/kafkatwin/config.yaml:ro" \
#       -p 9092:9092 -p 8080:8080 -p 9090:9090 -p 8000:8000 kafkatwin:0.1.0
#   docker run --rm -v "$PWD/my.yaml:/etc/kafkatwin/config.yaml:ro" \
#       kafkatwin:0.1.0 check-config /etc/kafkatwin/config.yaml
#
# The build stage is Alpine, so the native target is *-unknown-linux-musl and Rust links it
# fully static: the same Dockerfile builds amd64 and arm64 without naming a --target. The C
# parts of dependencies (mimalloc, zstd, lz4, wasmtime's helpers and others) build with
# Alpine's gcc and musl-dev. musl's own malloc is slow, but the binary brings mimalloc as its
# global allocator, so that does not matter here.

# The binary is static: the two stages need not share an Alpine release.
ARG RUST_VERSION=1.95
ARG ALPINE_VERSION=3.22

FROM rust:${RUST_VERSION}-alpine AS build
# Alpine's repositories keep only the current build of a package, so pinned apk versions
# stop resolving within weeks; the Rust image tag fixes what matters, the toolchain.
# hadolint ignore=DL3018
RUN apk add --no-cache gcc musl-dev
WORKDIR /src
COPY . .
# Cache mounts keep crates and incremental artifacts between builds; the binary is copied
# out because the target directory is not part of the image. The line tables that
# profile.release keeps for profiling are stripped; symbol names stay, so backtraces still
# name functions.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    cargo build --locked --release -p kafkatwin-core --bin kafkatwin \
    && install -D -m 0755 target/release/kafkatwin /out/kafkatwin

# The binary is static, so any base would do. Alpine rather than distroless/scratch: its
# busybox `wget` is what the HEALTHCHECK below needs (the binary has no health-probe
# subcommand), at about 8 MB, with no package installed.
FROM alpine:${ALPINE_VERSION}
LABEL org.opencontainers.image.title="kafkatwin" \
      org.opencontainers.image.description="One Kafka endpoint in front of several Kafka clusters" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/kafkatwin /usr/local/bin/kafkatwin
# Numeric, so Kubernetes' runAsNonRoot can verify it without an /etc/passwd entry. The proxy
# writes no files: its state lives on the Kafka clusters.
USER 10001:10001
# Kafka listener, health, metrics, admin API + dashboard, schema registry (config defaults).
EXPOSE 9092 8080 9090 8000 8081
# Kubernetes ignores HEALTHCHECK (it uses the pod's probes); this serves `docker run` and
# Compose. Port 8080 is monitoring.health.port's default: change both together.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health/live"]
# Arguments after the image name still work: `check-config FILE` runs the check instead.
ENTRYPOINT ["kafkatwin", "-config", "/etc/kafkatwin/config.yaml"]
