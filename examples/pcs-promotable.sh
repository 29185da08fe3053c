#!/bin/sh
# hasocks as a promotable clone (warm standby) with a VIP, set up with pcs.
# Every node runs hasocks already bound to the VIP ("freebind": true in the
# config); the VIP follows the Promoted instance and starts after promote.
# Run on one cluster node after `hasocks install-agent` on every node.
# Override the defaults from the environment: VIP=... NIC=... ./pcs-promotable.sh
set -eu
CONFIG=${CONFIG:-/etc/hasocks/hasocks.json}   # same file on every node, "internal": ["<VIP>:1080"]
VIP=${VIP:-192.0.2.100}
CIDR=${CIDR:-24}
NIC=${NIC:-eth0}
PROBE_TARGET=${PROBE_TARGET:-}                # host:port for the depth-20 monitor; empty: depth 10 only

pcs resource create socks ocf:hasocks:socks \
  config="$CONFIG" ${PROBE_TARGET:+probe_target="$PROBE_TARGET"} \
  op monitor interval=9s role=Promoted timeout=10s \
  op monitor interval=11s role=Unpromoted timeout=10s \
  op monitor interval=61s timeout=20s OCF_CHECK_LEVEL=20 \
  promotable notify=true

pcs resource create vip ocf:heartbeat:IPaddr2 ip="$VIP" cidr_netmask="$CIDR" nic="$NIC" \
  op monitor interval=5s

pcs constraint colocation add vip with Promoted socks-clone INFINITY
pcs constraint order promote socks-clone then start vip
