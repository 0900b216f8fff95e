# syntax=docker/dockerfile:1
#
# One Dockerfile for the three services, chosen by the build argument SERVICE
# (dispatcher, worker or feeder). Their images differ only in the package that
# is built, so one file keeps the base images, build flags and user in one
# place; docker/compose.yaml builds it once per service. By hand, from the
# repository root:
#
#   docker build -f docker/service.Dockerfile --build-arg SERVICE=worker -t auction-worker .
#
# The build context is the repository root; service.Dockerfile.dockerignore
# beside this file keeps node_modules, .data and the like out of it.

# Build and run on the same Debian release (bookworm), so that the binary's
# glibc symbols are the ones the runtime image has.
ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${GO_IMAGE} AS build
ARG SERVICE
# The golang image sets GOTOOLCHAIN=local; auto lets go.mod's toolchain line
# (the patched toolchain the project pins) take over.
ENV GOTOOLCHAIN=auto
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# CGO_ENABLED=1: confluent-kafka-go links the librdkafka it bundles (a static
# archive that needs glibc and gcc, both in the golang image). The health probe
# is pure Go and static.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    case "${SERVICE}" in dispatcher|worker|feeder) ;; \
      *) echo "build argument SERVICE must be dispatcher, worker or feeder, not '${SERVICE}'" >&2; exit 1 ;; esac && \
    CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/${SERVICE} ./services/${SERVICE} && \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/healthcheck ./docker/healthcheck

FROM ${RUNTIME_IMAGE}
ARG SERVICE
# CA certificates for TLS to managed Kafka, MongoDB, Redis or S3 (the slim
# image has none), taken from the build image rather than installed with apt.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin auction
COPY --from=build /out/${SERVICE} /out/healthcheck /usr/local/bin/
ENV SERVICE=${SERVICE}
# Numeric, so that a runtime can check runAsNonRoot without reading /etc/passwd.
USER 10001:10001
# exec: the service is PID 1 and gets SIGTERM itself (a graceful stop: workers
# leave the quorum and commit what they stored).
ENTRYPOINT ["/bin/sh", "-c", "exec /usr/local/bin/\"$SERVICE\" \"$@\"", "--"]
