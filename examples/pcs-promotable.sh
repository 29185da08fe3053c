#!/bin/sh
# hasocks as a promotable clone (warm standby) with a VIP, set up with pcs.
# Every node runs hasocks already bound to the VIP ("freebind": true in the
# config); the VIP follows the Promoted instance.
# Two choices keep agent calls off a failover's critical path:
# - notify=false: the agent needs no notifications, and each one is an agent
#   process Pacemaker waits for (five of them before a promote);
# - no order constraint between promote and the VIP: both run at once. A
#   client that reaches the standby before promote completes is held until
#   it does (up to timeout.negotiate), so it is served, not reset.
# migration-threshold=1: a Promoted instance that fails hands over to a warm
# standby at once, rather than restarting in place; failure-timeout=60s lets
# the failed node take a standby again a minute later.
# Fencing is site-specific and not set up here. For the fastest failover give
# each node its own fence device and keep it off the node it fences
# (pcs constraint location fence-node1 avoids node1): the device that fences
# a crashed node then already runs on the survivor, and does not start beside
# the VIPs.
# Run on one cluster node after `hasocks install-agent` on every node.
# Override the defaults from the environment: VIP=... NIC=... ./pcs-promotable.sh
set -eu
CONFIG=${CONFIG:-/etc/hasocks/hasocks.json}   # same file on every node, "internal": ["<VIP>:1080"]
VIP=${VIP:-192.0.2.100}
CIDR=${CIDR:-24}
NIC=${NIC:-eth0}
PROBE_TARGET=${PROBE_TARGET:-}                # host:port for the depth-20 monitor; empty: depth 10 only
EXTERNAL_VIP=${EXTERNAL_VIP:-}                # the config's "external" address, if it is a VIP of its own
PROMOTED_MONITOR=${PROMOTED_MONITOR:-9s}      # how soon a dead Promoted instance is noticed (1s: about 1.5 s to recover)
AGENT_VIP=${AGENT_VIP:-no}                    # yes: the agent holds the VIP(s) itself (vip=, vip_nic=) instead of IPaddr2
                                              # resources, so a switchover waits for no IPaddr2 (docs/cluster.md)

set -- config="$CONFIG"
[ -n "$PROBE_TARGET" ] && set -- "$@" probe_target="$PROBE_TARGET"
[ "$AGENT_VIP" = yes ] && set -- "$@" vip="$VIP/$CIDR${EXTERNAL_VIP:+ $EXTERNAL_VIP/$CIDR}" vip_nic="$NIC"
pcs resource create socks ocf:hasocks:socks "$@" \
  op monitor interval="$PROMOTED_MONITOR" role=Promoted timeout=10s \
  op monitor interval=11s role=Unpromoted timeout=10s \
  op monitor interval=61s timeout=20s OCF_CHECK_LEVEL=20 \
  promotable notify=false resource-stickiness=100 migration-threshold=1 failure-timeout=60s

if [ "$AGENT_VIP" != yes ]; then
  pcs resource create vip ocf:heartbeat:IPaddr2 ip="$VIP" cidr_netmask="$CIDR" nic="$NIC" \
    op monitor interval=5s
  pcs constraint colocation add vip with Promoted socks-clone INFINITY
fi
# Prefer a node other than the Designated Controller (DC) for the Promoted
# instance. When the active node crashes and the DC survives, the DC
# schedules the recovery without an election and join first (0.05-0.2 s
# faster here). After a 2-node failover the survivor is both, so this
# matters at first start and, with three or more nodes, picks which
# survivor is promoted. The score is below the stickiness: it picks a node
# but never moves a running service.
pcs constraint location socks-clone rule role=Promoted score=50 '#is_dc' eq false
# Pacemaker runs at most about one action per core at once on a node by
# default; a failover here runs fencing, promote and two IPaddr2 starts.
pcs property set node-action-limit=8
# That limit is only a ceiling: when a node's load average per core passes
# 1.2, 1.6 and 2 times load-threshold (80% by default), Pacemaker lets it run
# half, a quarter of it, and then one action at a time. A busy proxy node can
# get there, and then a failover's promote and VIP starts queue behind each
# other, and a VIP can slip into a later transition (docs/cluster.md, Why a
# SIGKILL's outage varies). A failover is a handful of light actions, so
# throttle only far beyond any normal load.
pcs property set load-threshold=400%
# Pacemaker's controller, when its CIB query for the scheduler comes back
# while its own CIB updates are still on their way, sleeps one second and
# asks again. A node loss always leaves such updates in flight (the lost
# node's attributes, node state, quorum), so about half of all failovers
# paid that second here. With a transition delay the controller waits until
# its CIB has been quiet that long (each change restarts the delay) before
# it asks: 20 ms, and the extra second has not come back (docs/cluster.md, Why a transition delay).
# pcs's check of this property knows no milliseconds (it would need --force
# and warn), so Pacemaker's own tool sets it.
crm_attribute --type crm_config --name transition-delay --update 20ms
if [ -n "$EXTERNAL_VIP" ] && [ "$AGENT_VIP" != yes ]; then
  # Outgoing traffic, BIND and UDP replies use it, so it follows the Promoted instance too.
  pcs resource create vip-external ocf:heartbeat:IPaddr2 ip="$EXTERNAL_VIP" cidr_netmask="$CIDR" nic="$NIC" \
    op monitor interval=5s
  pcs constraint colocation add vip-external with Promoted socks-clone INFINITY
fi
