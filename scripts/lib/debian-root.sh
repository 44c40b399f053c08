# What scripts/build-images.sh and scripts/build-service-images.sh share, sourced by both
# (it defines functions and builds nothing): their command line and checks, and a Debian
# root assembled from .debs without any image registry — apt's own resolver against a
# private view, a download cache, unpacking into a merged-/usr root, the CA bundle.
#
# The sourcing script sets SCRIPT_NAME (log prefix), DEB_DIR (the .deb cache) and
# HASH_LABEL (the image label carrying the definition hash) first.

START_SEC=$(date +%s)
say() { printf '%s: [%ss] %s\n' "$SCRIPT_NAME" "$(($(date +%s) - START_SEC))" "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

# parse_args HELP_LINES "TARGET..." ARG...: sets FORCE (--force) and TARGETS (every target
# when none is named); -h prints the lines HELP_LINES (a sed range) of the script's header.
parse_args() {
  local help="$1" valid="$2" arg
  shift 2
  FORCE=0
  TARGETS=()
  for arg in "$@"; do
    case "$arg" in
      --force) FORCE=1 ;;
      -h | --help)
        sed -n "${help}p" "$0"
        exit 0
        ;;
      *)
        [[ " $valid " == *" $arg "* ]] || die "unknown argument '$arg' (expected --force, ${valid// /, })"
        TARGETS+=("$arg")
        ;;
    esac
  done
  [ "${#TARGETS[@]}" -gt 0 ] || read -r -a TARGETS <<<"$valid"
}

need_docker() {
  command -v docker >/dev/null 2>&1 || die "docker CLI not found (run scripts/docker-engine.sh first)"
  docker version >/dev/null 2>&1 || die "no Docker Engine answering (run scripts/docker-engine.sh first)"
}

# label_of IMAGE: the definition hash IMAGE was built from (empty when there is no such image).
label_of() {
  docker image inspect -f "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$1" 2>/dev/null || true
}

# size_of IMAGE: its size in MB, for the log.
size_of() {
  docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1/1e6}'
}

# start_build TOOL...: checks what building needs (root for chroot and file ownership, the
# Debian tools) and makes WORK, a scratch folder removed at exit.
start_build() {
  [ "$(id -u)" -eq 0 ] || die "building images needs root (chroot and file ownership in the image)"
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (a Debian host is required)"
  done
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/$SCRIPT_NAME.XXXXXX")"
  trap 'rm -rf "$WORK"' EXIT
}

# apt_view PROVIDED...: a private apt view under $WORK/apt, set in APT_OPTS: an empty dpkg
# status except the PROVIDED packages (marked installed at their candidate version, without
# dependencies), no host pins, Debian preferred over any third-party repository the host
# may list (e.g. a newer nodejs).
apt_view() {
  mkdir -p "$WORK/apt/preferences.d"
  apt-cache show --no-all-versions "$@" | awk '
    /^Package: / { print; print "Status: install ok installed"; next }
    /^(Version|Architecture|Provides|Multi-Arch|Essential): / { print; next }
    /^$/ { print "Maintainer: none"; print "Description: treated as present"; print "" }
  ' >"$WORK/apt/status" || die "could not look up the packages treated as present (apt-get update?)"
  printf 'Package: *\nPin: release o=Debian\nPin-Priority: 900\n' >"$WORK/apt/preferences"
  APT_OPTS=(-o "Dir::State::status=$WORK/apt/status" -o "Dir::Etc::Preferences=$WORK/apt/preferences"
    -o "Dir::Etc::PreferencesParts=$WORK/apt/preferences.d" -o APT::Install-Recommends=false
    -o APT::Get::Upgrade-By-Source-Package=false -o Debug::NoLocking=1)
}

# resolve PACKAGES...: prints `name=version` for the whole closure, as apt's resolver sees it.
resolve() {
  local out
  out="$(apt-get -s -q "${APT_OPTS[@]}" install "$@" 2>&1)" || {
    printf '%s\n' "$out" >&2
    die "apt could not resolve the packages (apt-get update?)"
  }
  printf '%s\n' "$out" | awk '/^Inst / { v = $3; if (v ~ /^\[/) v = $4; sub(/^\(/, "", v); print $2 "=" v }'
}

# The .deb file name apt gives a package version (epoch colon escaped).
deb_path() {
  local name="${1%%=*}" ver="${1#*=}"
  compgen -G "$DEB_DIR/${name}_${ver//:/%3a}_*.deb" | head -n1
}

# fetch NAME=VERSION...: makes sure every .deb is in DEB_DIR (apt's own cache is reused
# before the network).
fetch() {
  mkdir -p "$DEB_DIR"
  local missing=() spec name ver
  for spec in "$@"; do
    [ -n "$(deb_path "$spec")" ] && continue
    name="${spec%%=*}" ver="${spec#*=}"
    if compgen -G "/var/cache/apt/archives/${name}_${ver//:/%3a}_*.deb" >/dev/null; then
      cp /var/cache/apt/archives/"${name}_${ver//:/%3a}"_*.deb "$DEB_DIR/"
    else
      missing+=("$spec")
    fi
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "downloading ${#missing[@]} packages"
    # The warning is about _apt not owning the directory; root downloads it instead.
    (cd "$DEB_DIR" && apt-get download -q "${APT_OPTS[@]}" "${missing[@]}" 2>&1 >/dev/null | grep -v 'unsandboxed' >&2 || true)
    for spec in "${missing[@]}"; do
      [ -n "$(deb_path "$spec")" ] || die "apt-get download failed for $spec"
    done
  fi
}

# unpack ROOT NAME=VERSION...: unpacks each fetched .deb into ROOT (merged /usr).
unpack() {
  local root="$1" spec
  shift
  mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib" "$root/usr/lib64"
  ln -sfn usr/bin "$root/bin"
  ln -sfn usr/sbin "$root/sbin"
  ln -sfn usr/lib "$root/lib"
  ln -sfn usr/lib64 "$root/lib64"
  # Busybox applet links from an earlier pass make way for the real binaries.
  find "$root/usr/bin" -maxdepth 1 -lname busybox -delete
  for spec in "$@"; do
    dpkg-deb --fsys-tarfile "$(deb_path "$spec")" | tar -x --keep-directory-symlink -C "$root"
  done
}

# ca_bundle ROOT: the CA bundle and per-certificate links update-ca-certificates would make
# from the unpacked ca-certificates package.
ca_bundle() {
  local root="$1" crt
  mkdir -p "$root/etc/ssl/certs"
  for crt in "$root"/usr/share/ca-certificates/mozilla/*.crt; do
    ln -sfn "/usr/share/ca-certificates/mozilla/${crt##*/}" "$root/etc/ssl/certs/$(basename "$crt" .crt).pem"
  done
  cat "$root"/usr/share/ca-certificates/mozilla/*.crt >"$root/etc/ssl/certs/ca-certificates.crt"
}
