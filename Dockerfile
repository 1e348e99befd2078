# syntax=docker/dockerfile:1
# Multi-stage build: a Go toolchain stage builds a static binary; the final image is built
# from scratch and holds only that binary, CA certificates, a passwd entry for the non-root
# user and an empty data directory.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Dependencies first, so that code changes do not re-download modules.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The generated R4 model is committed, so the build needs nothing outside the repo.
# The SQLite driver is pure Go: no cgo, a fully static binary. .git is not copied, so Go records
# no version: give it (`portico version`, the CapabilityStatement) with
#   docker build --build-arg PORTICO_VERSION=$(git describe --tags --always) --build-arg PORTICO_REVISION=$(git rev-parse HEAD) .
ARG PORTICO_VERSION=""
ARG PORTICO_REVISION=""
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags="-s -w -X github.com/portico-health/portico/internal/buildinfo.version=${PORTICO_VERSION} -X github.com/portico-health/portico/internal/buildinfo.revision=${PORTICO_REVISION}" \
      -o /out/portico . \
 && mkdir -p /out/data /out/tmp && chmod 0700 /out/data && chmod 1777 /out/tmp \
 && echo 'portico:x:10001:10001:Portico:/data:/sbin/nologin' > /out/passwd

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/tmp /tmp
COPY --from=build /out/portico /usr/local/bin/portico
COPY --from=build --chown=10001:10001 /out/data /data
ENV PORTICO_ADDR=:8080 \
    PORTICO_DATA_DIR=/data
USER 10001:10001
EXPOSE 8080
VOLUME ["/data"]
# scratch has no curl: the binary checks itself (/readyz: the process and its store answer).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["/usr/local/bin/portico", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/portico"]
CMD ["serve"]
