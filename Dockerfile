# Multi-stage build: compile in the Rust image, run from a slim Debian as a
# non-root user. Build: docker build -t courserec .
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so code edits do not rebuild them: the manifest, with a
# stub for each target cargo must find to read it (library, binary, and every
# [[bench]] it names, listed from Cargo.toml so a new bench is not missed).
COPY Cargo.toml Cargo.lock ./
RUN mkdir src benches && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && for b in $(awk '/^\[\[bench\]\]/ { b = 1; next } b && /^name *=/ { gsub(/^name *= *"|".*$/, ""); print; b = 0 }' Cargo.toml); do \
           echo 'fn main() {}' > "benches/$b.rs"; \
       done \
    && cargo build --release --locked --bin courserec
# What the crate reads to compile: its sources, the migrations
# (sqlx::migrate!), config/default.toml and the console in ui/ (include_str!),
# and the benches the manifest names. scripts/docker-context-check.sh (CI)
# builds the crate from exactly these.
COPY src src
COPY migrations migrations
COPY config config
COPY ui ui
COPY benches benches
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin courserec

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app courserec \
    && mkdir -p /app/data && chown courserec /app/data
WORKDIR /app
COPY --from=build /src/target/release/courserec /usr/local/bin/courserec
COPY config config
USER courserec
ENV COURSEREC_LOG__FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["courserec"]
CMD ["serve", "--listen", "0.0.0.0:8080"]
