# Sherpack Registry: a multi-stage build, a small non-root runtime image.
#   docker build -t sherpack-registry .
#   docker run -p 5050:5050 -v registry-data:/data sherpack-registry
FROM rust:1-slim-bookworm AS build
WORKDIR /src
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends cmake clang pkg-config >/dev/null && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p sherpack-registry -p sherpack \
 && cp target/release/sherpack-registry target/release/sherpack /usr/local/bin/

FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates >/dev/null && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 sherpack && useradd --system --uid 65532 --gid sherpack --home-dir /data sherpack \
 && mkdir -p /data && chown sherpack:sherpack /data
COPY --from=build /usr/local/bin/sherpack-registry /usr/local/bin/sherpack /usr/local/bin/
USER 65532:65532
WORKDIR /data
VOLUME /data
EXPOSE 5050
ENV SHERPACK_REGISTRY_LISTEN=0.0.0.0:5050
HEALTHCHECK --interval=10s --timeout=6s --start-period=10s --retries=3 CMD ["sherpack-registry", "healthcheck"]
ENTRYPOINT ["sherpack-registry"]
CMD ["serve"]
