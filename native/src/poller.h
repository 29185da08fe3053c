/* One epoll set for the session sockets and the TCP and UDP relays (tcp_conn.c, tcp_relay.c, udp_relay.c), polled from Node's loop. */
#ifndef HASOCKS_POLLER_H
#define HASOCKS_POLLER_H
#include <stdint.h>
#include <sys/epoll.h>
#include <uv.h>

/*
 * Why not uv_poll: libuv checks every new descriptor with an epoll add and
 * a delete, deletes it again (twice) on close, and re-adds it (a failing
 * add, then a modify) every time a poll restarts. A short session made
 * about 27 epoll_ctl calls, 12% of a worker's time under the session load.
 * Here a descriptor joins the set once, and interest is dropped lazily:
 * only when an event the owner no longer wants arrives. close() takes a
 * descriptor out of the set by itself. A session's client and target are
 * added once each and handed to the relay as they are.
 *
 * Level-triggered, like uv_poll: each wake-up of the set reports every
 * ready descriptor once, so every stream gets its turn.
 */
typedef struct watcher watcher;

/* `events`: EPOLLIN and EPOLLOUT as wanted, EPOLLERR on a socket error. */
typedef void (*watcher_cb)(watcher *w, uint32_t events);

struct watcher {
  int fd;
  uint32_t wanted;     /* EPOLLIN | EPOLLOUT the owner wants now */
  uint32_t registered; /* what the epoll set has for fd; 0: not in the set */
  uint32_t tag;        /* the registration's tag (poller.c) */
  watcher_cb cb;
  void *owner;
};

/* The set and its uv_poll on `loop`, made on first use. 0, or an errno. */
int poller_open(uv_loop_t *loop);

/*
 * Watch `fd`. If another watcher has it (a session's socket going to the
 * relay), `w` takes it over as it is in the set, and the other is done with
 * it. Nothing is reported until watcher_want. 0, or an errno.
 */
int watcher_start(watcher *w, int fd, watcher_cb cb, void *owner);

/*
 * Want `events` (EPOLLIN | EPOLLOUT, or 0) from now on. 0, or the errno of
 * adding the descriptor to the set (EPERM: not a socket or pipe; EBADF).
 */
int watcher_want(watcher *w, uint32_t events);

/*
 * Stop watching. With `remove`, the descriptor leaves the set now (before
 * it goes to Node, or before closing one that another process shares: a
 * listener). Otherwise it stays in the set for a new owner's
 * watcher_start, or until close() takes it out: a socket this process
 * alone holds leaves the set when closed.
 */
void watcher_stop(watcher *w, int remove);

/* free(p) once no event being dispatched can still point at it: at once, or when this wake-up's events are done. */
void poller_free_later(void *p);

#endif
