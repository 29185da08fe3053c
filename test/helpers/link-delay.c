/*
 * link-delay QUEUE MEAN_MS JITTER_MS: hold every packet that netfilter puts on
 * NFQUEUE number QUEUE for a random time, uniform in MEAN +- JITTER ms, then
 * let it go on. The lab's stand-in for netem's `delay 5ms 5ms`, which this
 * kernel lacks (test/helpers/cluster-stress.ts queues each node's outgoing
 * Corosync datagrams here). Like netem with jitter, it may reorder packets.
 *
 * Runs until SIGTERM or SIGINT; then it lets every held packet go and prints
 * one JSON line: how many packets it held, and the delays it really gave
 * (from receipt to verdict), which can exceed the asked-for ones when the
 * machine is busy.
 */
#define _GNU_SOURCE /* ppoll: a timeout finer than a millisecond */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <libnfnetlink/libnfnetlink.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* The most packets held at once; more than Corosync sends in the longest delay. */
#define MAX_HELD 65536

struct held {
  uint64_t release_ns;
  uint64_t received_ns;
  uint32_t id;
};

static struct held heap[MAX_HELD];
static size_t held_count;
static volatile sig_atomic_t stopping;
static uint64_t mean_ns, jitter_ns;
/* Delays given, in 0.1 ms buckets up to a second; the last bucket holds everything longer. */
#define BUCKETS 10000
static struct {
  uint64_t packets, overflow, total_delay_ns, max_delay_ns;
  uint64_t buckets[BUCKETS];
} stats;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A min-heap on release time: the next packet due is always heap[0]. */
static void heap_push(struct held item) {
  size_t i = held_count++;
  while (i > 0 && heap[(i - 1) / 2].release_ns > item.release_ns) {
    heap[i] = heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  heap[i] = item;
}

static struct held heap_pop(void) {
  struct held top = heap[0], last = heap[--held_count];
  size_t i = 0;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= held_count) break;
    if (child + 1 < held_count && heap[child + 1].release_ns < heap[child].release_ns) child++;
    if (heap[child].release_ns >= last.release_ns) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = last;
  return top;
}

static void release(struct nfq_q_handle *queue, struct held item) {
  uint64_t delay = now_ns() - item.received_ns;
  stats.packets++;
  stats.total_delay_ns += delay;
  if (delay > stats.max_delay_ns) stats.max_delay_ns = delay;
  uint64_t bucket = delay / 100000u;
  stats.buckets[bucket < BUCKETS ? bucket : BUCKETS - 1]++;
  nfq_set_verdict(queue, item.id, NF_ACCEPT, 0, NULL);
}

static int on_packet(struct nfq_q_handle *queue, struct nfgenmsg *msg, struct nfq_data *data, void *unused) {
  (void)msg;
  (void)unused;
  struct nfqnl_msg_packet_hdr *header = nfq_get_msg_packet_hdr(data);
  if (header == NULL) return 0;
  uint32_t id = ntohl(header->packet_id);
  uint64_t now = now_ns();
  if (held_count == MAX_HELD) {
    stats.overflow++;
    return nfq_set_verdict(queue, id, NF_ACCEPT, 0, NULL);
  }
  /* Uniform in [mean - jitter, mean + jitter], clamped at 0; random() is enough for a lab. */
  uint64_t spread = 2 * jitter_ns + 1;
  int64_t delay = (int64_t)mean_ns - (int64_t)jitter_ns + (int64_t)(((uint64_t)random() << 31 | (uint64_t)random()) % spread);
  heap_push((struct held){.release_ns = now + (uint64_t)(delay > 0 ? delay : 0), .received_ns = now, .id = id});
  return 0;
}

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: link-delay QUEUE MEAN_MS JITTER_MS\n");
    return 2;
  }
  unsigned queue_number = (unsigned)strtoul(argv[1], NULL, 10);
  mean_ns = strtoull(argv[2], NULL, 10) * 1000000u;
  jitter_ns = strtoull(argv[3], NULL, 10) * 1000000u;
  srandom((unsigned)now_ns());

  struct nfq_handle *handle = nfq_open();
  if (handle == NULL) {
    perror("link-delay: nfq_open");
    return 1;
  }
  struct nfq_q_handle *queue = nfq_create_queue(handle, queue_number, on_packet, NULL);
  if (queue == NULL) {
    perror("link-delay: nfq_create_queue");
    return 1;
  }
  /* A burst must not overflow the socket before the loop reads it. */
  nfnl_rcvbufsiz(nfq_nfnlh(handle), 4 << 20);
  /* Only the packet id is needed: copy no payload. */
  if (nfq_set_mode(queue, NFQNL_COPY_META, 0) < 0 || nfq_set_queue_maxlen(queue, MAX_HELD) < 0) {
    perror("link-delay: configuring the queue");
    return 1;
  }
  struct sigaction action = {.sa_handler = on_signal};
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
  int fd = nfq_fd(handle);
  /* The caller waits for this line before it queues packets. */
  printf("{\"ready\":true}\n");
  fflush(stdout);

  char buffer[4096] __attribute__((aligned));
  while (!stopping) {
    struct timespec wait = {0, 0}, *timeout = NULL;
    if (held_count > 0) {
      uint64_t now = now_ns(), left = heap[0].release_ns > now ? heap[0].release_ns - now : 0;
      wait = (struct timespec){.tv_sec = (time_t)(left / 1000000000u), .tv_nsec = (long)(left % 1000000000u)};
      timeout = &wait;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int ready = ppoll(&pfd, 1, timeout, NULL);
    if (ready < 0 && errno != EINTR) {
      perror("link-delay: poll");
      break;
    }
    if (ready > 0) {
      ssize_t got = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (got > 0) nfq_handle_packet(handle, buffer, (int)got);
      else if (got < 0 && errno == ENOBUFS) stats.overflow++;
    }
    uint64_t now = now_ns();
    while (held_count > 0 && heap[0].release_ns <= now) release(queue, heap_pop());
  }
  while (held_count > 0) release(queue, heap_pop());
  uint64_t seen = 0, p99_bucket = 0;
  for (; p99_bucket < BUCKETS; p99_bucket++) {
    seen += stats.buckets[p99_bucket];
    if (seen * 100 >= stats.packets * 99) break;
  }
  printf("{\"packets\":%llu,\"overflow\":%llu,\"meanDelayMs\":%.2f,\"p99DelayMs\":%.1f,\"maxDelayMs\":%.2f}\n",
         (unsigned long long)stats.packets, (unsigned long long)stats.overflow,
         stats.packets ? (double)stats.total_delay_ns / (double)stats.packets / 1e6 : 0.0, (double)(p99_bucket + 1) / 10.0,
         (double)stats.max_delay_ns / 1e6);
  nfq_destroy_queue(queue);
  nfq_close(handle);
  return 0;
}
