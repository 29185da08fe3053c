# ocf/vip.sh: the addresses a Promoted instance holds itself, when the
# resource's `vip` parameter names them (docs/cluster.md, "The VIP in the
# agent"). The launcher (ocf/hasocks) sources this file and the full agent
# (ocf/agent.ts) runs it, `sh vip.sh ACTION VIPS NIC STATE_DIR`, so both add,
# remove and check the addresses the same way. No function here decides
# anything: the agent validates VIPS (address/prefix, space-separated) and
# NIC, and the launcher hands any doubt to the agent.
#
#   vip_add VIPS NIC STATE_DIR   add each address that is absent, then announce
#                                each (gratuitous ARP, or unsolicited neighbour
#                                advertisements for IPv6) in the background
#   vip_del VIPS NIC             remove each address that is present, and
#                                print those it removed
#   vip_held VIPS NIC            print the addresses that are on NIC
#   vip_absent VIPS NIC          print the addresses that are not on NIC

# Whether one address/prefix is on NIC; `ip` compares the addresses, so any
# spelling of an IPv6 address finds it.
vip_here() {
  case $1 in *:*) family=-6 host=/128 ;; *) family=-4 host=/32 ;; esac
  [ -n "$(ip "$family" -o addr show dev "$2" to "${1%/*}$host" 2>/dev/null)" ]
}

vip_held() {
  for vip in $1; do vip_here "$vip" "$2" && printf '%s\n' "${vip%/*}"; done
  return 0
}

vip_absent() {
  for vip in $1; do vip_here "$vip" "$2" || printf '%s\n' "${vip%/*}"; done
  return 0
}

# Pacemaker's helpers for the announcements, from resource-agents (as IPaddr2 uses them).
vip_helpers=${HA_BIN:-/usr/libexec/heartbeat}

vip_add() {
  for vip in $1; do
    vip_here "$vip" "$2" && continue
    # The cluster, not duplicate address detection, keeps an address on one
    # node; DAD would hold a new IPv6 address back for a second or more.
    case $vip in *:*) nodad=nodad ;; *) nodad= ;; esac
    ip addr add "$vip" dev "$2" $nodad || return 1
  done
  # Neighbours still send to the node that held the addresses until told.
  # In the background, with no file of ours open: Pacemaker waits for the
  # agent, not for the announcements (five, 200 ms apart, as IPaddr2 sends).
  for vip in $1; do
    case $vip in
      *:*) [ -x "$vip_helpers/send_ua" ] && "$vip_helpers/send_ua" -i 200 -c 5 "${vip%/*}" "${vip#*/}" "$2" ;;
      *) [ -x "$vip_helpers/send_arp" ] && "$vip_helpers/send_arp" -i 200 -r 5 -p "$3/send_arp-${vip%/*}" "$2" "${vip%/*}" auto not_used not_used ;;
    esac </dev/null >/dev/null 2>&1 &
  done
  return 0
}

vip_del() {
  for vip in $1; do
    vip_here "$vip" "$2" || continue
    ip addr del "$vip" dev "$2" || return 1
    printf '%s\n' "${vip%/*}"
  done
  return 0
}

# Run as a program (by the agent): sh vip.sh add|del|held|absent VIPS NIC [STATE_DIR]
case ${0##*/} in
  vip.sh)
    set -f  # VIPS is split into words, never expanded into file names
    action=$1
    shift
    case $action in
      add | del | held | absent) "vip_$action" "$@" ;;
      *) echo "usage: vip.sh add|del|held|absent VIPS NIC [STATE_DIR]" >&2; exit 2 ;;
    esac
    ;;
esac
