#!/usr/bin/env bash
# Dante's client library (libdsocksd, Debian's name for libdsocks) and its
# socksify script, built WITH GSSAPI from Debian 12's own source package:
# the independent RFC 1961 client test/dante-gssapi.test.ts runs curl
# through. Debian's binary dante-client is configured --without-gssapi, so
# the test cannot use it. And from the same source, Dante's server sockd
# WITH GSSAPI (Debian's danted is configured --without-gssapi too), which
# test/bench/gssapi.mjs measures hasocks against.
#
# The build is cached in .cache/dante-gssapi/<version>/ (git-ignored), so
# only the first run fetches and builds. The source comes through a private
# apt state in a temporary directory: /etc/apt is read, never changed.
#
# Output: progress on stderr; on success, the cache directory (holding
# libdsocksd.so.0, socksify, sockd and build-info) as the only line on stdout.
# Exit codes:
#   0  built, or found in the cache
#   3  the source package cannot be fetched (no Debian mirror for this
#      release in /etc/apt, or no network); the one-line reason is on stderr
#   1  anything else (missing build tools, a failed build): a real failure
#
# Usage: test/helpers/dante-gssapi.sh
#   DANTE_GSSAPI_MIRROR="URI [signed-by=KEYRING]" names the Debian mirror
#   instead of the one found in /etc/apt.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

say() { echo "dante-gssapi: $*" >&2; }
# The one reason a caller may skip on: printed as one line, distinct exit code.
cannot_fetch() {
  echo "dante-gssapi: cannot fetch Dante's source package: $*" >&2
  exit 3
}

# What the build is configured with, beyond Debian's own flags: GSSAPI on
# (Debian says --without-gssapi). The client is configured client only; the
# server, in a copy of the same autoreconf'ed tree, with the same flags but
# the server's instead of --disable-server. The recipe is part of the
# cache's check, so changing it rebuilds.
configure_flags=(
  --prefix=/usr
  --with-socks-conf=/etc/dante.conf
  --disable-server
  --without-libwrap --without-pam --without-bsdauth --without-upnp --without-ldap --without-sasl
)
server_configure_flags=(
  --prefix=/usr
  --with-socks-conf=/etc/dante.conf
  --with-sockd-conf=/etc/danted.conf
  --without-libwrap --without-pam --without-bsdauth --without-upnp --without-ldap --without-sasl
)
recipe="autoreconf -f -i; configure ${configure_flags[*]}; make -C include; make -C dlib; make -C bin"
recipe="$recipe; server: configure ${server_configure_flags[*]}; make -C include; make -C lib; make -C sockd"

# The Dante version to build: the one Debian's dante-client is at here
# (installed, else apt's candidate), so the cache is found without network.
version=$(dpkg-query -W -f='${source:Version}' dante-client 2>/dev/null || true)
if [ -z "$version" ]; then
  version=$(apt-cache policy dante-client 2>/dev/null | sed -n 's/^ *Candidate: //p')
  [ "$version" = "(none)" ] && version=""
fi
cache_root="$repo/.cache/dante-gssapi"

cached() {
  local dir="$cache_root/$1"
  [ -f "$dir/libdsocksd.so.0" ] && [ -x "$dir/socksify" ] && [ -x "$dir/sockd" ] && [ -f "$dir/build-info" ] &&
    grep -qxF "recipe: $recipe" "$dir/build-info"
}

if [ -n "$version" ] && cached "$version"; then
  say "Dante $version with GSSAPI: cached in $cache_root/$version, no build"
  echo "$cache_root/$version"
  exit 0
fi

# shellcheck source=test/packages.sh
. test/packages.sh
# Build tools only: the source is fetched with apt's own dpkg-source, and
# the rest is what Debian's debian/rules needs for the client library and
# the server.
need_packages test/helpers/dante-gssapi.sh dpkg-dev autoconf automake libtool-bin flex gcc libc6-dev make libkrb5-dev >&2

# The Debian mirror this machine uses for its release: an entry whose suite
# is exactly the release's codename (not -updates or -security) with the
# "main" component, from the one-line sources.list format and the deb822
# .sources format both. One printed as "URI [signed-by=KEYRING]"; Debian's
# own archive first, should a third party also publish a suite of that name.
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$codename" ] || cannot_fetch "/etc/os-release names no release codename"
apt_entries() {
  local line options uri suite components f
  # One-line format: deb [option=value ...] URI SUITE COMPONENT...
  while read -r line; do
    line=${line%%#*}
    [[ $line =~ ^deb(-src)?[[:space:]]+(\[([^]]*)\][[:space:]]+)?([^[:space:]]+)[[:space:]]+([^[:space:]]+)[[:space:]]+(.*)$ ]] || continue
    options=${BASH_REMATCH[3]} uri=${BASH_REMATCH[4]} suite=${BASH_REMATCH[5]} components=${BASH_REMATCH[6]}
    [ "$suite" = "$codename" ] && [[ " $components " == *" main "* ]] || continue
    [[ " $options " =~ [[:space:]](signed-by=[^[:space:]]+) ]] && echo "$uri ${BASH_REMATCH[1]}" || echo "$uri"
  done < <(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null)
  # deb822: paragraphs of "Key: value" lines.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$codename" 'BEGIN { RS = ""; FS = "\n" } {
      uris = ""; suites = ""; components = ""; signed = ""; enabled = "yes"
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
        if ($i ~ /^Suites:/) { suites = " " $i " "; sub(/^ Suites:/, "", suites) }
        if ($i ~ /^Components:/) { components = " " $i " "; sub(/^ Components:/, "", components) }
        if ($i ~ /^Signed-By:/) { signed = $i; sub(/^Signed-By:[ \t]*/, "", signed) }
        if ($i ~ /^Enabled:/) { enabled = $i; sub(/^Enabled:[ \t]*/, "", enabled) }
      }
      gsub(/[ \t]+/, " ", suites); gsub(/[ \t]+/, " ", components)
      if (enabled == "no" || index(suites, " " suite " ") == 0 || index(components, " main ") == 0) next
      split(uris, u, /[ \t]+/)
      # A Signed-By that is a path (not an inline key) carries over.
      print u[1] (signed ~ /^\/[^ ]+$/ ? " signed-by=" signed : "")
    }' "$f"
  done
}
mirror_line=${DANTE_GSSAPI_MIRROR:-}
[ -n "$mirror_line" ] || mirror_line=$(apt_entries | awk '{ print ($1 ~ /debian\.org/ ? 0 : 1), $0 }' | sort -s -k1,1n | cut -d' ' -f2- | head -n 1)
[ -n "$mirror_line" ] || cannot_fetch "no Debian mirror for \"$codename\" main in /etc/apt/sources.list or /etc/apt/sources.list.d"
read -r mirror signed_by <<<"$mirror_line"
say "Debian mirror for $codename: $mirror"

work=$(mktemp -d "${TMPDIR:-/tmp}/hasocks-dante-gssapi-XXXXXX")
trap 'rm -rf "$work"' EXIT
# _apt (apt's download sandbox user) must read the private state when run as root.
chmod 755 "$work"
mkdir -p "$work/etc/sources.list.d" "$work/state/lists/partial" "$work/cache/archives/partial" "$work/src"
echo "deb-src ${signed_by:+[$signed_by] }$mirror $codename main" >"$work/etc/sources.list"
apt_private=(
  -o "Dir::Etc::SourceList=$work/etc/sources.list"
  -o "Dir::Etc::SourceParts=$work/etc/sources.list.d"
  -o "Dir::State=$work/state"
  -o "Dir::Cache=$work/cache"
  -o "Acquire::Retries=2"
  -o "Acquire::http::Timeout=20"
)

say "apt-get update of a private source list (deb-src $mirror $codename main)"
if ! apt-get "${apt_private[@]}" -q update >"$work/update.log" 2>&1 || grep -qE '^(W|E): Failed to fetch' "$work/update.log"; then
  cannot_fetch "apt-get update from $mirror failed: $(grep -E '^(W|E):' "$work/update.log" | head -n 1 | cut -c1-200)"
fi

versions=$(apt-cache "${apt_private[@]}" showsrc dante 2>/dev/null | sed -n 's/^Version: //p' | sort -V || true)
available=$(tail -n 1 <<<"$versions")
[ -n "$available" ] || cannot_fetch "the mirror $mirror lists no source package \"dante\" for $codename"
if [ -n "$version" ] && grep -qxF "$version" <<<"$versions"; then
  want=$version
else
  say "the mirror has no dante ${version:-(version unknown here)} source; building the mirror's $available"
  want=$available
  if cached "$want"; then
    say "Dante $want with GSSAPI: cached in $cache_root/$want, no build"
    echo "$cache_root/$want"
    exit 0
  fi
fi

say "apt-get source dante=$want (unpacked with Debian's patches applied)"
if ! (cd "$work/src" && apt-get "${apt_private[@]}" -q source --only-source "dante=$want") >"$work/source.log" 2>&1; then
  if grep -qE 'Failed to fetch|Unable to find a source package|Could not resolve|Temporary failure' "$work/source.log"; then
    cannot_fetch "apt-get source dante=$want: $(grep -E '^(W|E):' "$work/source.log" | head -n 1 | cut -c1-200)"
  fi
  cat "$work/source.log" >&2
  say "apt-get source dante=$want failed"
  exit 1
fi
src=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'dante-*' | head -n 1)
[ -n "$src" ] || { say "apt-get source left no dante-* directory"; exit 1; }
server_src="$work/server-src"

build() {
  local started=$SECONDS
  # A function run as "( build ) || ..." does not stop at errors by itself (set -e is off there): each step checks.
  cd "$src" || return 1
  # Debian's patches edit configure.ac, preload.m4 and the Makefile.am
  # files (the library's name among them), so, like dh_autoreconf, the
  # build regenerates configure and the Makefiles.
  say "autoreconf -f -i"
  autoreconf -f -i >"$work/autoreconf.log" 2>&1 || { tail -n 30 "$work/autoreconf.log" >&2; return 1; }
  cp -a "$src" "$server_src" || return 1
  # Debian's compiler and linker flags for this package (debian/rules: hardening=+all).
  eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)" || return 1
  say "configure ${configure_flags[*]}"
  ./configure "${configure_flags[@]}" >"$work/configure.log" 2>&1 || { tail -n 30 "$work/configure.log" >&2; return 1; }
  sed -n '/Configure status:/,/Compatibility:/{/^ *$/d;s/^ */dante-gssapi:   /;p}' "$work/configure.log" >&2
  if ! grep -qx '#define HAVE_GSSAPI 1' include/autoconf.h; then
    say "configure did not enable GSSAPI (is libkrb5-dev installed?)"
    return 1
  fi
  say "make -C include, -C dlib (libdsocksd), -C bin (socksify)"
  {
    make -C include && make -j"$(nproc)" -C dlib && make -C bin
  } >"$work/make.log" 2>&1 || { tail -n 40 "$work/make.log" >&2; return 1; }
  [[ $(ldd dlib/.libs/libdsocksd.so.0) == *libgssapi_krb5* ]] || { say "libdsocksd.so.0 is not linked with libgssapi_krb5"; return 1; }
  say "client built in $((SECONDS - started)) s"
}
# The server: the autoreconf'ed tree copied before the client's configure
# touched it (configure writes include/autoconf.h and the Makefiles in place).
build_server() {
  local started=$SECONDS
  cd "$server_src" || return 1
  eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)" || return 1
  say "server: configure ${server_configure_flags[*]}"
  ./configure "${server_configure_flags[@]}" >"$work/configure-server.log" 2>&1 || { tail -n 30 "$work/configure-server.log" >&2; return 1; }
  if ! grep -qx '#define HAVE_GSSAPI 1' include/autoconf.h; then
    say "server: configure did not enable GSSAPI (is libkrb5-dev installed?)"
    return 1
  fi
  say "server: make -C include, -C lib, -C sockd (sockd)"
  {
    make -C include && make -j"$(nproc)" -C lib && make -j"$(nproc)" -C sockd
  } >"$work/make-server.log" 2>&1 || { tail -n 40 "$work/make-server.log" >&2; return 1; }
  # libtool may leave a wrapper script in sockd/ and the binary in sockd/.libs.
  server_binary=sockd/sockd
  [ -f sockd/.libs/sockd ] && server_binary=sockd/.libs/sockd
  [[ $(ldd "$server_binary") == *libgssapi_krb5* ]] || { say "sockd is not linked with libgssapi_krb5"; return 1; }
  say "server built in $((SECONDS - started)) s"
}
( build ) || { say "the build of Dante $want failed"; exit 1; }
( build_server ) || { say "the build of Dante $want's server failed"; exit 1; }
server_binary="$server_src/sockd/sockd"
[ -f "$server_src/sockd/.libs/sockd" ] && server_binary="$server_src/sockd/.libs/sockd"

# Into the cache under a temporary name, then renamed: a reader never sees half a build.
mkdir -p "$cache_root"
staging=$(mktemp -d "$cache_root/.staging-XXXXXX")
trap 'rm -rf "$work" "$staging"' EXIT
cp -L "$src/dlib/.libs/libdsocksd.so.0" "$staging/libdsocksd.so.0"
install -m 755 "$src/bin/socksify" "$staging/socksify"
install -m 755 "$server_binary" "$staging/sockd"
{
  echo "dante: $want"
  echo "source: deb-src $mirror $codename main"
  echo "recipe: $recipe"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m)"
} >"$staging/build-info"
chmod 755 "$staging"
rm -rf "${cache_root:?}/$want"
mv -T "$staging" "$cache_root/$want"
say "Dante $want with GSSAPI: cached in $cache_root/$want"
echo "$cache_root/$want"
