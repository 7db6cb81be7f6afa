# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run in a slim Debian with a non-root user.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits reuse the cached dependency layer.
COPY Cargo.toml Cargo.lock ./
COPY migration/Cargo.toml migration/Cargo.toml
RUN mkdir -p src migration/src tests/api \
 && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
 && echo '' > migration/src/lib.rs && echo 'fn main() {}' > tests/api/main.rs \
 && cargo build --release --locked --bin plugs \
 && rm -rf src migration/src
COPY . .
RUN touch src/main.rs src/lib.rs migration/src/lib.rs \
 && cargo build --release --locked --bin plugs

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --create-home plugs \
 && install -d -o plugs -g plugs /app/media
WORKDIR /app
COPY --from=build /src/target/release/plugs /usr/local/bin/plugs
USER plugs
ENV PLUGS_BIND=0.0.0.0:8080 \
    PLUGS_ENV=production \
    RUST_LOG=info,sqlx=warn
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/health || exit 1
# `serve` applies pending migrations before it listens.
ENTRYPOINT ["plugs"]
CMD ["serve"]
