# The standalone Slipway server in a container.
#
#   docker build -t slipway-server .        (or: podman build ...)
#   docker run -p 8080:8080 -v slipway-data:/var/lib/slipway slipway-server   (SQLite, the default)
#   docker run -p 8080:8080 -e SLIPWAY_SECRET=... -e SLIPWAY_DATABASE_URL=postgres://... slipway-server
#
# compose.yaml runs it with PostgreSQL 15. Every setting is an environment
# variable (README, "Configuration").

# --- build -------------------------------------------------------------------
# The workspace needs Rust 1.89 or later; build with a current one.
FROM rust:1.95-trixie AS builder
WORKDIR /src
COPY . .
# Every persistent store (SQLite is a default feature) and both adapters.
RUN cargo build --release --locked -p slipway-server --features sqlite,postgres,redis,warp \
 && install -m 0755 target/release/slipway-server /usr/local/bin/slipway-server

# --- run ---------------------------------------------------------------------
FROM debian:trixie-slim
# ca-certificates for HTTPS to GitHub; curl for the compose health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home \
      --shell /usr/sbin/nologin slipway
COPY --from=builder /usr/local/bin/slipway-server /usr/local/bin/slipway-server
# The default store is ./slipway.db (and its generated secret file): keep
# the working directory on a volume.
RUN install -d -o slipway -g slipway -m 0700 /var/lib/slipway
WORKDIR /var/lib/slipway
VOLUME /var/lib/slipway
USER slipway:slipway
ENV SLIPWAY_LISTEN=0.0.0.0:8080
EXPOSE 8080
# SIGTERM (the engine's stop signal) drains in-flight requests, closes
# WebSockets with 1001 and exits 0 within SLIPWAY_SHUTDOWN_GRACE (10 s).
ENTRYPOINT ["slipway-server"]
