/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Intrusive bookkeeping used across kelp, written once:
 *   kelp_container_of()  the object that embeds @ptr as its @member (an io_uring op, a wait entry)
 *   KELP_FIFO_PUSH/POP   a singly-linked FIFO kept as a (head, tail) pair of pointers, linked
 *                        through the elements' ->next: O(1) append and take-first, no allocation.
 * The caller owns the list (whatever thread that is); nothing here is atomic.
 */
#ifndef KELP_CORE_LIST_H
#define KELP_CORE_LIST_H

#include <stddef.h>

/* The @type that contains the member @member at address @ptr (checked: @ptr must point to the
 * member's type). */
#define kelp_container_of(ptr, type, member)                                                       \
	({                                                                                         \
		const __typeof__(((type *)0)->member) *kelp_mptr_ = (ptr);                         \
		(type *)((char *)kelp_mptr_ - offsetof(type, member));                             \
	})

/* Append @node to the FIFO @head/@tail (lvalues; empty when @head is NULL). */
#define KELP_FIFO_PUSH(head, tail, node)                                                           \
	do {                                                                                       \
		__typeof__(node) kelp_node_ = (node);                                              \
		kelp_node_->next = NULL;                                                           \
		if (tail)                                                                          \
			(tail)->next = kelp_node_;                                                 \
		else                                                                               \
			(head) = kelp_node_;                                                       \
		(tail) = kelp_node_;                                                               \
	} while (0)

/* Take the first element of the FIFO @head/@tail; NULL when it is empty. */
#define KELP_FIFO_POP(head, tail)                                                                  \
	({                                                                                         \
		__typeof__(head) kelp_first_ = (head);                                             \
		if (kelp_first_) {                                                                 \
			(head) = kelp_first_->next;                                                \
			if (!(head))                                                               \
				(tail) = NULL;                                                     \
		}                                                                                  \
		kelp_first_;                                                                       \
	})

#endif
