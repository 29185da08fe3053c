#ifndef HASOCKS_REUSEPORT_RR_H
#define HASOCKS_REUSEPORT_RR_H

/* Make the SO_REUSEPORT group of these listening sockets hand out connections in turn (reuseport_rr.c). 0, or -1 with errno and *failed_call set. */
int reuseport_round_robin(const int *fds, int count, const char **failed_call);

#endif
