/* SIGBUS on a shrinking mapped file: see mapguard.h. The handler is
 * installed once, process-wide, and passes every fault outside a guarded
 * mapping to the handler that was there before (or to the default action). */
#include "heap/mapguard.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SLOTS 16

static struct {
  atomic_uintptr_t base; /* 0: free */
  atomic_size_t len;
  atomic_int hit;
} slots[SLOTS];

static struct sigaction previous;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *info, void *uctx) {
  uintptr_t a = (uintptr_t)info->si_addr;
  for (int i = 0; i < SLOTS; i++) {
    uintptr_t b = atomic_load(&slots[i].base);
    size_t n = atomic_load(&slots[i].len);
    if (!b || a < b || a >= b + n) continue;
    /* zeros from the faulting page to the end of the mapping; mmap is a
     * plain system call here, safe in a handler in practice */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t from = a & ~(page - 1);
    if (mmap((void *)from, b + n - from, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
             0) != MAP_FAILED) {
      atomic_store(&slots[i].hit, 1);
      return; /* the read is retried and sees zeros */
    }
    break;
  }
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction) previous.sa_sigaction(sig, info, uctx);
    return;
  }
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
    return;
  }
  /* the default action: returning re-runs the faulting access */
  signal(SIGBUS, SIG_DFL);
}

static void install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &previous);
}

int mapguard_begin(const void *base, size_t len) {
  pthread_once(&once, install);
  for (int i = 0; i < SLOTS; i++) {
    uintptr_t expected = 0;
    if (atomic_compare_exchange_strong(&slots[i].base, &expected, (uintptr_t)1)) {
      atomic_store(&slots[i].hit, 0);
      atomic_store(&slots[i].len, len);
      atomic_store(&slots[i].base, (uintptr_t)base);
      return i;
    }
  }
  return -1;
}

int mapguard_end(int slot) {
  if (slot < 0 || slot >= SLOTS) return 0;
  int hit = atomic_load(&slots[slot].hit);
  atomic_store(&slots[slot].base, 0);
  return hit;
}
