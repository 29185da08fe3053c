/* One epoll set for the session sockets and the TCP and UDP relays: see poller.h. */
#define _GNU_SOURCE
#include "poller.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int epoll_fd = -1;
static uv_poll_t set_poll;

/* The watcher of each descriptor, by descriptor number; NULL for none. */
static watcher **by_fd;
static int by_fd_size;

/* Watchers started and not stopped: while there are any, the set's poll keeps Node's loop alive, as a uv_poll per socket would. */
static size_t watching;

/* While a wake-up's events are dispatched, what to free after them. */
static int dispatching;
static void **graveyard;
static size_t graveyard_count, graveyard_capacity;

#define EVENTS_PER_WAKE 256

/* Each registration in the set gets a new tag, carried in its events with the descriptor, so an event still queued for a closed descriptor is not taken for its successor of the same number. */
static uint32_t last_tag;

/* 0, or the errno of a failed epoll_ctl. */
static int set_mask(watcher *w, uint32_t events) {
  if (events == w->registered) return 0;
  int op = events == 0 ? EPOLL_CTL_DEL : w->registered == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (op == EPOLL_CTL_ADD) w->tag = ++last_tag;
  struct epoll_event event = {.events = events, .data = {.u64 = (uint64_t)w->tag << 32 | (uint32_t)w->fd}};
  if (epoll_ctl(epoll_fd, op, w->fd, &event) == 0 || (op == EPOLL_CTL_DEL && errno == ENOENT)) {
    w->registered = events;
    return 0;
  }
  return errno;
}

static void on_set_ready(uv_poll_t *handle, int status, int events) {
  (void)handle;
  (void)status;
  (void)events;
  struct epoll_event ready[EVENTS_PER_WAKE];
  int n;
  do n = epoll_wait(epoll_fd, ready, EVENTS_PER_WAKE, 0);
  while (n < 0 && errno == EINTR);
  dispatching = 1;
  for (int i = 0; i < n; i++) {
    int fd = (int)(uint32_t)ready[i].data.u64;
    watcher *w = fd < by_fd_size ? by_fd[fd] : NULL;
    if (!w || w->tag != (uint32_t)(ready[i].data.u64 >> 32)) continue; /* stopped or closed in this wake-up */
    uint32_t got = ready[i].events;
    if (w->wanted == 0) {
      set_mask(w, 0); /* lazily out of the set: an unwatched hang-up or error would otherwise wake us forever */
      continue;
    }
    if (w->registered & ~w->wanted) set_mask(w, w->wanted); /* lazily drop what is no longer wanted */
    uint32_t report = got & EPOLLERR;
    if ((w->wanted & EPOLLIN) && (got & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))) report |= EPOLLIN;
    if ((w->wanted & EPOLLOUT) && (got & (EPOLLOUT | EPOLLHUP))) report |= EPOLLOUT;
    if (report) w->cb(w, report);
  }
  dispatching = 0;
  for (size_t i = 0; i < graveyard_count; i++) free(graveyard[i]);
  graveyard_count = 0;
}

int poller_open(uv_loop_t *loop) {
  if (epoll_fd >= 0) return 0;
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return errno;
  int rc = uv_poll_init(loop, &set_poll, fd);
  if (rc == 0) rc = uv_poll_start(&set_poll, UV_READABLE, on_set_ready);
  if (rc != 0) {
    close(fd);
    return -rc;
  }
  uv_unref((uv_handle_t *)&set_poll);
  epoll_fd = fd;
  return 0;
}

int watcher_start(watcher *w, int fd, watcher_cb cb, void *owner) {
  if (fd >= by_fd_size) {
    int size = by_fd_size ? by_fd_size : 1024;
    while (size <= fd) size *= 2;
    watcher **grown = realloc(by_fd, (size_t)size * sizeof *grown);
    if (!grown) return ENOMEM;
    memset(grown + by_fd_size, 0, (size_t)(size - by_fd_size) * sizeof *grown);
    by_fd = grown;
    by_fd_size = size;
  }
  watcher *previous = by_fd[fd];
  w->fd = fd;
  w->wanted = 0;
  w->cb = cb;
  w->owner = owner;
  /* A descriptor handed on (a session's sockets to the relay) changes owner with its registration; it was counted when first watched. */
  w->registered = previous ? previous->registered : 0;
  w->tag = previous ? previous->tag : 0;
  if (!previous && watching++ == 0) uv_ref((uv_handle_t *)&set_poll);
  by_fd[fd] = w;
  return 0;
}

int watcher_want(watcher *w, uint32_t events) {
  w->wanted = events;
  /* Adding interest is at once; dropping it waits for an unwanted event (on_set_ready). */
  return events & ~w->registered ? set_mask(w, w->registered | events) : 0;
}

void watcher_stop(watcher *w, int remove) {
  if (w->fd >= 0 && w->fd < by_fd_size && by_fd[w->fd] == w) {
    by_fd[w->fd] = NULL;
    if (--watching == 0) uv_unref((uv_handle_t *)&set_poll);
  }
  if (remove && w->registered) set_mask(w, 0);
  w->wanted = 0;
  w->fd = -1;
}

void poller_free_later(void *p) {
  if (!dispatching) {
    free(p);
    return;
  }
  if (graveyard_count == graveyard_capacity) {
    size_t capacity = graveyard_capacity ? graveyard_capacity * 2 : 64;
    void **grown = realloc(graveyard, capacity * sizeof *grown);
    if (!grown) return; /* leak one object rather than free it under a caller */
    graveyard = grown;
    graveyard_capacity = capacity;
  }
  graveyard[graveyard_count++] = p;
}
