#!/bin/sh
# hasocks as a plain primitive in a group after its VIP (the cold-start
# layout of Dante's redundancy guide): the VIP starts first, then hasocks
# binds it. Simpler than the promotable clone, slower to fail over.
set -eu
CONFIG=${CONFIG:-/etc/hasocks/hasocks.json}   # "internal": ["<VIP>:1080"]
VIP=${VIP:-192.0.2.100}
CIDR=${CIDR:-24}
NIC=${NIC:-eth0}
EXTERNAL_VIP=${EXTERNAL_VIP:-}                # the config's "external" address, if it is a VIP of its own

pcs resource create vip ocf:heartbeat:IPaddr2 ip="$VIP" cidr_netmask="$CIDR" nic="$NIC" \
  op monitor interval=5s --group socks-group
if [ -n "$EXTERNAL_VIP" ]; then
  pcs resource create vip-external ocf:heartbeat:IPaddr2 ip="$EXTERNAL_VIP" cidr_netmask="$CIDR" nic="$NIC" \
    op monitor interval=5s --group socks-group
fi
pcs resource create socks ocf:hasocks:socks config="$CONFIG" \
  op monitor interval=5s timeout=10s --group socks-group
# Stay put when a failed node comes back: moving back would be a second outage.
pcs resource meta socks-group resource-stickiness=100
# Spare failovers Pacemaker's one-second CIB re-ask (see pcs-promotable.sh).
crm_attribute --type crm_config --name transition-delay --update 20ms
