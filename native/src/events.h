/*
 * The event codes C reports to JavaScript: this list is their only
 * definition. hasocks_native.c exports each list by name
 * (addon.tcpConnEvents, addon.tcpRelayEvents), src/native/addon.ts refuses
 * an addon that lacks a name it expects, and TypeScript compares events
 * with the exported numbers, so no code is written down twice.
 *
 * Each list is an X-macro: X(name) for every event, in order. The enums
 * below number them from 0; the numbers mean nothing outside this process.
 */
#ifndef HASOCKS_EVENTS_H
#define HASOCKS_EVENTS_H

/*
 * tcp_conn.c's onEvent(event, id, ...), with the arguments after the id:
 *   ACCEPTED  (clientId, remoteAddress, remotePort, localAddress, localPort) from a listener;
 *             localAddress is undefined unless the listener is a wildcard one
 *   DATA      (bytes)                 from a client while it is resumed
 *   END       (0)                     the client sent FIN; reading stops
 *   ERROR     (errno)                 a client's read or write failed, or a listener's accept
 *   CONNECTED (errno, localAddress, localPort) from a dial; errno 0 when connected
 *   CLOSED    (0)                     from a client: both sides sent FIN and all written was sent
 */
#define TCP_CONN_EVENTS(X) X(ACCEPTED) X(DATA) X(END) X(ERROR) X(CONNECTED) X(CLOSED)

/*
 * tcp_relay.c's onEvent(id, event, value):
 *   END_UP, END_DOWN  the client, or the target, sent FIN (passed on once what came before it is sent)
 *   CLOSED            both FINs went through and the relay closed; value: the bytes (a FIN counting
 *                     as one) its peers had not acknowledged when it stopped waiting for them, 0 when whole
 *   CLIENT_ERROR, TARGET_ERROR  an error (errno: value) on the client's or the target's socket closed the relay
 */
#define TCP_RELAY_EVENTS(X) X(END_UP) X(END_DOWN) X(CLOSED) X(CLIENT_ERROR) X(TARGET_ERROR)

#define TCP_CONN_EVENT_ENUM(name) TCP_CONN_##name,
#define TCP_RELAY_EVENT_ENUM(name) TCP_RELAY_##name,
enum tcp_conn_event { TCP_CONN_EVENTS(TCP_CONN_EVENT_ENUM) };
enum tcp_relay_event { TCP_RELAY_EVENTS(TCP_RELAY_EVENT_ENUM) };
#undef TCP_CONN_EVENT_ENUM
#undef TCP_RELAY_EVENT_ENUM

#endif
