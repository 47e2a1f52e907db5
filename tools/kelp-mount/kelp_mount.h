/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-mount: the filer's tree, read-only, through libfuse3's low-level API and libkelp's path
 * calls (shm/kelp.h). main.c reads the options and the config, mounts and runs the loop; fs.c holds
 * the file system: the inode table (a kernel node id is a pointer to a struct mount_node, one per
 * filer path the kernel knows) and the operations.
 *
 * Threads: libfuse's multi-threaded loop calls the operations on its worker threads; each worker
 * thread has its own kelp session (a session is used by one thread at a time), taken on its first
 * request from a pool opened before mounting and given back when the thread ends. The inode table
 * is shared under one mutex.
 */
#ifndef KELP_TOOLS_MOUNT_H
#define KELP_TOOLS_MOUNT_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stdint.h>

struct mount_opts {
	const char *config; /* kelp.conf, NULL: libkelp's default socket, built-in defaults */
	char *root;   /* the filer directory mounted ([filer] path), no trailing '/' but "/" */
	double ttl_s; /* kernel entry/attribute timeout ([filer] metadata_ttl_ms) */
};

/*
 * mount_fs_init - set up the inode table (root = @o->root) and the per-thread session key. Call
 * once before the loop; @o must outlive the loop. Return: 0, -errno.
 */
int mount_fs_init(const struct mount_opts *o);

/*
 * mount_fs_open_sessions - open @n kelp sessions now, for the worker threads to take on their first
 * request (a thread that ends gives its session back for the next one). Main thread, after
 * mount_fs_init, before the loop. Return: 0 (also when only some could be opened: the others are
 * opened on first use), -errno when not even one could.
 */
int mount_fs_open_sessions(unsigned n);

/* mount_fs_fini - free the table, close every session. Main thread, after the loop ended (the
 * worker threads are gone). */
void mount_fs_fini(void);

/* The operations (fs.c): every one libfuse may call; writes answer EROFS. */
extern const struct fuse_lowlevel_ops mount_ops;

/*
 * mount_errno - the errno a POSIX program gets for a libkelp error @kelp_err (< 0): ENOENT,
 * ENOTDIR, EISDIR, ENAMETOOLONG, EACCES, ENOMEM pass through; everything that means "the data
 * could not be had" (timeouts, unreachable filer, kelpd gone, bad chunk) is EIO. Any thread.
 */
int mount_errno(int kelp_err);

#endif
