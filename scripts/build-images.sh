#!/usr/bin/env bash
# Builds the worker's sandbox images without any image registry.
#
# This machine (and CI) reach Debian's apt but no registry, so the images are assembled
# from .debs: apt's own resolver picks the dependency closure (against an empty, private
# dpkg status, so the host's installed packages and pins play no part), `apt-get download`
# fetches it, each package is unpacked with `dpkg-deb --fsys-tarfile | tar -x
# --keep-directory-symlink` into a merged-/usr root (plain `dpkg-deb -x` would replace the
# /bin and /lib symlinks with directories), the work of maintainer scripts that matters
# (alternatives, CA bundle, linker cache) is redone by hand, busybox applets fill the gaps,
# a non-root `sandbox` user (uid 1000) is added, Python is precompiled, and the tree is
# `docker import`ed.
#
# Images:
#   onlyboxes/python:3.11        pythonExec default: python3.11 with numpy, pandas, matplotlib
#                                (Agg), scipy, scikit-learn, pillow, sympy, requests, bs4, lxml,
#                                openpyxl, DejaVu fonts, CA certificates
#   onlyboxes/python:3.11-slim   python3.11 and its standard library only
#   onlyboxes/terminal:bookworm  terminalExec default: the same Python plus bash, coreutils and
#                                friends, git, curl, jq, sqlite3, nodejs, unzip, zip, pip, venv
#
# Each image carries a label with a hash of this script, scripts/lib/debian-root.sh and
# scripts/images/*, so an image built by an older definition is rebuilt; an up-to-date one
# is left alone.
#
# Usage: scripts/build-images.sh [--force] [python|python-slim|terminal ...]
#   --force  rebuild even when the image is up to date
# Environment:
#   ONLYBOXES_IMAGE_CACHE      where .debs are cached (default images/.cache, gitignored)
#   ONLYBOXES_IMAGE_NAMESPACE  image repository prefix (default onlyboxes), e.g. to try a
#                              change beside the images a running worker uses
#   ONLYBOXES_TERMINAL_EXTRA_PACKAGES  more Debian packages for the terminal image, e.g.
#                              "gcc g++ make libc6-dev" (a C toolchain adds ~250 MB)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPT_NAME=build-images
LIB="$REPO_ROOT/scripts/lib/debian-root.sh"
HELPERS="$REPO_ROOT/scripts/images"
CACHE_DIR="${ONLYBOXES_IMAGE_CACHE:-$REPO_ROOT/images/.cache}"
DEB_DIR="$CACHE_DIR/debs"
NAMESPACE="${ONLYBOXES_IMAGE_NAMESPACE:-onlyboxes}"
PYTHON_IMAGE="$NAMESPACE/python:3.11"
SLIM_IMAGE="$NAMESPACE/python:3.11-slim"
TERMINAL_IMAGE="$NAMESPACE/terminal:bookworm"
HASH_LABEL="dev.onlyboxes.image-definition"
# shellcheck source=lib/debian-root.sh
source "$LIB"

parse_args 2,33 "python-slim python terminal" "$@"
need_docker

# --- what goes into each image ----------------------------------------------------------

SLIM_PKGS=(python3.11 libpython3.11-stdlib busybox-static tzdata media-types)
# libopenblas0-pthread: numpy and scipy would otherwise get the reference BLAS, many times
# slower at matrix work; it costs ~40 MB.
DATA_PKGS=("${SLIM_PKGS[@]}" python3 python3-numpy python3-pandas python3-matplotlib python3-scipy
  python3-sklearn python3-pil python3-sympy python3-requests python3-bs4 python3-lxml python3-openpyxl
  fonts-dejavu-core libopenblas0-pthread ca-certificates)
TERMINAL_PKGS=(dash bash coreutils findutils grep sed gawk tar gzip bzip2 xz-utils diffutils less file
  procps ncurses-bin debianutils git curl jq sqlite3 nodejs unzip zip python3-pip python3-venv)
read -r -a TERMINAL_EXTRA <<<"${ONLYBOXES_TERMINAL_EXTRA_PACKAGES:-}"
TERMINAL_PKGS+=("${TERMINAL_EXTRA[@]}")

# Packages apt would pull in that a sandbox does not need, treated as already present so
# neither they nor their own dependencies are unpacked: package management and init
# integration; perl (git's scripted corners need it, its core does not); scipy's
# build-time compiler pythran (which drags in gcc and boost-dev); Tk, which only the TkAgg
# backend uses (the images use Agg); the Unicode database text files fonttools lists.
PROVIDED=(dpkg debconf install-info init-system-helpers sysvinit-utils lsb-base base-files usrmerge
  usr-is-merged sensible-utils perl perl-base perl-modules-5.36 libperl5.36 liberror-perl
  python3-pythran python3-pil.imagetk python3-tk unicode-data)

# --- fast path: nothing to do when every image is up to date -----------------------------

HASH="$(cat "$0" "$LIB" "$HELPERS"/* | sha256sum | cut -c1-16)"
TERMINAL_HASH="$HASH"
if [ "${#TERMINAL_EXTRA[@]}" -gt 0 ]; then
  TERMINAL_HASH="$(printf '%s\n' "$HASH" "${TERMINAL_EXTRA[@]}" | sha256sum | cut -c1-16)"
fi

image_of() {
  case "$1" in
    python) echo "$PYTHON_IMAGE" ;;
    python-slim) echo "$SLIM_IMAGE" ;;
    terminal) echo "$TERMINAL_IMAGE" ;;
  esac
}

hash_of() {
  case "$1" in
    "$TERMINAL_IMAGE") echo "$TERMINAL_HASH" ;;
    *) echo "$HASH" ;;
  esac
}

# up_to_date IMAGE: the image exists and was built by this very definition.
up_to_date() {
  [ "$FORCE" -eq 0 ] && [ "$(label_of "$1")" = "$(hash_of "$1")" ]
}

TODO=()
for target in "${TARGETS[@]}"; do
  if up_to_date "$(image_of "$target")"; then
    say "$(image_of "$target") is up to date (use --force to rebuild)"
  else
    TODO+=("$target")
  fi
done
[ "${#TODO[@]}" -gt 0 ] || exit 0

# Only building needs root (chroot, file ownership); checking the images does not.
start_build apt-get apt-cache dpkg-deb tar chroot ldconfig sha256sum
apt_view "${PROVIDED[@]}"

# --- assembling a root -------------------------------------------------------------------

# alternatives ROOT NAME=VERSION...: makes the links `update-alternatives --install` would
# make in the packages' postinst scripts (the highest priority wins), e.g. libblas.so.3 to
# OpenBLAS, cc to gcc, js to nodejs.
alternatives() {
  local root="$1" spec link path
  shift
  for spec in "$@"; do
    dpkg-deb --ctrl-tarfile "$(deb_path "$spec")" | tar -xO ./postinst 2>/dev/null || true
  done | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | tr -s ' \t' ' ' |
    awk '{ for (i = 1; i + 4 <= NF; i++) if ($i == "--install" && $(i + 1) ~ /^\// && $(i + 3) ~ /^\// && $(i + 4) ~ /^[0-9]+$/) print $(i + 4), $(i + 1), $(i + 3) }' |
    sort -k2,2 -k1,1nr | sort -u -k2,2 |
    while read -r _ link path; do
      if [ ! -e "$root$link" ] && [ ! -L "$root$link" ] && [ -e "$root$path" ]; then
        ln -s "$path" "$root$link"
      fi
    done
}

# Writes users, profile and the writable directories every sandbox image shares, and redoes
# what the skipped maintainer scripts would have done.
finish_root() {
  local root="$1"
  mkdir -p "$root/etc" "$root/tmp" "$root/workspace" "$root/proc" "$root/sys" "$root/dev" "$root/root" "$root/var/tmp"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
sandbox:x:1000:1000:sandbox:/workspace:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PASSWD
  cat >"$root/etc/group" <<'GROUP'
root:x:0:
sandbox:x:1000:
nogroup:x:65534:
GROUP
  cat >"$root/etc/profile" <<'PROFILE'
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
export LANG=C.UTF-8
export HOME="${HOME:-/workspace}"
PROFILE
  echo "sandbox" >"$root/etc/hostname"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  [ -e "$root/etc/localtime" ] || ln -sfn /usr/share/zoneinfo/Etc/UTC "$root/etc/localtime"
  chown 1000:1000 "$root/workspace"
  # dash, not busybox ash, as sh when present: Debian's busybox-static ash prefers its own
  # applets over the real coreutils/procps binaries on PATH.
  [ -e "$root/usr/bin/dash" ] && ln -sfn dash "$root/usr/bin/sh"
  [ -e "$root/usr/bin/gawk" ] && ln -sfn gawk "$root/usr/bin/awk"
  [ -e "$root/usr/bin/less" ] && ln -sfn less "$root/usr/bin/pager"
  # Busybox fills what the Debian packages do not provide (sh in the Python images, ps,
  # wget, vi ...); a real binary always wins over an applet.
  local applet
  for applet in $(chroot "$root" /usr/bin/busybox --list); do
    [ "$applet" = "busybox" ] && continue
    if [ ! -e "$root/usr/bin/$applet" ] && [ ! -e "$root/usr/sbin/$applet" ]; then
      ln -s busybox "$root/usr/bin/$applet"
    fi
  done
  [ -e "$root/usr/bin/python3" ] || ln -s python3.11 "$root/usr/bin/python3"
  [ -e "$root/usr/bin/python" ] || ln -s python3 "$root/usr/bin/python"
  # The CA bundle and hashed links update-ca-certificates would make (curl, git, requests
  # and Python's ssl read them when egress is enabled).
  if [ -d "$root/usr/share/ca-certificates/mozilla" ]; then
    ca_bundle "$root"
    [ -x "$root/usr/bin/openssl" ] && chroot "$root" /usr/bin/openssl rehash /etc/ssl/certs >/dev/null 2>&1 || true
  fi
  # Everything is installed by the image; a sandbox user's `pip install` goes to ~/.local.
  rm -f "$root"/usr/lib/python3.*/EXTERNALLY-MANAGED
  printf 'include /etc/ld.so.conf.d/*.conf\n' >"$root/etc/ld.so.conf"
  ldconfig -r "$root"
  # Documentation is dead weight in a sandbox image.
  rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/lintian"
}

# finish_data_stack ROOT: the data-science part of the Python images.
finish_data_stack() {
  local root="$1"
  # Test suites (pandas alone ships ~40 MB of them) are never run in a sandbox.
  find "$root/usr/lib/python3/dist-packages" -depth -type d -name tests -exec rm -rf {} +
  # Debian's matplotlibrc asks for TkAgg; these images have no Tk.
  sed -i 's/^backend *:.*/backend: Agg/' "$root/etc/matplotlibrc"
  install -m 0644 "$HELPERS/sitecustomize.py" "$root/etc/python3.11/sitecustomize.py"
  # Prebuilt font list, copied into MPLCONFIGDIR by sitecustomize (see there).
  mkdir -p "$root/usr/share/onlyboxes/matplotlib"
  chroot "$root" /usr/bin/env -i MPLCONFIGDIR=/usr/share/onlyboxes/matplotlib MPLBACKEND=Agg \
    /usr/bin/python3 -c 'import matplotlib.font_manager as f; assert f.fontManager.ttflist'
  find "$root/usr/share/onlyboxes/matplotlib" -type f ! -name 'fontlist-*.json' -delete
  chmod -R a+rX "$root/usr/share/onlyboxes"
}

# compile ROOT: precompiles every Python module, so no run pays for it (and a read-only
# root could not cache it). The process pool needs a /dev/shm, absent in a bare chroot.
compile() {
  local root="$1"
  mkdir -p "$root/dev/shm"
  chmod 1777 "$root/dev/shm"
  chroot "$root" /usr/bin/python3 -m compileall -q -j0 -x 'lib2to3/tests|/test/|/tests/' \
    /usr/lib/python3.11 /usr/lib/python3/dist-packages >/dev/null || true
  rm -rf "${root:?}/dev/shm"
}

# import_image ROOT IMAGE ENV...: imports ROOT as IMAGE, labelled with the definition hash.
import_image() {
  local root="$1" image="$2" env
  shift 2
  local changes=(--change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin'
    --change 'ENV LANG=C.UTF-8' --change 'ENV HOME=/workspace')
  for env in "$@"; do changes+=(--change "ENV $env"); done
  tar -C "$root" --numeric-owner -c . | docker import "${changes[@]}" \
    --change 'WORKDIR /workspace' \
    --change 'USER 1000:1000' \
    --change 'CMD ["/bin/sh"]' \
    --change "LABEL $HASH_LABEL=$(hash_of "$image")" \
    --message "onlyboxes sandbox image built from Debian packages" \
    - "$image" >/dev/null
  say "built $image ($(size_of "$image"))"
}

wants() { [[ " ${TODO[*]} " == *" $1 "* ]]; }

DATA_ENV=(MPLBACKEND=Agg MPLCONFIGDIR=/tmp/matplotlib)

if wants python-slim; then
  mapfile -t specs < <(resolve "${SLIM_PKGS[@]}")
  say "$SLIM_IMAGE: ${#specs[@]} packages"
  fetch "${specs[@]}"
  unpack "$WORK/slim" "${specs[@]}"
  finish_root "$WORK/slim"
  compile "$WORK/slim"
  import_image "$WORK/slim" "$SLIM_IMAGE"
  rm -rf "$WORK/slim"
fi

# The terminal image is the Python image plus tools: one root serves both, in that order.
if wants python || wants terminal; then
  mapfile -t data_specs < <(resolve "${DATA_PKGS[@]}")
  all_specs=("${data_specs[@]}")
  if wants terminal; then
    mapfile -t all_specs < <(resolve "${DATA_PKGS[@]}" "${TERMINAL_PKGS[@]}")
  fi
  say "${#data_specs[@]} packages for $PYTHON_IMAGE, ${#all_specs[@]} for $TERMINAL_IMAGE"
  fetch "${all_specs[@]}"
  unpack "$WORK/data" "${data_specs[@]}"
  alternatives "$WORK/data" "${data_specs[@]}"
  finish_root "$WORK/data"
  finish_data_stack "$WORK/data"
  compile "$WORK/data"
  say "Python root ready"
  if wants python; then
    import_image "$WORK/data" "$PYTHON_IMAGE" "${DATA_ENV[@]}"
  fi
  if wants terminal; then
    mapfile -t extra_specs < <(printf '%s\n' "${all_specs[@]}" | grep -vxF -f <(printf '%s\n' "${data_specs[@]}"))
    unpack "$WORK/data" "${extra_specs[@]}"
    alternatives "$WORK/data" "${all_specs[@]}"
    finish_root "$WORK/data"
    finish_data_stack "$WORK/data"
    compile "$WORK/data"
    import_image "$WORK/data" "$TERMINAL_IMAGE" "${DATA_ENV[@]}"
  fi
fi
say "done"
