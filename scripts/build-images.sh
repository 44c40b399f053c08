#!/usr/bin/env bash
# Builds the worker's sandbox images without any image registry.
#
# This machine (and CI) reach Debian's apt but no registry, so the images are assembled
# from .debs: `apt-get download` the dependency closure, unpack each package with
# `dpkg-deb --fsys-tarfile | tar -x --keep-directory-symlink` into a merged-/usr root
# (plain `dpkg-deb -x` would replace the /bin and /lib symlinks with directories), fill the
# gaps with busybox applets, add a non-root `sandbox` user (uid 1000), precompile the
# Python standard library, and `docker import` the tree.
#
# Images:
#   onlyboxes/python:3.11       python3.11 with the full standard library (pythonExec)
#   onlyboxes/terminal:bookworm sh (dash), bash, coreutils, findutils, grep, sed, gawk, tar, gzip,
#                               bzip2, xz, diffutils, less, file, procps, python3 (terminalExec)
#
# Usage: scripts/build-images.sh [--force] [python|terminal ...]
#   --force  rebuild even when the image already exists
# Environment:
#   ONLYBOXES_IMAGE_CACHE  where .debs are cached (default images/.cache, gitignored)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${ONLYBOXES_IMAGE_CACHE:-$REPO_ROOT/images/.cache}"
DEB_DIR="$CACHE_DIR/debs"
PYTHON_IMAGE="onlyboxes/python:3.11"
TERMINAL_IMAGE="onlyboxes/terminal:bookworm"

START_SEC=$(date +%s)
say() { printf 'build-images: [%ss] %s\n' "$(( $(date +%s) - START_SEC ))" "$*" >&2; }
die() { say "error: $*"; exit 1; }

FORCE=0
TARGETS=()
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    python | terminal) TARGETS+=("$arg") ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) die "unknown argument '$arg' (expected --force, python, terminal)" ;;
  esac
done
[ "${#TARGETS[@]}" -gt 0 ] || TARGETS=(python terminal)

command -v docker >/dev/null 2>&1 || die "docker CLI not found (run scripts/docker-engine.sh first)"
docker version >/dev/null 2>&1 || die "no Docker Engine answering (run scripts/docker-engine.sh first)"
for tool in apt-get apt-cache dpkg-deb tar chroot; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (a Debian host is required)"
done

# Packages a dependency walk drags in that a sandbox does not need: package management,
# perl, init integration, and the alternatives we do not pick (mawk/original-awk, elogind).
EXCLUDE_RE='^(dpkg|install-info|debconf|debconf-2\.0|perl|perl-base|perl-modules-.*|libperl.*|lib.*-perl|mailcap|mime-support|init-system-helpers|usr-is-merged|usrmerge|base-files|original-awk|mawk|libelogind0|sensible-utils|lsb-base|sysvinit-utils)$'

# Direct hard dependencies of the given packages, first alternative of each OR group
# (a virtual package resolves to its first provider). One apt-cache call per level: each
# call loads the whole package cache, which costs seconds.
direct_deps() {
  apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "$@" | awk '
      /^ [ |](Pre)?Depends: / {
        name = $2; sub(/:any$/, "", name); in_or = (substr($0, 2, 1) == "|")
        if (!skip) {
          if (name ~ /^</) { want_provider = 1 } else { print name; want_provider = 0 }
        }
        skip = in_or; next
      }
      /^    [^ ]/ { if (want_provider) { print $1; want_provider = 0 }; next }
      { want_provider = 0 }
    ' | sort -u
}

# Prints the dependency closure of the given packages. Excluded packages are neither kept
# nor walked, so their own dependencies (perl behind dpkg, ...) stay out.
closure() {
  local -A seen=()
  local level=("$@") next pkg
  while [ "${#level[@]}" -gt 0 ]; do
    next=()
    for pkg in "${level[@]}"; do
      if [[ -z "${seen[$pkg]:-}" ]] && ! [[ "$pkg" =~ $EXCLUDE_RE ]]; then
        seen[$pkg]=1
        next+=("$pkg")
      fi
    done
    [ "${#next[@]}" -gt 0 ] || break
    mapfile -t level < <(direct_deps "${next[@]}")
  done
  printf '%s\n' "${!seen[@]}" | sort
}

declare -A DEB_FILE=()

# Makes sure a .deb of the candidate version of every package is in DEB_DIR (apt's own
# cache is reused before the network) and records each file in DEB_FILE.
fetch_debs() {
  mkdir -p "$DEB_DIR"
  local -A version=()
  local missing=() pkg ver prefix
  while read -r pkg ver; do version[$pkg]="$ver"; done < <(
    apt-cache show --no-all-versions "$@" | awk '/^Package: /{p=$2} /^Version: /{print p, $2}'
  )
  for pkg in "$@"; do
    ver="${version[$pkg]:-}"
    [ -n "$ver" ] || die "package $pkg has no candidate version (apt-get update?)"
    prefix="${pkg}_${ver//:/%3a}_"
    if ! compgen -G "$DEB_DIR/${prefix}*.deb" >/dev/null; then
      if compgen -G "/var/cache/apt/archives/${prefix}*.deb" >/dev/null; then
        cp /var/cache/apt/archives/"${prefix}"*.deb "$DEB_DIR/"
      else
        missing+=("$pkg")
      fi
    fi
    DEB_FILE[$pkg]="$DEB_DIR/$prefix"
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "downloading ${#missing[@]} packages"
    # Into a directory _apt may write, so apt does not warn about an unsandboxed download.
    (cd "$DEB_DIR" && apt-get download -q "${missing[@]}" 2>&1 >/dev/null | grep -v 'unsandboxed' >&2 || true)
    for pkg in "${missing[@]}"; do
      compgen -G "${DEB_FILE[$pkg]}*.deb" >/dev/null || die "apt-get download failed for $pkg"
    done
  fi
}

# Unpacks the fetched .deb of each package into ROOT (merged /usr).
unpack_into() {
  local root="$1" pkg deb
  shift
  mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib" "$root/usr/lib64"
  ln -sfn usr/bin "$root/bin"
  ln -sfn usr/sbin "$root/sbin"
  ln -sfn usr/lib "$root/lib"
  ln -sfn usr/lib64 "$root/lib64"
  for pkg in "$@"; do
    for deb in "${DEB_FILE[$pkg]}"*.deb; do
      dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$root"
    done
  done
}

# Writes users, profile and the writable directories every sandbox image shares.
finish_root() {
  local root="$1"
  mkdir -p "$root/etc" "$root/tmp" "$root/workspace" "$root/proc" "$root/sys" "$root/dev" "$root/root" "$root/var/tmp"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
sandbox:x:1000:1000:sandbox:/workspace:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
sandbox:x:1000:
nogroup:x:65534:
EOF
  cat >"$root/etc/profile" <<'EOF'
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
export LANG=C.UTF-8
export HOME="${HOME:-/workspace}"
EOF
  echo "sandbox" >"$root/etc/hostname"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  [ -e "$root/etc/localtime" ] || ln -sfn /usr/share/zoneinfo/Etc/UTC "$root/etc/localtime"
  chown 1000:1000 "$root/workspace"
  # Debian makes these links in maintainer scripts (alternatives), which we do not run.
  # dash, not busybox ash, as sh when present: Debian's busybox-static ash prefers its own
  # applets over the real coreutils/procps binaries on PATH.
  [ -e "$root/usr/bin/dash" ] && ln -sfn dash "$root/usr/bin/sh"
  [ -e "$root/usr/bin/gawk" ] && ln -sfn gawk "$root/usr/bin/awk"
  [ -e "$root/usr/bin/less" ] && ln -sfn less "$root/usr/bin/pager"
  # Busybox fills what the Debian packages do not provide (sh in the Python image, ps,
  # wget, vi ...); a real binary always wins over an applet.
  local applet
  for applet in $(chroot "$root" /usr/bin/busybox --list); do
    [ "$applet" = "busybox" ] && continue
    if [ ! -e "$root/usr/bin/$applet" ] && [ ! -e "$root/usr/sbin/$applet" ]; then
      ln -s busybox "$root/usr/bin/$applet"
    fi
  done
  [ -e "$root/usr/bin/python3" ] || ln -s python3.11 "$root/usr/bin/python3"
  [ -e "$root/usr/bin/python" ] || ln -s python3.11 "$root/usr/bin/python"
  # Precompile so every run does not pay for it (and a read-only root could not cache it).
  # No -j0: compileall's process pool needs /dev/shm, absent in a bare chroot.
  chroot "$root" /usr/bin/python3.11 -m compileall -q -x 'lib2to3/tests|test/' /usr/lib/python3.11 >/dev/null || true
  # Documentation is dead weight in a sandbox image.
  rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/lintian"
}

# build_image NAME PACKAGES...: assembles and imports one image unless it exists.
build_image() {
  local image="$1"
  shift
  if [ "$FORCE" -eq 0 ] && docker image inspect "$image" >/dev/null 2>&1; then
    say "$image exists (use --force to rebuild)"
    return 0
  fi
  # Only building needs root (chroot, file ownership); checking for the image does not.
  [ "$(id -u)" -eq 0 ] || die "building $image needs root (chroot and file ownership in the image)"
  local started root pkgs
  started=$(date +%s)
  mapfile -t pkgs < <(closure "$@")
  say "$image: ${#pkgs[@]} packages"
  fetch_debs "${pkgs[@]}"
  root="$(mktemp -d "${TMPDIR:-/tmp}/onlyboxes-rootfs.XXXXXX")"
  # shellcheck disable=SC2064  # expand now: the trap must remove this very directory
  trap "rm -rf '$root'" RETURN
  unpack_into "$root" "${pkgs[@]}"
  say "$image: unpacked"
  finish_root "$root"
  say "$image: root finished"
  tar -C "$root" --numeric-owner -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV HOME=/workspace' \
    --change 'WORKDIR /workspace' \
    --change 'USER 1000:1000' \
    --change 'CMD ["/bin/sh"]' \
    --message "onlyboxes sandbox image built from Debian packages" \
    - "$image" >/dev/null
  say "built $image in $(( $(date +%s) - started ))s ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
}

PYTHON_PKGS=(python3.11 libpython3.11-stdlib busybox-static tzdata media-types)
TERMINAL_PKGS=("${PYTHON_PKGS[@]}" dash bash coreutils findutils grep sed gawk tar gzip bzip2 xz-utils
  diffutils less file procps ncurses-bin debianutils)

for target in "${TARGETS[@]}"; do
  case "$target" in
    python) build_image "$PYTHON_IMAGE" "${PYTHON_PKGS[@]}" ;;
    terminal) build_image "$TERMINAL_IMAGE" "${TERMINAL_PKGS[@]}" ;;
  esac
done
