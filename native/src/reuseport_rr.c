/*
 * Round-robin for a SO_REUSEPORT group: each new connection goes to the next
 * listener of the group, not to the one a hash of its addresses picks.
 *
 * With `workers`, every worker has its own listener in the group. The
 * kernel's hash gives each connection to a worker by a coin toss, so 64
 * connections landed 39/25, 38/26, 28/36 and 34/30 on two workers here; each
 * worker gets about one core, so a stream on the fuller worker ran at 25/39
 * of the speed of one on the other. That split, not the relay, set the
 * bench's 64-stream fairness (0.58-0.78).
 *
 * The supervisor opens every listener, so it can set this up once, before
 * any worker starts: a REUSEPORT_SOCKARRAY map holding the group's sockets
 * in worker order, a one-slot counter, and a small SK_REUSEPORT program
 * attached to the group that picks listener (counter++ % n). The counter is
 * bumped without a lock-free fetch (that needs Linux 5.12), so two SYNs on two
 * CPUs at once may pick the same listener: near round-robin, never unfair.
 * If the program cannot pick (a socket not in the map), the kernel falls
 * back to its hash.
 *
 * Linux 4.19 or later, and CAP_BPF or root (the supervisor sets it up before
 * it drops privileges). Elsewhere the call fails and hasocks keeps the
 * kernel's hash.
 */
#include "reuseport_rr.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#if defined(__linux__)
#include <linux/bpf.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#ifndef SO_ATTACH_REUSEPORT_EBPF
#define SO_ATTACH_REUSEPORT_EBPF 52
#endif

static int bpf(int command, union bpf_attr *attr) { return (int)syscall(__NR_bpf, command, attr, sizeof *attr); }

static int create_map(enum bpf_map_type type, unsigned value_size, unsigned entries) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_type = type;
  attr.key_size = sizeof(__u32);
  attr.value_size = value_size;
  attr.max_entries = entries;
  return bpf(BPF_MAP_CREATE, &attr);
}

static int update_map(int map, __u32 key, const void *value) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_fd = (__u32)map;
  attr.key = (__u64)(unsigned long)&key;
  attr.value = (__u64)(unsigned long)value;
  attr.flags = BPF_ANY;
  return bpf(BPF_MAP_UPDATE_ELEM, &attr);
}

/* The few instruction shapes the program needs (the kernel's own macros live in a header userspace lacks). */
static struct bpf_insn insn(__u8 code, __u8 dst, __u8 src, __s16 off, __s32 imm) {
  struct bpf_insn i = {.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
  return i;
}
#define MOV_REG(dst, src) insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)
#define MOV_IMM(dst, imm) insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
#define ADD_IMM(dst, imm) insn(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm)
#define MOD_IMM(dst, imm) insn(BPF_ALU64 | BPF_MOD | BPF_K, dst, 0, 0, imm)
#define STORE_IMM32(base, off, imm) insn(BPF_ST | BPF_MEM | BPF_W, base, 0, off, imm)
#define STORE_REG32(base, off, src) insn(BPF_STX | BPF_MEM | BPF_W, base, src, off, 0)
#define LOAD_REG32(dst, base, off) insn(BPF_LDX | BPF_MEM | BPF_W, dst, base, off, 0)
#define ATOMIC_ADD32(base, src) insn(BPF_STX | BPF_ATOMIC | BPF_W, base, src, 0, BPF_ADD)
#define MAP_FD_LOW(dst, fd) insn(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd)
#define MAP_FD_HIGH() insn(0, 0, 0, 0, 0)
#define JUMP_IF_ZERO(reg, off) insn(BPF_JMP | BPF_JEQ | BPF_K, reg, 0, off, 0)
#define CALL(helper) insn(BPF_JMP | BPF_CALL, 0, 0, 0, helper)
#define EXIT() insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

int reuseport_round_robin(const int *fds, int count, const char **failed_call) {
  int counter = -1, sockets = -1, program = -1, err = 0;
  *failed_call = "bpf(BPF_MAP_CREATE)";
  counter = create_map(BPF_MAP_TYPE_ARRAY, sizeof(__u32), 1);
  if (counter < 0) goto fail;
  sockets = create_map(BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, sizeof(__u64), (unsigned)count);
  if (sockets < 0) goto fail;
  *failed_call = "bpf(BPF_MAP_UPDATE_ELEM)";
  for (int i = 0; i < count; i++) {
    __u64 fd = (__u64)fds[i];
    if (update_map(sockets, (__u32)i, &fd) != 0) goto fail;
  }

  /* r6 = ctx; r7 = counter[0]++ % count; sk_select_reuseport(ctx, sockets, &r7, 0); return SK_PASS */
  struct bpf_insn code[] = {
      MOV_REG(BPF_REG_6, BPF_REG_1),
      STORE_IMM32(BPF_REG_10, -4, 0),
      MAP_FD_LOW(BPF_REG_1, counter),
      MAP_FD_HIGH(),
      MOV_REG(BPF_REG_2, BPF_REG_10),
      ADD_IMM(BPF_REG_2, -4),
      CALL(BPF_FUNC_map_lookup_elem),
      JUMP_IF_ZERO(BPF_REG_0, 12), /* no counter: let the kernel's hash choose */
      LOAD_REG32(BPF_REG_7, BPF_REG_0, 0),
      MOV_IMM(BPF_REG_8, 1),
      ATOMIC_ADD32(BPF_REG_0, BPF_REG_8),
      MOD_IMM(BPF_REG_7, count),
      STORE_REG32(BPF_REG_10, -8, BPF_REG_7),
      MOV_REG(BPF_REG_1, BPF_REG_6),
      MAP_FD_LOW(BPF_REG_2, sockets),
      MAP_FD_HIGH(),
      MOV_REG(BPF_REG_3, BPF_REG_10),
      ADD_IMM(BPF_REG_3, -8),
      MOV_IMM(BPF_REG_4, 0),
      CALL(BPF_FUNC_sk_select_reuseport),
      MOV_IMM(BPF_REG_0, SK_PASS),
      EXIT(),
  };
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_SK_REUSEPORT;
  attr.insns = (__u64)(unsigned long)code;
  attr.insn_cnt = sizeof code / sizeof code[0];
  attr.license = (__u64)(unsigned long)"MIT";
  *failed_call = "bpf(BPF_PROG_LOAD)";
  program = bpf(BPF_PROG_LOAD, &attr);
  if (program < 0) goto fail;
  *failed_call = "setsockopt(SO_ATTACH_REUSEPORT_EBPF)";
  if (setsockopt(fds[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &program, sizeof program) != 0) goto fail;
  /* The group holds the program, and the program its maps: these fds can go. */
  close(program);
  close(sockets);
  close(counter);
  return 0;

fail:
  err = errno;
  if (program >= 0) close(program);
  if (sockets >= 0) close(sockets);
  if (counter >= 0) close(counter);
  errno = err;
  return -1;
}

#else

int reuseport_round_robin(const int *fds, int count, const char **failed_call) {
  (void)fds;
  (void)count;
  *failed_call = "reuseport round-robin (Linux only)";
  errno = ENOSYS;
  return -1;
}

#endif
