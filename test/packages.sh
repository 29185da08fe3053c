# Sourced by test/run.sh, native/sanitize/run.sh and native/fuzz/run.sh: the
# Debian packages the tests use, and a function that installs those missing.

# Debian packages the tests use, with what for.
test_packages=(
  curl            # curl --socks5 / --socks5-hostname
  netcat-openbsd  # nc -X 5 -x
  python3         # stand-ins where Node cannot do it: a Unix datagram syslogd, a full accept queue
  iproute2        # ip netns for tests that need their own network
  nftables        # nft: a target that drops SYNs, inside a test's own namespace (test/world-faults.test.ts)
  bsdutils        # logger(1), the route to /dev/log
  dante-client    # socksify: Dante's own client runs unmodified programs through hasocks
  gcc             # builds test/helpers/accept-once.c (socksify BIND) and the native addon
  libc6-dev
  make            # node-gyp builds the native addon with make
  procps          # sysctl in the fuzzer's namespace (test/fuzz/run.mjs); ps and kill on the cluster lab's nodes
  resource-agents # ocf-tester and ra-api-1.dtd
  libxml2-utils   # xmllint, to validate the agent's meta-data
  pcs             # the OCF 1.1 RelaxNG schema pcs checks meta-data with
  pacemaker-cli-utils # crm_attribute (promotion scores), crm_mon, crm_resource, crm_verify
  pacemaker       # the cluster the agent tests run in (test/helpers/cluster.ts)
  corosync
  crmsh           # crm configure / crm ra info
  util-linux      # unshare and nsenter for the cluster lab's nodes
  stress-ng       # saturates the lab nodes' CPUs in the fast-failover stress run (test/helpers/cluster-stress.ts)
  iptables        # NFQUEUE: the stress run queues Corosync datagrams to test/helpers/link-delay.c (this kernel has no nft queue)
  libnetfilter-queue-dev # link-delay.c holds those datagrams for a random delay
  libkrb5-dev     # MIT GSS-API headers: the GSSAPI addon (native/src/gssapi.c) builds with them
  krb5-kdc        # a real KDC for the GSSAPI tests (test/helpers/kdc.ts), in a temporary directory
  krb5-admin-server # kadmin.local: the tests' principals and keytabs
  krb5-user       # kinit: the tests' users get their tickets
  dpkg-dev        # dpkg-source and dpkg-buildflags: apt-get source dante, built with Debian's flags (test/helpers/dante-gssapi.sh)
  autoconf        # Debian's patches to Dante edit configure.ac and the Makefile.am files: autoreconf, as dh_autoreconf does
  automake
  libtool-bin     # libtoolize for that autoreconf, and Dante's Build-Depends
  flex            # in Dante's Build-Depends; its configure looks for it
  clang           # native/fuzz/run.sh: libFuzzer harnesses for the C that parses client bytes
  libclang-rt-14-dev # libFuzzer and the sanitizer runtimes for clang (a separate package on Debian 12)
)

# need_packages WHO PACKAGE...: install the missing ones as root and say
# which; otherwise say what to install and fail. WHO names the script in
# its messages.
#   need_packages test/run.sh "${test_packages[@]}"
need_packages() {
  local who=$1 p
  shift
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "$who: Debian packages present: $*"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "$who: missing Debian packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
    return 1
  fi
  echo "$who: installing Debian packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "$who: installed: ${missing[*]}"
}
