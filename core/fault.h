/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Surviving SIGBUS in mappings of files kelpd does not control.
 *
 * kelpd maps files that others can change under it: the exported volumes' .dat files (weed
 * truncates a .dat when it repairs a torn write; an operator may truncate one by hand) and the
 * session segments (a client can punch a hole into its memfd; with huge pages the refault can then
 * find no free page). A load or store there past the end of the file, or into a page that cannot be
 * allocated, raises SIGBUS, which would kill kelpd and every session with it.
 *
 * Each such mapping is registered as a zone: its address range, its page size and a word to raise.
 * kelp_fault_install() sets a SIGBUS handler that, for a fault inside a zone,
 *   1. sets the zone's word to 1 (KELP_FAULT_HIT), then
 *   2. maps anonymous zero-filled memory over the faulting page (MAP_FIXED; a huge page for a
 *      huge-page zone), and returns: the faulting instruction runs again and completes on that
 * page. The thread that faulted carries on; so does any other thread that touches the page later.
 * Neither may trust what it read there: every reader of a zone checks the zone's word AFTER its
 * accesses (kelp_fault_hit(), one load) and treats a set word as "everything read from this mapping
 * since it was set is garbage" (-EIO), and the owner replaces the mapping (volumes: reopened by the
 * next refresh; sessions: closed). The word is raised before the page is replaced, so a thread that
 * read the zero page sees it set (the handler's mmap is a full barrier on its side; readers load
 * the word with acquire after their copy). A SIGBUS outside every zone is a bug: the handler says
 * so on stderr and re-raises it (default action: the process dies, as before, but with a line in
 * the log).
 *
 * Ownership: zones are added and removed under a mutex (any thread; in kelpd the control thread);
 * the handler reads them from any thread without locks. A zone must be removed
 * before its mapping is unmapped, and only once no thread can touch the mapping any more (for
 * volumes: after the epoch; for sessions: after the lcore released it).
 *
 * The zone table is process-global by necessity (a signal handler has no other way to find it):
 * KELP_FAULT_MAX_ZONES fixed slots, no allocation, so the handler never races a resize.
 */
#ifndef KELP_CORE_FAULT_H
#define KELP_CORE_FAULT_H

#include <stddef.h>
#include <stdint.h>

#define KELP_FAULT_MAX_ZONES 65536u /* volumes (incl. retired versions) + sessions */
#define KELP_FAULT_HIT	     1u

/*
 * kelp_fault_install - install the SIGBUS handler, process-wide (it runs on the faulting thread's
 * stack and needs a few hundred bytes of it). Idempotent. kelpd's main, before any thread starts.
 * Return: 0 or -errno from sigaction.
 */
int kelp_fault_install(void);

/*
 * kelp_fault_zone_add - guard [@start, @start + @len) mapped with pages of @page_size bytes
 * (4096 or the huge page size): a fault there raises *@hit and is survived. Any thread.
 * Return: 0; -EINVAL bad arguments; -ENOSPC when KELP_FAULT_MAX_ZONES zones exist.
 */
int kelp_fault_zone_add(const void *start, size_t len, size_t page_size, uint32_t *hit);

/* kelp_fault_zone_del - stop guarding the zone that starts at @start (no-op when there is none).
 * Any thread, before the mapping is unmapped. */
void kelp_fault_zone_del(const void *start);

/* kelp_fault_hit - has a fault replaced a page of the zone whose word is @hit? Any thread, after
 * its accesses to the zone. */
static inline int kelp_fault_hit(const uint32_t *hit)
{
	return __builtin_expect(__atomic_load_n(hit, __ATOMIC_ACQUIRE) != 0, 0);
}

/* kelp_fault_count - SIGBUS faults survived since start (for kelpctl stats). Any thread. */
uint64_t kelp_fault_count(void);

#endif
