/* The UDP ASSOCIATE relay's fast path (udp_relay.c). */
#ifndef HASOCKS_UDP_RELAY_H
#define HASOCKS_UDP_RELAY_H
#include <node_api.h>

/* Add udpRelayOpen, udpRelayOutgoing, udpRelayLearn, udpRelaySendOut, udpRelaySendToClient, udpRelayStats and udpRelayClose to exports. */
int udp_relay_register(napi_env env, napi_value exports);

#endif
