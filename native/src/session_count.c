/*
 * The node's count of open client sessions, shared by a supervisor's
 * workers, so that session.max bounds the node and not each worker.
 *
 * A memfd holds one counter per worker. A worker admits a session by
 * raising its own counter and then summing them all: within the limit it
 * keeps the place, over it it gives the place back. Two workers racing for
 * the last place may both give up, but both can never keep it, since each
 * one's sum includes the other's raise. A worker's counter is its own, so
 * when a worker dies the supervisor zeroes it and nothing stays counted.
 *
 * The functions, exported as sessionCount*:
 *   create()           supervisor: a new shared area; returns its fd (close-on-exec)
 *   attach(fd, slot)   worker: map the area and count in counter `slot`
 *   take(max)          worker: true if a session may open (then it counts)
 *   give()             worker: a session closed
 *   clear(slot)        supervisor: worker `slot` is gone; returns how many sessions it held
 *   total()            the sum
 */
#define _GNU_SOURCE
#include "session_count.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct {
  _Atomic int64_t count[SESSION_COUNT_SLOTS];
} shared_counts;

static shared_counts *shared;
static int my_slot = -1;

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[128];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, message);
  return NULL;
}

static int map_area(int fd) {
  void *area = mmap(NULL, sizeof(shared_counts), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (area == MAP_FAILED) return errno;
  if (shared) munmap(shared, sizeof(shared_counts));
  shared = area;
  return 0;
}

static int64_t sum(void) {
  int64_t total = 0;
  for (int i = 0; i < SESSION_COUNT_SLOTS; i++) total += atomic_load(&shared->count[i]);
  return total;
}

static napi_value number(napi_env env, double value) {
  napi_value out;
  napi_create_double(env, value, &out);
  return out;
}

static napi_value boolean(napi_env env, int value) {
  napi_value out;
  napi_get_boolean(env, value, &out);
  return out;
}

/* Up to two integer arguments. */
static int int_args(napi_env env, napi_callback_info info, size_t wanted, int64_t *out) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < wanted) return -1;
  for (size_t i = 0; i < wanted; i++)
    if (napi_get_value_int64(env, argv[i], &out[i]) != napi_ok) return -1;
  return 0;
}

napi_value session_count_create(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = memfd_create("hasocks-sessions", MFD_CLOEXEC);
  if (fd < 0) return throw_errno(env, "memfd_create", errno);
  int err = ftruncate(fd, sizeof(shared_counts)) == 0 ? map_area(fd) : errno;
  if (err != 0) {
    close(fd);
    return throw_errno(env, "session count area", err);
  }
  return number(env, fd);
}

napi_value session_count_attach(napi_env env, napi_callback_info info) {
  int64_t args[2];
  if (int_args(env, info, 2, args) != 0 || args[0] < 0 || args[1] < 0 || args[1] >= SESSION_COUNT_SLOTS) {
    napi_throw_type_error(env, NULL, "expected (fd, slot) with slot below sessionCountSlots");
    return NULL;
  }
  int err = map_area((int)args[0]);
  if (err != 0) return throw_errno(env, "session count area", err);
  my_slot = (int)args[1];
  return NULL;
}

napi_value session_count_take(napi_env env, napi_callback_info info) {
  int64_t max;
  if (int_args(env, info, 1, &max) != 0 || !shared || my_slot < 0) {
    napi_throw_type_error(env, NULL, "expected (max) after sessionCountAttach");
    return NULL;
  }
  atomic_fetch_add(&shared->count[my_slot], 1);
  if (sum() <= max) return boolean(env, 1);
  atomic_fetch_sub(&shared->count[my_slot], 1);
  return boolean(env, 0);
}

napi_value session_count_give(napi_env env, napi_callback_info info) {
  (void)info;
  if (!shared || my_slot < 0) {
    napi_throw_type_error(env, NULL, "sessionCountGive before sessionCountAttach");
    return NULL;
  }
  atomic_fetch_sub(&shared->count[my_slot], 1);
  return NULL;
}

napi_value session_count_clear(napi_env env, napi_callback_info info) {
  int64_t slot;
  if (int_args(env, info, 1, &slot) != 0 || !shared || slot < 0 || slot >= SESSION_COUNT_SLOTS) {
    napi_throw_type_error(env, NULL, "expected (slot) after sessionCountCreate");
    return NULL;
  }
  return number(env, (double)atomic_exchange(&shared->count[slot], 0));
}

napi_value session_count_total(napi_env env, napi_callback_info info) {
  (void)info;
  return number(env, shared ? (double)sum() : 0);
}
