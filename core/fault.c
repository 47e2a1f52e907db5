/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SIGBUS handler and its zone table (core/fault.h). Everything the handler touches is
 * async-signal-safe: atomic loads of the table, mmap(2), write(2), sigaction(2).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/fault.h"

struct zone {
	uintptr_t start; /* 0: free slot; written last on add (release), first on del */
	uintptr_t end;
	size_t page;
	uint32_t *hit;
};

static struct zone zones[KELP_FAULT_MAX_ZONES];
static uint32_t zones_used; /* slots [0, zones_used) may be in use: the handler scans only those */
static uint64_t faults;
/* writers only (the handler never takes it): zones may be added and removed from any thread */
static pthread_mutex_t zones_lock = PTHREAD_MUTEX_INITIALIZER;

static void say(const char *msg)
{
	(void)!write(STDERR_FILENO, msg, strlen(msg));
}

/* "0x" and 16 hex digits of @v into @out (19 bytes with the NUL), without stdio. */
static void hex(uintptr_t v, char *out)
{
	static const char digits[] = "0123456789abcdef";
	out[0] = '0';
	out[1] = 'x';
	for (int i = 0; i < 16; i++)
		out[2 + i] = digits[(v >> (60 - 4 * i)) & 0xf];
	out[18] = '\0';
}

static void die_with(int sig, uintptr_t addr, const char *why)
{
	char a[19];
	hex(addr, a);
	say("kelpd: SIGBUS at ");
	say(a);
	say(why);
	/* default action from here: returning re-runs the access, which faults again and kills */
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	int saved_errno = errno;
	uintptr_t addr = (uintptr_t)si->si_addr;
	uint32_t n = __atomic_load_n(&zones_used, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n; i++) {
		uintptr_t start = __atomic_load_n(&zones[i].start, __ATOMIC_ACQUIRE);
		if (start == 0 || addr < start || addr >= zones[i].end)
			continue;
		/* raise the word first: whoever reads the replacement page must find it set */
		__atomic_store_n(zones[i].hit, KELP_FAULT_HIT, __ATOMIC_RELEASE);
		__atomic_fetch_add(&faults, 1, __ATOMIC_RELAXED);
		uintptr_t page = addr & ~(uintptr_t)(zones[i].page - 1);
		void *p = mmap((void *)page, zones[i].page, PROT_READ | PROT_WRITE,
			       MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			die_with(sig, addr,
				 " in a guarded mapping, and its page cannot be replaced\n");
		errno = saved_errno;
		return;
	}
	die_with(sig, addr, " outside every guarded mapping: a bug, exiting\n");
	errno = saved_errno;
}

int kelp_fault_install(void)
{
	struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_RESTART};
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL) == 0 ? 0 : -errno;
}

int kelp_fault_zone_add(const void *start, size_t len, size_t page_size, uint32_t *hit)
{
	if (!start || !len || !hit || page_size == 0 || (page_size & (page_size - 1)) != 0)
		return -EINVAL;
	pthread_mutex_lock(&zones_lock);
	for (uint32_t i = 0; i < KELP_FAULT_MAX_ZONES; i++) {
		if (zones[i].start != 0)
			continue;
		zones[i].end = (uintptr_t)start + len;
		zones[i].page = page_size;
		zones[i].hit = hit;
		/* release: a handler that sees start also sees end, page and hit */
		__atomic_store_n(&zones[i].start, (uintptr_t)start, __ATOMIC_RELEASE);
		if (i >= zones_used)
			__atomic_store_n(&zones_used, i + 1, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&zones_lock);
		return 0;
	}
	pthread_mutex_unlock(&zones_lock);
	return -ENOSPC;
}

void kelp_fault_zone_del(const void *start)
{
	pthread_mutex_lock(&zones_lock);
	uint32_t n = zones_used;
	for (uint32_t i = 0; i < n; i++) {
		if (zones[i].start == (uintptr_t)start) {
			__atomic_store_n(&zones[i].start, 0, __ATOMIC_RELEASE);
			break;
		}
	}
	/* shrink the scanned range past trailing free slots */
	while (n > 0 && zones[n - 1].start == 0)
		n--;
	__atomic_store_n(&zones_used, n, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&zones_lock);
}

uint64_t kelp_fault_count(void)
{
	return __atomic_load_n(&faults, __ATOMIC_RELAXED);
}
