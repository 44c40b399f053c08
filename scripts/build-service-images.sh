#!/usr/bin/env bash
# Builds the service images, the console and the worker, without any image registry, the
# way scripts/build-images.sh builds the sandbox images: a Debian bookworm root unpacked
# from .debs (the same apt resolution, download cache and unpacking, from
# scripts/lib/debian-root.sh), plus Node.js, plus what the service runs, `docker import`ed.
#
# Node.js is not a Debian package here (bookworm has Node 18; the project needs 20.19+):
# the images get the Node binary of the machine that builds them (`command -v node`), with
# the C and C++ runtime libraries it links (libc6, libstdc++6, libgcc-s1) from Debian.
#
# Images, tagged with package.json's version and `latest`:
#   onlyboxes/console   the self-hosted console (scripts/start.mjs) with a console bundle and
#                       dashboard built at image build, the D1 migrations and the miniflare/
#                       workerd runtime; state in /data; listens on :8089; no local worker
#                       (the worker is its own service). Runs as uid 10001.
#   onlyboxes/worker    the bundled worker (worker-docker/scripts/pack.mjs) and CA
#                       certificates. Starts as root only to join the mounted Docker socket's
#                       group, then runs as uid 10001 (scripts/service-images/worker-entry.mjs).
#
# Each image carries a label with a hash of everything it is built from (sources, lockfile,
# these scripts, the Node version), so an unchanged image is left alone.
#
# Usage: scripts/build-service-images.sh [--force] [console|worker ...]
#   --force  rebuild even when the image is up to date
# Environment:
#   ONLYBOXES_IMAGE_CACHE      where .debs are cached (default images/.cache, shared with build-images.sh)
#   ONLYBOXES_IMAGE_NAMESPACE  image repository prefix (default onlyboxes)
#   ONLYBOXES_NODE             the Node.js binary to put into the images (default: node on PATH)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPT_NAME=build-service-images
HELPERS="$REPO_ROOT/scripts/service-images"
CACHE_DIR="${ONLYBOXES_IMAGE_CACHE:-$REPO_ROOT/images/.cache}"
DEB_DIR="$CACHE_DIR/debs"
NAMESPACE="${ONLYBOXES_IMAGE_NAMESPACE:-onlyboxes}"
HASH_LABEL="dev.onlyboxes.image-definition"
RUN_UID=10001
# shellcheck source=lib/debian-root.sh
source "$REPO_ROOT/scripts/lib/debian-root.sh"

parse_args 2,28 "console worker" "$@"
need_docker
NODE_BIN="$(readlink -f "${ONLYBOXES_NODE:-$(command -v node || true)}")"
[ -x "$NODE_BIN" ] || die "no Node.js binary (install Node.js 20.19+ or set ONLYBOXES_NODE)"
NODE_VERSION="$("$NODE_BIN" -p 'process.versions.node')"
"$NODE_BIN" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
  die "$NODE_BIN is Node.js $NODE_VERSION; the images need 20.19 or newer"
[ -d "$REPO_ROOT/node_modules/miniflare" ] || die "node_modules is missing (run npm ci first)"
VERSION="$("$NODE_BIN" -p "require('$REPO_ROOT/package.json').version")"

# --- what goes into each image, and its definition hash ----------------------------------

BASE_PKGS=(libc6 libstdc++6 libgcc-s1 ca-certificates)
# Treated as installed, so neither they nor their dependencies are unpacked: package
# management, and openssl (ca-certificates' postinst runs it; the CA bundle is made by hand).
PROVIDED=(dpkg debconf base-files usrmerge usr-is-merged openssl)
# miniflare imports sharp only for the Images binding, which the console does not use.
RUNTIME_SKIP=(sharp)

SHARED_INPUTS=(scripts/build-service-images.sh scripts/lib scripts/service-images package.json package-lock.json)
CONSOLE_INPUTS=(proto console-worker dashboard scripts/start.mjs scripts/launcher wrangler.toml "${SHARED_INPUTS[@]}")
WORKER_INPUTS=(proto worker-docker "${SHARED_INPUTS[@]}")

# definition_hash INPUT...: the launcher's source hash (node_modules, dist and test folders
# left out) over the inputs, with the Node version the image would carry.
definition_hash() {
  "$NODE_BIN" --input-type=module -e '
    const { sourceHash } = await import(process.argv[1]);
    process.stdout.write(sourceHash(process.argv[2], process.argv.slice(4), [process.argv[3]]).slice(0, 16));
  ' "$REPO_ROOT/scripts/launcher/source-hash.mjs" "$REPO_ROOT" "node@$NODE_VERSION" "$@"
}

image_of() { echo "$NAMESPACE/$1:$VERSION"; }
hash_of() {
  case "$1" in
    console) definition_hash "${CONSOLE_INPUTS[@]}" ;;
    worker) definition_hash "${WORKER_INPUTS[@]}" ;;
  esac
}

TODO=()
declare -A HASHES
for target in "${TARGETS[@]}"; do
  HASHES[$target]="$(hash_of "$target")"
  if [ "$FORCE" -eq 0 ] && [ "$(label_of "$(image_of "$target")")" = "${HASHES[$target]}" ]; then
    say "$(image_of "$target") is up to date (use --force to rebuild)"
  else
    TODO+=("$target")
  fi
done
[ "${#TODO[@]}" -gt 0 ] || exit 0

start_build apt-get apt-cache dpkg-deb tar chroot ldconfig
apt_view "${PROVIDED[@]}"
mapfile -t BASE_SPECS < <(resolve "${BASE_PKGS[@]}")
say "${#BASE_SPECS[@]} Debian packages: ${BASE_SPECS[*]}"
fetch "${BASE_SPECS[@]}"

# base_root ROOT: the Debian runtime, Node.js, the CA bundle and the `onlyboxes` user.
base_root() {
  local root="$1"
  unpack "$root" "${BASE_SPECS[@]}"
  ca_bundle "$root"
  mkdir -p "$root/tmp" "$root/var/tmp" "$root/proc" "$root/sys" "$root/dev" \
    "$root/root" "$root/home/onlyboxes" "$root/app" "$root/usr/local/bin"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  cat >"$root/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/usr/sbin/nologin
onlyboxes:x:$RUN_UID:$RUN_UID:onlyboxes:/home/onlyboxes:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PASSWD
  cat >"$root/etc/group" <<GROUP
root:x:0:
onlyboxes:x:$RUN_UID:
nogroup:x:65534:
GROUP
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  ln -sfn /usr/share/zoneinfo/Etc/UTC "$root/etc/localtime"
  chown "$RUN_UID:$RUN_UID" "$root/home/onlyboxes"
  install -m 0755 "$NODE_BIN" "$root/usr/local/bin/node"
  printf 'include /etc/ld.so.conf.d/*.conf\n' >"$root/etc/ld.so.conf"
  ldconfig -r "$root"
  rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/lintian"
  # Node must run on these libraries alone (a Node built against other shared libraries,
  # e.g. Debian's own libnode, would fail here rather than in the image).
  chroot "$root" /usr/local/bin/node -e 'require("node:crypto").randomUUID()' ||
    die "$NODE_BIN does not run in the image root (it needs libraries other than libc6, libstdc++6, libgcc-s1)"
}

# import_image TARGET ROOT CHANGE...: imports ROOT as TARGET's image (version and latest tags).
import_image() {
  local target="$1" root="$2" image
  shift 2
  image="$(image_of "$target")"
  local previous
  previous="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
  local changes=(--change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' --change 'ENV LANG=C.UTF-8'
    --change 'ENV HOME=/home/onlyboxes' --change 'WORKDIR /app'
    --change "LABEL $HASH_LABEL=${HASHES[$target]}" --change "LABEL org.opencontainers.image.version=$VERSION")
  local change
  for change in "$@"; do changes+=(--change "$change"); done
  tar -C "$root" --numeric-owner -c . | docker import "${changes[@]}" \
    --message "onlyboxes $target image built from Debian packages and this checkout" - "$image" >/dev/null
  docker tag "$image" "$NAMESPACE/$target:latest"
  # The image this one replaces, unless a container still uses it or another tag names it.
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{.Id}}' "$image")" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
  fi
  say "built $image ($(size_of "$image"))"
}

wants() { [[ " ${TODO[*]} " == *" $1 "* ]]; }

if wants worker; then
  say "bundling the worker"
  "$NODE_BIN" "$REPO_ROOT/worker-docker/scripts/pack.mjs" --no-pack
  root="$WORK/worker"
  base_root "$root"
  install -m 0644 "$REPO_ROOT/worker-docker/dist/package/onlyboxes-worker.mjs" \
    "$REPO_ROOT/worker-docker/dist/package/onlyboxes-worker.mjs.LEGAL.txt" \
    "$HELPERS/worker-entry.mjs" "$root/app/"
  # The mount point of the credential volume, owned like the console's, so the volume gets
  # that owner whichever service mounts it first.
  install -d -m 0700 -o "$RUN_UID" -g "$RUN_UID" "$root/worker-credential"
  import_image worker "$root" \
    'ENTRYPOINT ["/usr/local/bin/node", "/app/worker-entry.mjs"]'
  rm -rf "$root"
fi

if wants console; then
  say "building the dashboard and bundling the console"
  (cd "$REPO_ROOT" && npm run build -w dashboard --silent >"$WORK/dashboard-build.log" 2>&1) ||
    { cat "$WORK/dashboard-build.log" >&2; die "the dashboard build failed"; }
  # The launcher bundles into its per-checkout cache and says where.
  bundle_dir=$("$NODE_BIN" --input-type=module -e '
    const { bundleConsole } = await import(process.argv[1]);
    const { bundleDir } = bundleConsole(process.argv[2], process.argv[3], { ...process.env, CONSOLE_BUNDLE_DIR: "" });
    process.stdout.write(bundleDir);
  ' "$REPO_ROOT/scripts/launcher/bundle.mjs" "$REPO_ROOT" "$WORK/console-data")
  [ -f "$bundle_dir/index.js" ] || die "the console bundle is missing (looked in ${bundle_dir:-nowhere})"
  skip_args=()
  for pkg in "${RUNTIME_SKIP[@]}"; do skip_args+=(--skip "$pkg"); done
  mapfile -t modules < <("$NODE_BIN" "$HELPERS/runtime-modules.mjs" "$REPO_ROOT" miniflare "${skip_args[@]}")
  [ "${#modules[@]}" -gt 0 ] || die "could not list the runtime's node_modules"
  root="$WORK/console"
  base_root "$root"
  app="$root/app"
  mkdir -p "$app/scripts/launcher" "$app/scripts/service-images" "$app/console-worker" "$app/dashboard" "$app/bundle"
  install -m 0644 "$REPO_ROOT/package.json" "$app/"
  install -m 0644 "$REPO_ROOT/scripts/start.mjs" "$app/scripts/"
  find "$REPO_ROOT/scripts/launcher" -maxdepth 1 -name '*.mjs' ! -name '*.test.mjs' -exec install -m 0644 -t "$app/scripts/launcher/" {} +
  install -m 0644 "$HELPERS/console-entry.mjs" "$app/scripts/service-images/"
  cp -r "$REPO_ROOT/console-worker/migrations" "$app/console-worker/"
  cp -r "$REPO_ROOT/dashboard/dist" "$app/dashboard/"
  cp -r "$bundle_dir/." "$app/bundle/"
  (cd "$REPO_ROOT" && tar -c "${modules[@]}") | tar -x -C "$app"
  # workerd must run on the image's libraries too.
  (cd / && chroot "$root" /app/node_modules/@cloudflare/workerd-linux-64/bin/workerd --version >/dev/null) ||
    die "workerd does not run in the image root"
  install -d -m 0700 -o "$RUN_UID" -g "$RUN_UID" "$root/data" "$root/worker-credential"
  import_image console "$root" \
    'ENTRYPOINT ["/usr/local/bin/node", "/app/scripts/service-images/console-entry.mjs"]' \
    'ENV CONSOLE_HTTP_ADDR=:8089' 'ENV CONSOLE_DB_PATH=/data' 'ENV CONSOLE_LOCAL_WORKER=false' \
    'ENV CONSOLE_BUNDLE_DIR=/app/bundle' \
    "USER $RUN_UID:$RUN_UID" 'EXPOSE 8089' 'VOLUME /data'
  rm -rf "$root"
fi
say "done"
