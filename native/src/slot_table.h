/* Numbered objects for JavaScript: the TCP relays (tcp_relay.c) and the session sockets (tcp_conn.c). */
#ifndef HASOCKS_SLOT_TABLE_H
#define HASOCKS_SLOT_TABLE_H
#include <stdint.h>
#include <stdlib.h>

/*
 * JavaScript names an object by a number, not by an N-API object: at
 * thousands of sessions a second, a wrapper, reference and finalizer per
 * object cost more than the object's whole set-up.
 *
 * A number holds the slot's index in the low 20 bits, and above them the
 * slot's generation, which changes when a slot is reused, so a stale number
 * finds nothing instead of someone else's object. Free slots are chained
 * through next_free.
 */
#define SLOT_INDEX_BITS 20
#define SLOT_MAX (1u << SLOT_INDEX_BITS)
#define SLOT_NONE UINT32_MAX

typedef struct {
  void *item; /* NULL when free */
  uint32_t generation;
  uint32_t next_free;
} slot;

typedef struct {
  slot *slots;
  uint32_t count, capacity;
  uint32_t first_free; /* SLOT_NONE when none */
} slot_table;

#define SLOT_TABLE_INIT {NULL, 0, 0, SLOT_NONE}

static inline uint32_t slot_index(double id) { return (uint32_t)((uint64_t)id & (SLOT_MAX - 1)); }

/* A slot for `item`; its number goes to *id. -1 if none can be had. */
static inline int slot_take(slot_table *t, void *item, double *id) {
  uint32_t index = t->first_free;
  if (index != SLOT_NONE) {
    t->first_free = t->slots[index].next_free;
  } else {
    if (t->count == t->capacity) {
      uint32_t capacity = t->capacity ? t->capacity * 2 : 1024;
      slot *grown = capacity <= SLOT_MAX ? realloc(t->slots, capacity * sizeof *t->slots) : NULL;
      if (!grown) return -1;
      t->slots = grown;
      t->capacity = capacity;
    }
    index = t->count++;
    t->slots[index].generation = 0;
  }
  t->slots[index].item = item;
  *id = (double)t->slots[index].generation * SLOT_MAX + index;
  return 0;
}

static inline void slot_give_back(slot_table *t, double id) {
  uint32_t index = slot_index(id);
  slot *s = &t->slots[index];
  s->item = NULL;
  s->generation++;
  s->next_free = t->first_free;
  t->first_free = index;
}

/* The item numbered `id`, or NULL. */
static inline void *slot_find(const slot_table *t, double id) {
  if (!(id >= 0 && id < 9007199254740992.0)) return NULL; /* not a number we gave: negative, NaN or past 2^53 */
  uint32_t index = slot_index(id);
  if (index >= t->count || !t->slots[index].item) return NULL;
  return (double)t->slots[index].generation * SLOT_MAX + index == id ? t->slots[index].item : NULL;
}

#endif
