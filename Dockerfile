# Sherpack Registry: the server alone in a small non-root image (distroless, uid 65532).
#   docker build -t sherpack-registry:local .          (BuildKit: Docker 23+, or DOCKER_BUILDKIT=1)
#   docker run -d -p 5050:5050 -v registry-data:/data sherpack-registry:local
# Re-builds are quick: crates are fetched in a layer keyed on the manifests and Cargo.lock only,
# and compiled artifacts stay in a BuildKit cache mount from one build to the next.
FROM rust:1-slim-bookworm AS rust

# The manifests and the lock file alone, with empty targets so that cargo can read them: this
# stage's output changes only when dependencies do, so the fetch below stays cached.
FROM rust AS manifests
WORKDIR /src
COPY . .
RUN find . -name Cargo.toml -not -path './target/*' | while read -r manifest; do \
      dir="/out/$(dirname "$manifest")"; mkdir -p "$dir/src"; cp "$manifest" "$dir/"; \
      touch "$dir/src/lib.rs" "$dir/src/main.rs"; \
    done \
 && cp Cargo.lock /out/

FROM rust AS build
WORKDIR /src
COPY --from=manifests /out/ ./
RUN cargo fetch --locked --target "$(rustc -vV | sed -n 's/^host: //p')"
COPY . .
RUN --mount=type=cache,id=sherpack-registry-target,target=/src/target \
    CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --release --locked --offline -p sherpack-registry \
 && install -D target/release/sherpack-registry /out/sherpack-registry \
 && mkdir /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/sherpack-registry /usr/local/bin/sherpack-registry
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# The embedded default keeps everything under ./data: the volume.
WORKDIR /
VOLUME /data
EXPOSE 5050
ENV SHERPACK_REGISTRY_LISTEN=0.0.0.0:5050
HEALTHCHECK --interval=10s --timeout=6s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/sherpack-registry", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/sherpack-registry"]
CMD ["serve"]
