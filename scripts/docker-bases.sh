#!/usr/bin/env bash
# Makes, from Debian's packages, the images the Docker tests need on a machine that cannot pull
# from a public image registry. They carry the names the shipped Dockerfile and
# docker-compose.yml use, so those files are built and run as they are:
#   debian:bookworm-slim                   debootstrap --variant=minbase, slimmed as the official one
#   rust:1-slim-bookworm                   + gcc, libc6-dev, ca-certificates and this machine's Rust
#                                          toolchain and locally added CAs (the build fetches crates)
#   gcr.io/distroless/cc-debian12:nonroot  as distroless makes it: files of Debian's libc6,
#                                          libgcc-s1, libstdc++6, libgomp1, libssl3, ca-certificates,
#                                          tzdata, netbase, base-files; user nonroot (65532)
# and two stand-ins for services of the compose file (tests/docker/compose.test.yml names them):
#   sherpack-test/postgres:15              Debian's PostgreSQL 15, set up from POSTGRES_* as the official image
#   sherpack-test/s3                       s3s-fs (crates.io; an S3-compatible server keeping objects in a
#                                          directory) and curl
# An image that exists without our label (a real one, pulled) is kept; one made here is made
# again when its recipe (the function below that makes it, and what it copies) changes.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${SHERPACK_CACHE_DIR:-$HOME/.cache/sherpack-registry}"
TOOLS="${SHERPACK_TOOLS_DIR:-$CACHE/tools}"
DOCKER="${SHERPACK_DOCKER:-docker}"
export DOCKER_BUILDKIT=1
SUITE=bookworm
S3S_FS_VERSION=0.14.1  # the last release that builds with Rust 1.95

log() { printf '==> %s\n' "$*" >&2; }

# The configured Debian archive (and its security archive), as apt on this machine uses them.
apt_uris() {
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '$1 == "URIs:" { for (i = 2; i <= NF; i++) print $i }
         $1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i; break } }'
}
first_uri() { apt_uris | grep -m1 -E "$1" || true; }
MIRROR="${SHERPACK_DEBIAN_MIRROR:-$(first_uri '/debian/?$')}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SECURITY="${SHERPACK_DEBIAN_SECURITY:-$(first_uri '/debian-security/?$')}"
SECURITY="${SECURITY:-http://deb.debian.org/debian-security}"

# Prints the label of an image made here, "upstream" for one that was not, nothing when missing.
made_as() {
  local label
  label="$("$DOCKER" image inspect --format '{{ index .Config.Labels "sherpack.recipe" }}' "$1" 2>/dev/null)" || return 0
  case "$label" in "" | "<no value>") echo upstream ;; *) echo "$label" ;; esac
}

# ensure IMAGE FUNCTION [EXTRA RECIPE TEXT...]: runs FUNCTION RECIPE when IMAGE is missing or
# was made from another recipe.
ensure() {
  local image="$1" make="$2" recipe current
  shift 2
  recipe="$({ declare -f "$make"; printf '%s\n' "$@"; } | sha256sum | cut -c1-16)"
  current="$(made_as "$image")"
  if [ "$current" = upstream ] || [ "$current" = "$recipe" ]; then return 0; fi
  log "making $image"
  local started=$SECONDS
  "$make" "$recipe"
  log "made $image in $((SECONDS - started)) s"
}

make_debian() {
  local dir
  dir="$(mktemp -d)"
  if ! debootstrap --variant=minbase --components=main "$SUITE" "$dir/fs" "$MIRROR" >"$dir/log" 2>&1; then
    tail -n 20 "$dir/log" >&2
    return 1
  fi
  rm -f "$dir/fs/etc/apt/sources.list" "$dir/fs/etc/resolv.conf" "$dir/fs/etc/hostname"
  cat >"$dir/fs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # Slim as the official -slim image: no manuals, documentation or translations, no apt caches.
  cat >"$dir/fs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  cat >"$dir/fs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  (
    cd "$dir/fs"
    find usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
    find usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    rm -rf usr/share/man/* usr/share/groff/* usr/share/info/* usr/share/lintian/* \
      var/cache/apt/*.bin var/cache/apt/archives/*.deb var/lib/apt/lists/* var/log/*.log
  )
  tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -C "$dir/fs" -c . |
    "$DOCKER" import --change 'CMD ["bash"]' --change "LABEL sherpack.recipe=$1" - "debian:$SUITE-slim" >/dev/null
  rm -rf "$dir"
}

# Builds TAG from the Dockerfile on standard input with context DIR, quietly unless it fails.
build() {
  local tag="$1" dir="$2" out
  if ! out="$("$DOCKER" build --progress=plain -t "$tag" -f - "$dir" 2>&1)"; then
    printf '%s\n' "$out" | tail -n 40 >&2
    return 1
  fi
}

SYSROOT="$(rustc --print sysroot)"
TOOLCHAIN="$(basename "$SYSROOT")"
local_cas() { find /usr/local/share/ca-certificates -name '*.crt' -type f 2>/dev/null | sort; }

make_rust() {
  local dir
  dir="$(mktemp -d)"
  mkdir -p "$dir/toolchain/bin" "$dir/ca"
  cp -l "$SYSROOT"/bin/{cargo,rustc,rustdoc} "$dir/toolchain/bin/" 2>/dev/null || cp "$SYSROOT"/bin/{cargo,rustc,rustdoc} "$dir/toolchain/bin/"
  cp -al "$SYSROOT/lib" "$dir/toolchain/lib" 2>/dev/null || cp -a "$SYSROOT/lib" "$dir/toolchain/lib"
  local_cas | while read -r ca; do cp "$ca" "$dir/ca/"; done
  build "rust:1-slim-$SUITE" "$dir" <<EOF
FROM debian:$SUITE-slim
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    RUST_VERSION=$(rustc --version | cut -d' ' -f2)
COPY ca/ /usr/local/share/ca-certificates/
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates gcc libc6-dev >/dev/null \
 && rm -rf /var/lib/apt/lists/*
COPY toolchain/ /usr/local/rustup/toolchains/$TOOLCHAIN/
RUN mkdir -p /usr/local/cargo/bin \
 && for b in cargo rustc rustdoc; do ln -s /usr/local/rustup/toolchains/$TOOLCHAIN/bin/\$b /usr/local/cargo/bin/\$b; done \
 && cargo --version && rustc --version
LABEL sherpack.recipe=$1
EOF
  rm -rf "$dir"
}

make_distroless() {
  local dir
  dir="$(mktemp -d)"
  cat >"$dir/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"$dir/group" <<'EOF'
root:x:0:
tty:x:5:
staff:x:50:
nobody:x:65534:
nonroot:x:65532:
EOF
  build gcr.io/distroless/cc-debian12:nonroot "$dir" <<EOF
FROM debian:$SUITE-slim AS debs
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates >/dev/null \
 && mkdir /debs /rootfs && cd /debs \
 && apt-get download -qq base-files netbase tzdata libc6 libssl3 libgcc-s1 libgomp1 libstdc++6 \
 && for deb in *.deb; do dpkg-deb -x "\$deb" /rootfs; done \
 && cd /rootfs && find usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete \
 && rm -rf usr/share/man usr/share/info usr/share/lintian usr/share/locale usr/share/gcc usr/share/gdb \
 && mkdir -p etc/ssl/certs tmp root home/nonroot && chmod 1777 tmp && chmod 700 root home/nonroot \
 && chown 65532:65532 home/nonroot && cp /etc/ssl/certs/ca-certificates.crt etc/ssl/certs/
COPY passwd group /rootfs/etc/

FROM scratch
COPY --from=debs /rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /home/nonroot
LABEL sherpack.recipe=$1
EOF
  rm -rf "$dir"
}

make_postgres() {
  local dir
  dir="$(mktemp -d)"
  cp tests/docker/postgres-entrypoint.sh "$dir/docker-entrypoint.sh"
  build sherpack-test/postgres:15 "$dir" <<EOF
FROM debian:$SUITE-slim
RUN mkdir -p /etc/postgresql-common && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf \
 && apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql && chmod 700 /var/lib/postgresql/data
COPY docker-entrypoint.sh /usr/local/bin/
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
LABEL sherpack.recipe=$1
EOF
  rm -rf "$dir"
}

S3S_FS="$TOOLS/s3s-fs-$S3S_FS_VERSION/bin/s3s-fs"

make_s3() {
  local dir
  dir="$(mktemp -d)"
  cp "$S3S_FS" "$dir/s3s-fs"
  build sherpack-test/s3:latest "$dir" <<EOF
FROM debian:$SUITE-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends curl ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/*
COPY s3s-fs /usr/local/bin/
EXPOSE 9000
LABEL sherpack.recipe=$1
EOF
  rm -rf "$dir"
}

# One preparation at a time: suites running side by side share the Docker engine.
mkdir -p "$CACHE"
exec 9>"$CACHE/docker-bases.lock"
flock 9

command -v debootstrap >/dev/null || { log "installing debootstrap"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
if [ ! -x "$S3S_FS" ]; then
  log "building s3s-fs $S3S_FS_VERSION (crates.io)"
  CARGO_TARGET_DIR="$CACHE/s3s-fs-build" cargo install -q --locked "s3s-fs@$S3S_FS_VERSION" --features binary \
    --root "$TOOLS/s3s-fs-$S3S_FS_VERSION" >&2
  rm -rf "$CACHE/s3s-fs-build"
fi

ensure "debian:$SUITE-slim" make_debian "$MIRROR" "$SECURITY"
BASE="$(made_as "debian:$SUITE-slim")"  # images on top are made again when it changes
ensure "rust:1-slim-$SUITE" make_rust "$BASE" "$(rustc --version)" "$(local_cas | xargs -r cat)"
ensure gcr.io/distroless/cc-debian12:nonroot make_distroless "$BASE"
ensure sherpack-test/postgres:15 make_postgres "$BASE" "$(cat tests/docker/postgres-entrypoint.sh)"
ensure sherpack-test/s3:latest make_s3 "$BASE" "$(sha256sum <"$S3S_FS")"
log "base images ready"
