/* SPDX-License-Identifier: Apache-2.0 */
/*
 * _kelp.c - the CPython binding of libkelp (package kelp; python/kelp/__init__.py is the public
 * face). A C extension rather than ctypes/cffi because the per-read cost decides: read_many()
 * queues, submits and collects completions here in C, one Python call per needle, and releases the
 * GIL only while it actually waits (kelp_wait).
 *
 * Threads: a Session may be used from any thread, but not from two at once (libkelp's rule); a
 * `busy` flag, checked with the GIL held, turns a concurrent use into RuntimeError.
 * Fork: a Session remembers its creator's pid. In a forked child it reconnects on its next use
 * with the same options; the parent's session is left mapped and untouched (not kelp_close()d:
 * that is the parent's to do), so the child never touches the parent's rings.
 * Lifetime of the arena: a Mapping object owns the kelp_session; the Session and every memoryview
 * lent by read_many(copy=False) (through a Lender, the views' exporter) hold a reference to it.
 * Session.close() drops the Session's reference, so kelp_close() (which unmaps the arena) runs
 * only once the last lent view is released: a view outliving its session reads stale bytes, it
 * never faults.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "kelp.h"

#define WAIT_SLICE_MS	 200 /* kelp_wait timeout between checks for Ctrl-C */
#define CQE_BATCH	 64
#define MIN_SLOT	 4096u
#define MAX_DEFAULT_SLOT (1u << 20)

static PyObject *CorruptNeedle;
static PyTypeObject StatType;
static PyStructSequence_Field stat_fields[] = {
	{"size", "the needle's data size as stored (bytes)"},
	{"crc", "its stored CRC32C"},
	{"needle_flags", "SeaweedFS needle flags byte (0x01 gzip, 0x02 name, ...)"},
	{"flags", "completion flags: KELP_CQE_PATH_* | KELP_CQE_F_*"},
	{"gzip", "True when the data is stored gzip-compressed"},
	{"path", "which path served it: 'local', 'rdma', 'http' or 'none'"},
	{NULL, NULL}};
static PyStructSequence_Desc stat_desc = {"kelp.Stat", "What Session.stat() learns about a needle.",
					  stat_fields, 6};

/* ---- the process id ------------------------------------------------------------------------- */

/*
 * This process's pid, for the fork checks on every call. getpid() is a system call (glibc stopped
 * caching it) and was 1 of every 6 cycles of a 4 KiB read_many: a pthread_atfork child handler
 * keeps this copy right instead (os.fork() and multiprocessing fork through libc's fork(), which
 * runs the handlers).
 */
static pid_t self_pid;

static void after_fork_child(void)
{
	self_pid = getpid();
}

/* ---- errors ---------------------------------------------------------------------------------- */

/* The exception class for -errno @err: built-in classes where Python has one that fits. */
static PyObject *error_class(int err)
{
	switch (err) {
	case ENOENT:
		return PyExc_FileNotFoundError;
	case ECONNRESET:
		return PyExc_ConnectionResetError;
	case ECONNREFUSED:
		return PyExc_ConnectionRefusedError;
	case EPROTO:
	case EFAULT: /* kelpd closed the session (our buffers are always in the arena) */
		return PyExc_ConnectionAbortedError;
	case EACCES:
	case EPERM:
		return PyExc_PermissionError;
	case EIO:
		return CorruptNeedle;
	case ETIMEDOUT:
		return PyExc_TimeoutError;
	case ENOTDIR:
		return PyExc_NotADirectoryError;
	case EISDIR:
		return PyExc_IsADirectoryError;
	default:
		return PyExc_OSError;
	}
}

/* A new exception object (not raised) for -errno @rc about @what (a fid string or NULL). */
static PyObject *make_error(int rc, const char *msg, PyObject *what)
{
	int err = rc < 0 ? -rc : rc;
	if (!msg || !*msg)
		msg = kelp_strerror(err);
	if (what)
		return PyObject_CallFunction(error_class(err), "isO", err, msg, what);
	return PyObject_CallFunction(error_class(err), "is", err, msg);
}

static PyObject *raise_error(int rc, const char *msg, PyObject *what)
{
	PyObject *e = make_error(rc, msg, what);
	if (e) {
		PyErr_SetObject((PyObject *)Py_TYPE(e), e);
		Py_DECREF(e);
	}
	return NULL;
}

/* The pending exception as an object (3.11 has no PyErr_GetRaisedException), cleared. */
static PyObject *fetch_exc(void)
{
	PyObject *t, *v, *tb;
	PyErr_Fetch(&t, &v, &tb);
	PyErr_NormalizeException(&t, &v, &tb);
	if (tb && v)
		PyException_SetTraceback(v, tb);
	Py_XDECREF(t);
	Py_XDECREF(tb);
	return v;
}

/* ---- fids ------------------------------------------------------------------------------------ */

/* Parse @obj (str, bytes, or a 3-tuple (volume_id, key, cookie) such as kelp.Fid) into @out.
 * Return: 0; -1 with ValueError/TypeError set. */
static int fid_from_obj(PyObject *obj, struct kelp_fid *out)
{
	const char *s;
	Py_ssize_t n;
	if (PyUnicode_Check(obj)) {
		s = PyUnicode_AsUTF8AndSize(obj, &n);
		if (!s)
			return -1;
	} else if (PyBytes_Check(obj)) {
		s = PyBytes_AS_STRING(obj);
		n = PyBytes_GET_SIZE(obj);
	} else if (PyTuple_Check(obj) && PyTuple_GET_SIZE(obj) == 3) {
		unsigned long v = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(obj, 0));
		unsigned long long k = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(obj, 1));
		unsigned long c = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(obj, 2));
		if (PyErr_Occurred())
			return -1;
		if (v > UINT32_MAX || c > UINT32_MAX) {
			PyErr_SetString(PyExc_ValueError, "fid volume_id and cookie are 32-bit");
			return -1;
		}
		out->volume_id = (uint32_t)v;
		out->key = k;
		out->cookie = (uint32_t)c;
		return 0;
	} else {
		PyErr_Format(PyExc_TypeError,
			     "a fid is a str like '3,01637037d6' or a kelp.Fid, not %.100s",
			     Py_TYPE(obj)->tp_name);
		return -1;
	}
	if (kelp_fid_parse(s, (size_t)n, out) < 0) {
		PyErr_Format(PyExc_ValueError, "not a SeaweedFS file id: %R", obj);
		return -1;
	}
	return 0;
}

static PyObject *py_fid_parse(PyObject *mod, PyObject *arg)
{
	struct kelp_fid f;
	if (fid_from_obj(arg, &f) < 0)
		return NULL;
	return Py_BuildValue("(kKk)", (unsigned long)f.volume_id, (unsigned long long)f.key,
			     (unsigned long)f.cookie);
}

static PyObject *py_fid_format(PyObject *mod, PyObject *args)
{
	unsigned long v, c;
	unsigned long long k;
	char buf[KELP_FID_STR_MAX];
	if (!PyArg_ParseTuple(args, "kKk", &v, &k, &c))
		return NULL;
	struct kelp_fid f = {.volume_id = (uint32_t)v, .key = k, .cookie = (uint32_t)c};
	int n = kelp_fid_format(&f, buf, sizeof(buf));
	if (n < 0)
		return raise_error(n, NULL, NULL);
	return PyUnicode_FromStringAndSize(buf, n);
}

static PyObject *py_strerror(PyObject *mod, PyObject *arg)
{
	int e = PyLong_AsLong(arg);
	if (e == -1 && PyErr_Occurred())
		return NULL;
	return PyUnicode_FromString(kelp_strerror(e));
}

static PyObject *py_gunzip(PyObject *mod, PyObject *arg)
{
	Py_buffer in;
	if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) < 0)
		return NULL;
	size_t cap = kelp_gunzip_size(in.buf, (size_t)in.len);
	PyObject *out = NULL;
	for (int tries = 0; tries < 8; tries++) {
		if (cap < 64)
			cap = 64;
		out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)cap);
		if (!out)
			break;
		size_t got = 0;
		int rc;
		Py_BEGIN_ALLOW_THREADS rc =
			kelp_gunzip(in.buf, (size_t)in.len, PyBytes_AS_STRING(out), cap, &got);
		Py_END_ALLOW_THREADS if (rc == 0)
		{
			_PyBytes_Resize(&out, (Py_ssize_t)got);
			break;
		}
		Py_CLEAR(out);
		if (rc != -ENOSPC) {
			raise_error(rc, rc == -EINVAL ? "not valid gzip data" : NULL, NULL);
			break;
		}
		cap *= 4; /* ISIZE is only a hint (modulo 2^32) */
	}
	if (!out && !PyErr_Occurred())
		PyErr_SetString(PyExc_ValueError, "gzip data inflates beyond the size tried");
	PyBuffer_Release(&in);
	return out;
}

/* ---- the mapping and the views' exporter ----------------------------------------------------- */

/*
 * Owner of one kelp_session, and so of its mapped arena: kelp_close() runs when the last reference
 * goes (the Session's, or a lent memoryview's through its Lender). In a forked child the session
 * is the parent's: it is left alone (never closed nor unmapped there).
 */
typedef struct {
	PyObject_HEAD struct kelp_session *s;
	pid_t pid; /* the process that connected s */
} Mapping;

static void Mapping_dealloc(Mapping *m)
{
	if (m->s && m->pid == self_pid)
		kelp_close(m->s); /* kelpd discards what is still in flight */
	Py_TYPE(m)->tp_free((PyObject *)m);
}

static PyTypeObject MappingType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kelp._kelp.Mapping",
	.tp_basicsize = sizeof(Mapping),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Internal: owns a kelp session and its arena mapping.",
	.tp_dealloc = (destructor)Mapping_dealloc,
};

/*
 * The buffer exporter of read_many(copy=False) views: one per iterator, re-aimed at each item's
 * slot (a memoryview copies pointer and length when it is made, so earlier views keep theirs).
 * Each view holds the Lender, the Lender holds the Mapping: the arena stays mapped while any view
 * lives. Costs the same per item as PyMemoryView_FromMemory (one managed buffer, one view).
 */
typedef struct {
	PyObject_HEAD Mapping *map;
	char *ptr;
	Py_ssize_t len;
} Lender;

static int Lender_getbuffer(Lender *l, Py_buffer *view, int flags)
{
	return PyBuffer_FillInfo(view, (PyObject *)l, l->ptr, l->len, 1, flags); /* read-only */
}

static void Lender_dealloc(Lender *l)
{
	Py_XDECREF(l->map);
	Py_TYPE(l)->tp_free((PyObject *)l);
}

static PyBufferProcs Lender_as_buffer = {.bf_getbuffer = (getbufferproc)Lender_getbuffer};

static PyTypeObject LenderType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kelp._kelp.Lender",
	.tp_basicsize = sizeof(Lender),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Internal: exporter of read_many(copy=False) memoryviews into the arena.",
	.tp_dealloc = (destructor)Lender_dealloc,
	.tp_as_buffer = &Lender_as_buffer,
};

/* ---- recycled bytes objects ------------------------------------------------------------------ */

/*
 * Results handed out as bytes, kept (one reference) so that their memory can serve a later read:
 * once the caller has dropped one, our reference is the only one left, no code can see the object
 * any more, and filling it again is the same as filling a fresh one. This saves the malloc/free
 * of every copy, and for large needles much more: glibc gives a 1 MiB block back to the kernel on
 * free (heap trim or munmap), so every fresh 1 MiB bytes object page-faulted in 256 zeroed pages
 * (half of the client's time at 1 MiB). A FIFO: the oldest result is looked at first; one still
 * held by the caller (stored in a list, say) is simply forgotten. Holds at most cap objects of at
 * most max_size bytes. Callers: with the GIL held.
 */
#define SPARES_MAX	34	     /* read_many's depth 32 + the item the caller holds + 1 */
#define SPARES_BYTES	(8u << 20)   /* bytes a read_many iterator may keep for recycling */
#define GIL_FREE_MEMCPY (256u << 10) /* copies this large run with the GIL released */

struct spares {
	PyObject *obj[SPARES_MAX];
	unsigned head, count, cap;
	Py_ssize_t max_size;
};

static void spares_init(struct spares *sp, unsigned cap, Py_ssize_t max_size)
{
	memset(sp, 0, sizeof(*sp));
	sp->cap = cap > SPARES_MAX ? SPARES_MAX : cap;
	sp->max_size = max_size;
}

/* Keep a reference to @b, a result just handed to the caller (evicts the oldest when full). */
static void spares_push(struct spares *sp, PyObject *b)
{
#ifndef Py_GIL_DISABLED /* the refcount test below needs the GIL */
	if (!sp->cap || !PyBytes_CheckExact(b) || PyBytes_GET_SIZE(b) > sp->max_size ||
	    PyBytes_GET_SIZE(b) < 2 /* never the shared empty or 1-byte objects */)
		return;
	if (sp->count == sp->cap) {
		Py_DECREF(sp->obj[sp->head]);
		sp->head = (sp->head + 1) % sp->cap;
		sp->count--;
	}
	sp->obj[(sp->head + sp->count) % sp->cap] = Py_NewRef(b);
	sp->count++;
#endif
}

/* A bytes object of exactly @size bytes nobody else references (new reference), or NULL. */
static PyObject *spares_take(struct spares *sp, Py_ssize_t size)
{
	/* the newest result is normally still the caller's loop variable: leave it be */
	for (int tries = 0; tries < 4 && sp->count > 1; tries++) {
		PyObject *b = sp->obj[sp->head];
		sp->head = (sp->head + 1) % sp->cap;
		sp->count--;
		if (Py_REFCNT(b) == 1 && PyBytes_GET_SIZE(b) == size) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
			((PyBytesObject *)b)->ob_shash =
				-1; /* its hash, if taken, was of old bytes */
#pragma GCC diagnostic pop
			return b;
		}
		Py_DECREF(b); /* the caller keeps it, or the size differs: forget it */
	}
	return NULL;
}

static void spares_clear(struct spares *sp)
{
	while (sp->count) {
		Py_DECREF(sp->obj[sp->head]);
		sp->head = (sp->head + 1) % sp->cap;
		sp->count--;
	}
}

/* A new bytes object of @size bytes (contents undefined): a recycled one when there is one. */
static PyObject *bytes_for(struct spares *sp, Py_ssize_t size)
{
	PyObject *b = sp ? spares_take(sp, size) : NULL;
	return b ? b : PyBytes_FromStringAndSize(NULL, size);
}

/* ---- sessions -------------------------------------------------------------------------------- */

typedef struct {
	PyObject_HEAD struct kelp_session *s; /* map->s, cached; NULL when closed */
	Mapping *map;			      /* owns s (and its arena); NULL when closed */
	pid_t pid;			      /* the process that connected s */
	PyObject *config, *socket;	      /* kept for reconnecting after fork */
	unsigned queue_depth;
	int wait_spin_us; /* kelp_opts.wait_spin_us; INT32_MIN: libkelp's default */
	struct kelp_session_info info;
	char *sync_buf; /* arena buffer for read/read_into, sync_len bytes */
	uint32_t sync_len;
	struct spares sync_spares; /* read()'s recent results, for recycling */
	int busy;		   /* a call is running (maybe with the GIL released) */
	PyObject *iter;		   /* the read_many iterator with requests in flight (borrowed) */
	unsigned generation; /* bumped on every (re)connect; iterators of an older one are dead */
} Session;

static PyTypeObject SessionType;

/* Connect @self->s with its stored options. Return 0; -1 with an exception set. */
static int session_connect(Session *self)
{
	struct kelp_opts o;
	kelp_opts_init(&o);
	if (self->socket != Py_None && !(o.socket_path = PyUnicode_AsUTF8(self->socket)))
		return -1;
	if (self->config != Py_None && !(o.config_path = PyUnicode_AsUTF8(self->config)))
		return -1;
	o.queue_depth = self->queue_depth;
	if (self->wait_spin_us != INT32_MIN)
		o.wait_spin_us = self->wait_spin_us;
	struct kelp_session *s = NULL;
	int rc;
	char msg[1024];
	Mapping *map = PyObject_New(Mapping, &MappingType);
	if (!map)
		return -1;
	map->s = NULL;
	map->pid = self_pid;
	Py_BEGIN_ALLOW_THREADS rc = kelp_connect(&o, &s);
	if (rc < 0)
		snprintf(msg, sizeof(msg), "%s",
			 kelp_last_error()); /* thread-local: this thread's */
	Py_END_ALLOW_THREADS if (rc < 0)
	{
		Py_DECREF(map);
		raise_error(rc, msg, NULL);
		return -1;
	}
	map->s = s;
	Py_XSETREF(self->map, map);
	self->s = s;
	self->pid = self_pid;
	self->generation++;
	self->sync_buf = NULL;
	self->iter = NULL;
	kelp_session_info(s, &self->info);
	return 0;
}

/* Default buffer size: the whole needle for most files, bounded so depth buffers fit the arena. */
static uint32_t slot_size_for(const Session *self, unsigned nslots)
{
	uint64_t sz = self->info.arena_size / (2 * (uint64_t)nslots + 2);
	if (sz > MAX_DEFAULT_SLOT)
		sz = MAX_DEFAULT_SLOT;
	if (sz > self->info.max_io)
		sz = self->info.max_io;
	sz &= ~(uint64_t)(MIN_SLOT - 1);
	if (sz < MIN_SLOT)
		sz = MIN_SLOT;
	return (uint32_t)sz;
}

/*
 * Make @self usable by the calling thread: not closed, not in use by another thread, reconnected
 * when this is a forked child. Sets busy on success (session_leave() clears it).
 * Return: 0; -1 with an exception set.
 */
static int session_enter(Session *self, int allow_iter)
{
	if (self->busy) {
		PyErr_SetString(
			PyExc_RuntimeError,
			"kelp.Session is in use by another thread: use one session per thread "
			"(kelp.read() and friends keep one per thread for you)");
		return -1;
	}
	if (self->s && self->pid != self_pid) {
		/* Forked child: the rings are the parent's. Leave them alone and start afresh. */
		self->s = NULL;
		Py_CLEAR(self->map); /* its pid is the parent's: not closed here */
		if (session_connect(self) < 0)
			return -1;
	}
	if (!self->s) {
		PyErr_SetString(PyExc_ValueError, "kelp.Session is closed");
		return -1;
	}
	if (!allow_iter && self->iter) {
		PyErr_SetString(PyExc_RuntimeError,
				"a read_many() iterator of this session still has reads in flight: "
				"exhaust it or call its close() first");
		return -1;
	}
	self->busy = 1;
	return 0;
}

static void session_leave(Session *self)
{
	self->busy = 0;
}

/*
 * Wait for completions into @cqes: poll first (no syscall, GIL kept), then kelp_wait() with the
 * GIL released, in slices so that Ctrl-C is seen. Return: count >= 1; -errno (no exception set);
 * -EINTR with the signal's exception set.
 */
static int collect(struct kelp_session *s, struct kelp_cqe *cqes, unsigned max)
{
	int n = kelp_poll(s, cqes, max);
	while (n == 0) {
		Py_BEGIN_ALLOW_THREADS n = kelp_wait(s, cqes, max, WAIT_SLICE_MS);
		Py_END_ALLOW_THREADS if (n == -ETIMEDOUT)
		{
			if (PyErr_CheckSignals() < 0)
				return -EINTR;
			n = 0;
		}
	}
	return n;
}

/* Collect and discard every completion still owed (after an interrupted call). 0 or -errno. */
static int drain(struct kelp_session *s)
{
	struct kelp_cqe c[CQE_BATCH];
	while (kelp_inflight(s) > 0) {
		int n;
		Py_BEGIN_ALLOW_THREADS n = kelp_wait(s, c, CQE_BATCH, -1);
		Py_END_ALLOW_THREADS if (n == -ENOENT) break;
		if (n < 0)
			return n;
	}
	return 0;
}

/* ---- the read engine: items in slots, continued until whole -----------------------------------
 */

/* One needle being read into one arena slot; continued in slot-sized pieces when larger. */
struct item {
	struct kelp_fid fid;
	PyObject *name;	  /* the fid as given (for error messages), owned */
	uint64_t start;	  /* first byte wanted */
	uint64_t limit;	  /* most bytes wanted (UINT64_MAX: to the end) */
	uint64_t got;	  /* bytes copied so far */
	uint64_t want;	  /* bytes to read, known after the first completion */
	int started;	  /* the first completion arrived */
	int done;	  /* result is final */
	int in_slot;	  /* done, its got bytes still in its slot: copied when handed out */
	uint32_t flags;	  /* first completion's flags (gzip) */
	char *dst;	  /* where data goes: into out, or the caller's buffer */
	PyObject *out;	  /* bytes being filled (NULL for read_into) */
	PyObject *result; /* bytes, an int (read_into) or an exception object, once done */
};

struct engine {
	Session *sess;
	char *bufs; /* nslots * slot bytes in the arena */
	uint32_t slot;
	unsigned nslots;
	struct item *items;
	int gunzip;
	int views; /* read_many(copy=False): a needle that fits its slot is lent as a memoryview */
	int defer; /* read_many(copy=True): a needle that fits its slot is copied out when handed
		    * out, not when it completes: bytes objects are then made in hand-out order,
		    * one per item, so that the one the caller dropped two items ago is always
		    * there to be recycled (completions come in bursts of up to depth) */
	Lender *lender;	       /* the views' exporter (made on the first view), holds sess->map */
	struct spares *spares; /* where to recycle bytes results from (NULL: nowhere) */
};

static void item_clear(struct item *it)
{
	Py_CLEAR(it->name);
	Py_CLEAR(it->out);
	Py_CLEAR(it->result);
	memset(it, 0, sizeof(*it));
}

static int item_fail(struct item *it, int rc)
{
	PyObject *fidstr = it->name;
	Py_CLEAR(it->out);
	it->result = make_error(rc, NULL, fidstr);
	it->done = 1;
	return it->result ? 0 : -1;
}

/* Queue the next piece of slot @i. Return 0 or -errno from kelp_queue_read. */
static int engine_queue(struct engine *e, unsigned i)
{
	struct item *it = &e->items[i];
	uint64_t left = it->started ? it->want - it->got : it->limit;
	uint32_t len = left < e->slot ? (uint32_t)left : e->slot;
	return kelp_queue_read(e->sess->s, &it->fid, it->start + it->got,
			       e->bufs + (size_t)i * e->slot, len, i);
}

/*
 * Account completion @c of its slot. Return: 1 when the slot needs another piece queued, 0 when
 * the item is done or failed (it->result set), -1 on a Python error (memory).
 */
static int engine_complete(struct engine *e, const struct kelp_cqe *c)
{
	struct item *it = &e->items[c->user_data];
	if (c->result < 0)
		return item_fail(it, c->result);
	if (!it->started) {
		it->started = 1;
		it->flags = c->flags;
		uint64_t rest = c->size > it->start ? c->size - it->start : 0;
		it->want = rest < it->limit ? rest : it->limit;
		if (e->views && it->want <= e->slot &&
		    !(e->gunzip && (c->flags & KELP_CQE_F_GZIP))) {
			/* zero-copy: the data stays in the slot until the caller's next next() */
			uint64_t n =
				(uint64_t)c->result < it->want ? (uint64_t)c->result : it->want;
			if (!e->lender) {
				if (!(e->lender = PyObject_New(Lender, &LenderType)))
					return -1;
				e->lender->map = (Mapping *)Py_NewRef(e->sess->map);
			}
			e->lender->ptr = e->bufs + (size_t)c->user_data * e->slot;
			e->lender->len = (Py_ssize_t)n;
			it->result = PyMemoryView_FromObject((PyObject *)e->lender);
			it->done = 1;
			return it->result ? 0 : -1;
		}
		if (e->defer && !it->dst && it->want <= e->slot &&
		    !(e->gunzip && (c->flags & KELP_CQE_F_GZIP))) {
			it->got = (uint64_t)c->result < it->want ? (uint64_t)c->result : it->want;
			it->in_slot = 1;
			it->done = 1;
			return 0;
		}
		if (!it->dst) {
			it->out = bytes_for(e->spares, (Py_ssize_t)it->want);
			if (!it->out)
				return -1;
			it->dst = PyBytes_AS_STRING(it->out);
		}
	}
	uint64_t n = (uint64_t)c->result;
	if (n > it->want - it->got)
		n = it->want - it->got;
	const char *src = e->bufs + (size_t)c->user_data * e->slot;
	if (n >= GIL_FREE_MEMCPY) { /* other threads run meanwhile; nothing here is theirs */
		Py_BEGIN_ALLOW_THREADS memcpy(it->dst + it->got, src, n);
		Py_END_ALLOW_THREADS
	} else {
		memcpy(it->dst + it->got, src, n);
	}
	it->got += n;
	if (it->got < it->want && c->result > 0)
		return 1;
	/* done (a needle that shrank under us ends short) */
	if (it->out) {
		if (it->got < it->want && _PyBytes_Resize(&it->out, (Py_ssize_t)it->got) < 0)
			return -1;
		if (e->gunzip && (it->flags & KELP_CQE_F_GZIP)) {
			if (it->start != 0 || it->got != it->want || it->limit != UINT64_MAX) {
				it->result = PyObject_CallFunction(
					PyExc_ValueError, "s",
					"gunzip=True needs whole needles (offset 0, size None)");
			} else {
				it->result = py_gunzip(NULL, it->out);
				if (!it->result) /* an invalid gzip needle is a per-item error */
					it->result = fetch_exc();
			}
			Py_CLEAR(it->out);
		} else {
			it->result = it->out;
			it->out = NULL;
		}
	} else {
		it->result = PyLong_FromUnsignedLongLong(it->got);
	}
	it->done = 1;
	return it->result ? 0 : -1;
}

/* Allocate @e's slots in @sess's arena. Return 0; -1 with MemoryError/OSError set. */
static int engine_alloc(struct engine *e, Session *sess, unsigned nslots, uint32_t slot)
{
	memset(e, 0, sizeof(*e));
	e->sess = sess;
	e->nslots = nslots;
	for (;;) {
		e->bufs = kelp_buf_alloc(sess->s, (size_t)nslots * slot);
		if (e->bufs || slot <= MIN_SLOT)
			break;
		slot /= 2; /* the arena is shared with the session's other buffers: ask for less */
	}
	if (!e->bufs) {
		raise_error(-ENOMEM,
			    "the session's arena has no room for the read buffers "
			    "(kelp.conf [engine] arena_mb, or a smaller depth)",
			    NULL);
		return -1;
	}
	e->slot = slot;
	e->items = PyMem_Calloc(nslots, sizeof(*e->items));
	if (!e->items) {
		kelp_buf_free(sess->s, e->bufs);
		PyErr_NoMemory();
		return -1;
	}
	return 0;
}

static void engine_free(struct engine *e, int buffers)
{
	if (e->items)
		for (unsigned i = 0; i < e->nslots; i++)
			item_clear(&e->items[i]);
	PyMem_Free(e->items);
	e->items = NULL;
	Py_CLEAR(e->lender); /* views already lent keep it (and the arena) alive */
	if (buffers && e->bufs && e->sess->s)
		kelp_buf_free(e->sess->s, e->bufs);
	e->bufs = NULL;
}

/* The session's buffer for synchronous calls (allocated on first use). */
static int sync_buffer(Session *self)
{
	if (self->sync_buf)
		return 0;
	uint32_t len = slot_size_for(self, 1);
	while (!(self->sync_buf = kelp_buf_alloc(self->s, len)) && len > MIN_SLOT)
		len /= 2;
	if (!self->sync_buf) {
		raise_error(-ENOMEM, "the session's arena is full", NULL);
		return -1;
	}
	self->sync_len = len;
	if (!self->sync_spares.cap) /* read(): the previous result is still the caller's */
		spares_init(&self->sync_spares, 2, len);
	return 0;
}

/* Run one item to completion in the sync buffer: the result (new reference) or NULL. */
static PyObject *run_one(Session *self, struct item *it, int gunzip)
{
	struct engine e = {.sess = self,
			   .bufs = self->sync_buf,
			   .slot = self->sync_len,
			   .nslots = 1,
			   .items = it,
			   .gunzip = gunzip,
			   .spares = &self->sync_spares};
	struct kelp_cqe c;
	int rc = drain(self->s); /* owed completions of an interrupted call */
	if (rc < 0)
		return raise_error(rc, NULL, NULL);
	for (;;) {
		rc = engine_queue(&e, 0);
		if (rc == 0) {
			rc = kelp_submit(self->s);
			if (rc >= 0)
				rc = collect(self->s, &c, 1);
		}
		if (rc == -EINTR && PyErr_Occurred())
			return NULL;
		if (rc < 0)
			return raise_error(rc, NULL, it->name);
		rc = engine_complete(&e, &c);
		if (rc < 0)
			return NULL;
		if (rc == 0)
			break;
	}
	PyObject *r = it->result;
	it->result = NULL;
	if (PyExceptionInstance_Check(r)) {
		PyErr_SetObject((PyObject *)Py_TYPE(r), r);
		Py_DECREF(r);
		return NULL;
	}
	return r;
}

static PyObject *Session_read(Session *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"fid", "offset", "size", "gunzip", NULL};
	PyObject *fid, *size = Py_None;
	unsigned long long offset = 0;
	int gunzip = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|KO$p:read", kwlist, &fid, &offset, &size,
					 &gunzip))
		return NULL;
	struct item it = {0};
	if (fid_from_obj(fid, &it.fid) < 0)
		return NULL;
	it.start = offset;
	it.limit = UINT64_MAX;
	if (size != Py_None) {
		long long n = PyLong_AsLongLong(size);
		if (n == -1 && PyErr_Occurred())
			return NULL;
		if (n < 0) {
			PyErr_SetString(PyExc_ValueError, "size must be >= 0 or None");
			return NULL;
		}
		it.limit = (uint64_t)n;
	}
	if (session_enter(self, 0) < 0)
		return NULL;
	PyObject *r = NULL;
	if (sync_buffer(self) == 0) {
		it.name = Py_NewRef(fid);
		if (it.limit == 0) { /* nothing to read: still say whether the needle exists */
			struct kelp_cqe c;
			/* owed completions of an interrupted call first */
			int rc = drain(self->s);
			if (rc == 0)
				rc = kelp_stat(self->s, &it.fid, &c);
			r = rc < 0 ? raise_error(rc, NULL, fid) : PyBytes_FromStringAndSize("", 0);
		} else {
			r = run_one(self, &it, gunzip);
			if (r)
				spares_push(&self->sync_spares, r);
		}
		item_clear(&it);
	}
	session_leave(self);
	return r;
}

static PyObject *Session_read_into(Session *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"fid", "buffer", "offset", NULL};
	PyObject *fid, *bufobj;
	unsigned long long offset = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|K:read_into", kwlist, &fid, &bufobj,
					 &offset))
		return NULL;
	struct item it = {0};
	if (fid_from_obj(fid, &it.fid) < 0)
		return NULL;
	Py_buffer b;
	if (PyObject_GetBuffer(bufobj, &b, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
		return NULL;
	PyObject *r = NULL;
	if (session_enter(self, 0) == 0) {
		if (sync_buffer(self) == 0) {
			it.name = Py_NewRef(fid);
			it.start = offset;
			it.limit = (uint64_t)b.len;
			it.dst = b.buf;
			if (b.len == 0) {
				struct kelp_cqe c;
				/* owed completions of an interrupted call first */
				int rc = drain(self->s);
				if (rc == 0)
					rc = kelp_stat(self->s, &it.fid, &c);
				r = rc < 0 ? raise_error(rc, NULL, fid) : PyLong_FromLong(0);
			} else {
				r = run_one(self, &it, 0);
			}
			item_clear(&it);
		}
		session_leave(self);
	}
	PyBuffer_Release(&b);
	return r;
}

static PyObject *Session_stat(Session *self, PyObject *fid)
{
	struct kelp_fid f;
	struct kelp_cqe c;
	if (fid_from_obj(fid, &f) < 0 || session_enter(self, 0) < 0)
		return NULL;
	int rc = drain(self->s);
	if (rc == 0) {
		Py_BEGIN_ALLOW_THREADS rc = kelp_stat(self->s, &f, &c);
		Py_END_ALLOW_THREADS
	}
	session_leave(self);
	if (rc < 0)
		return raise_error(rc, NULL, fid);
	static const char *paths[] = {"none", "local", "rdma", "http"};
	PyObject *st = PyStructSequence_New(&StatType);
	if (!st)
		return NULL;
	PyStructSequence_SET_ITEM(st, 0, PyLong_FromUnsignedLongLong(c.size));
	PyStructSequence_SET_ITEM(st, 1, PyLong_FromUnsignedLong(c.crc));
	PyStructSequence_SET_ITEM(st, 2, PyLong_FromUnsignedLong(c.needle_flags));
	PyStructSequence_SET_ITEM(st, 3, PyLong_FromUnsignedLong(c.flags));
	PyStructSequence_SET_ITEM(st, 4, PyBool_FromLong((c.needle_flags & 0x01) != 0));
	PyStructSequence_SET_ITEM(st, 5, PyUnicode_FromString(paths[c.flags & KELP_CQE_PATH_MASK]));
	if (PyErr_Occurred()) {
		Py_DECREF(st);
		return NULL;
	}
	return st;
}

/* ---- files by path (the filer) --------------------------------------------------------------- */

#define LIST_BATCH 256 /* directory entries per kelp_path_list call (304 bytes each) */

/* @obj (str, bytes or os.PathLike) as the bytes of a filer path (os.fsencode), new reference;
 * NULL with TypeError/ValueError (an embedded NUL) set. kelpd checks the rest (absolute, no "..")
 * and answers -EINVAL. */
static PyObject *path_bytes(PyObject *obj)
{
	PyObject *b = NULL;
	if (!PyUnicode_FSConverter(obj, &b))
		return NULL;
	return b;
}

static PyObject *path_stat_tuple(const struct kelp_path_stat *st)
{
	return Py_BuildValue("(KLLKkkk)", (unsigned long long)st->size, (long long)st->mtime_ns,
			     (long long)st->ctime_ns, (unsigned long long)st->inode,
			     (unsigned long)st->mode, (unsigned long)st->uid,
			     (unsigned long)st->gid);
}

static PyObject *Session_path_stat(Session *self, PyObject *path)
{
	PyObject *pb = path_bytes(path);
	if (!pb)
		return NULL;
	struct kelp_path_stat st;
	int rc = -1;
	if (session_enter(self, 0) == 0) {
		rc = drain(self->s); /* owed completions of an interrupted call first */
		if (rc == 0) {
			const char *p = PyBytes_AS_STRING(pb);
			Py_BEGIN_ALLOW_THREADS rc = kelp_path_stat(self->s, p, &st);
			Py_END_ALLOW_THREADS
		}
		session_leave(self);
		if (rc < 0)
			raise_error(rc, NULL, path);
	}
	Py_DECREF(pb);
	return rc < 0 ? NULL : path_stat_tuple(&st);
}

static PyObject *Session_path_list(Session *self, PyObject *path)
{
	PyObject *pb = path_bytes(path);
	if (!pb)
		return NULL;
	struct kelp_dirent *ents = PyMem_Malloc(LIST_BATCH * sizeof(*ents));
	PyObject *out = PyList_New(0);
	if (!ents || !out) {
		PyErr_NoMemory();
		goto fail;
	}
	if (session_enter(self, 0) < 0)
		goto fail;
	int rc = drain(self->s);
	char after[KELP_NAME_MAX + 1] = "";
	while (rc == 0) {
		const char *p = PyBytes_AS_STRING(pb);
		Py_BEGIN_ALLOW_THREADS rc = kelp_path_list(self->s, p, after, ents, LIST_BATCH);
		Py_END_ALLOW_THREADS if (rc <= 0) break;
		for (int i = 0; i < rc; i++) {
			PyObject *name = PyUnicode_DecodeFSDefault(ents[i].name);
			PyObject *st = name ? path_stat_tuple(&ents[i].st) : NULL;
			PyObject *row = st ? PyTuple_Pack(2, name, st) : NULL;
			Py_XDECREF(name);
			Py_XDECREF(st);
			if (!row || PyList_Append(out, row) < 0) {
				Py_XDECREF(row);
				session_leave(self);
				goto fail;
			}
			Py_DECREF(row);
		}
		/* the next batch starts after the last name (fewer than asked is not the end) */
		snprintf(after, sizeof(after), "%s", ents[rc - 1].name);
		rc = 0;
	}
	session_leave(self);
	if (rc < 0) {
		raise_error(rc, NULL, path);
		goto fail;
	}
	PyMem_Free(ents);
	Py_DECREF(pb);
	return out;
fail:
	PyMem_Free(ents);
	Py_XDECREF(out);
	Py_DECREF(pb);
	return NULL;
}

/*
 * Read file @path from @offset in requests of the session's sync buffer: into @dst (@cap bytes,
 * the caller's buffer), or, with @dst NULL, into a new bytes object of at most @cap bytes stored
 * in *@out (sized by the file's size, which the first completion tells). Stops at the end of the
 * file. Called inside session_enter(). Return: bytes read; -1 with an exception set.
 */
static Py_ssize_t path_read(Session *self, PyObject *path, const char *p, uint64_t offset,
			    char *dst, uint64_t cap, PyObject **out)
{
	uint64_t got = 0, want = cap;
	int rc = drain(self->s);
	if (rc < 0)
		goto err;
	while (got < want) {
		uint64_t left = want - got;
		uint32_t len = left < self->sync_len ? (uint32_t)left : self->sync_len;
		struct kelp_cqe c;
		ssize_t n;
		Py_BEGIN_ALLOW_THREADS n =
			kelp_path_read(self->s, p, offset + got, self->sync_buf, len, &c);
		Py_END_ALLOW_THREADS if (n < 0)
		{
			rc = (int)n;
			goto err;
		}
		if (!dst) { /* first piece: the file's size bounds the bytes object */
			uint64_t rest = c.size > offset ? c.size - offset : 0;
			if (rest < want)
				want = rest;
			if ((uint64_t)n > want) /* the file grew since: keep to the size told */
				n = (ssize_t)want;
			*out = bytes_for(&self->sync_spares, (Py_ssize_t)want);
			if (!*out)
				return -1;
			dst = PyBytes_AS_STRING(*out);
		}
		if ((uint64_t)n > want - got)
			n = (ssize_t)(want - got);
		memcpy(dst + got, self->sync_buf, (size_t)n);
		got += (uint64_t)n;
		if ((uint32_t)n < len)
			break; /* end of file (it shrank, or we asked up to it) */
	}
	if (out && *out && got < want && _PyBytes_Resize(out, (Py_ssize_t)got) < 0)
		return -1;
	return (Py_ssize_t)got;
err:
	if (out)
		Py_CLEAR(*out);
	raise_error(rc, NULL, path);
	return -1;
}

static PyObject *Session_path_read(Session *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"path", "offset", "size", NULL};
	PyObject *path, *size = Py_None;
	unsigned long long offset = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|KO:path_read", kwlist, &path, &offset, &size))
		return NULL;
	uint64_t limit = UINT64_MAX;
	if (size != Py_None) {
		long long n = PyLong_AsLongLong(size);
		if (n == -1 && PyErr_Occurred())
			return NULL;
		if (n < 0) {
			PyErr_SetString(PyExc_ValueError, "size must be >= 0 or None");
			return NULL;
		}
		limit = (uint64_t)n;
	}
	PyObject *pb = path_bytes(path);
	if (!pb)
		return NULL;
	PyObject *r = NULL;
	if (session_enter(self, 0) == 0) {
		if (sync_buffer(self) == 0) {
			if (limit == 0)
				r = PyBytes_FromStringAndSize("", 0);
			else if (path_read(self, path, PyBytes_AS_STRING(pb), offset, NULL, limit,
					   &r) < 0)
				r = NULL;
			else if (!r) /* at or after the end of the file */
				r = PyBytes_FromStringAndSize("", 0);
			else
				spares_push(&self->sync_spares, r);
		}
		session_leave(self);
	}
	Py_DECREF(pb);
	return r;
}

static PyObject *Session_path_readinto(Session *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"path", "buffer", "offset", NULL};
	PyObject *path, *bufobj;
	unsigned long long offset = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|K:path_readinto", kwlist, &path, &bufobj,
					 &offset))
		return NULL;
	PyObject *pb = path_bytes(path);
	if (!pb)
		return NULL;
	Py_buffer b;
	if (PyObject_GetBuffer(bufobj, &b, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
		Py_DECREF(pb);
		return NULL;
	}
	PyObject *r = NULL;
	if (session_enter(self, 0) == 0) {
		if (sync_buffer(self) == 0) {
			Py_ssize_t n = b.len ? path_read(self, path, PyBytes_AS_STRING(pb), offset,
							 b.buf, (uint64_t)b.len, NULL)
					     : 0;
			r = n < 0 ? NULL : PyLong_FromSsize_t(n);
		}
		session_leave(self);
	}
	PyBuffer_Release(&b);
	Py_DECREF(pb);
	return r;
}

static PyObject *Session_info(Session *self, PyObject *unused)
{
	if (session_enter(self, 1) < 0)
		return NULL;
	session_leave(self);
	const struct kelp_session_info *i = &self->info;
	return Py_BuildValue("{sKsIsIsKsIsIsi}", "session_id", (unsigned long long)i->session_id,
			     "sq_entries", i->sq_entries, "cq_entries", i->cq_entries, "arena_size",
			     (unsigned long long)i->arena_size, "max_io", i->max_io, "lcore_id",
			     i->lcore_id, "hugepages", i->hugepages);
}

static void readmany_drop_views(PyObject *iter);

/*
 * Forget the session: drop our reference to its Mapping. kelp_close() (and the unmap) happens
 * now, or when the last memoryview lent by read_many(copy=False) is released; in a forked child
 * never (the Mapping knows the parent's pid).
 */
static void session_drop(Session *self)
{
	if (self->iter) /* its own views must not keep the session open once the caller's are gone
			 */
		readmany_drop_views(self->iter);
	self->s = NULL;
	Py_CLEAR(self->map);
	spares_clear(&self->sync_spares);
}

static PyObject *Session_close(Session *self, PyObject *unused)
{
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError, "kelp.Session is in use by another thread");
		return NULL;
	}
	session_drop(self);
	self->sync_buf = NULL;
	self->iter = NULL;
	self->generation++;
	Py_RETURN_NONE;
}

static PyObject *Session_enter(Session *self, PyObject *unused)
{
	return Py_NewRef(self);
}

static PyObject *Session_exit(Session *self, PyObject *args)
{
	return Session_close(self, NULL);
}

static void Session_dealloc(Session *self)
{
	session_drop(self);
	Py_XDECREF(self->config);
	Py_XDECREF(self->socket);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Session_init(Session *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"config", "socket", "queue_depth", "wait_spin_us", NULL};
	PyObject *config = Py_None, *socket = Py_None;
	unsigned qd = 0;
	PyObject *spin = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO$IO:Session", kwlist, &config, &socket, &qd,
					 &spin))
		return -1;
	self->wait_spin_us = INT32_MIN;
	if (spin != Py_None && (self->wait_spin_us = PyLong_AsLong(spin)) == -1 && PyErr_Occurred())
		return -1;
	if (config != Py_None && !(config = PyOS_FSPath(config)))
		return -1;
	else if (config == Py_None)
		Py_INCREF(config);
	if (socket != Py_None && !(socket = PyOS_FSPath(socket))) {
		Py_DECREF(config);
		return -1;
	} else if (socket == Py_None)
		Py_INCREF(socket);
	if ((config != Py_None && !PyUnicode_Check(config)) ||
	    (socket != Py_None && !PyUnicode_Check(socket))) {
		Py_DECREF(config);
		Py_DECREF(socket);
		PyErr_SetString(PyExc_TypeError, "config and socket are str paths");
		return -1;
	}
	session_drop(self);
	Py_XSETREF(self->config, config);
	Py_XSETREF(self->socket, socket);
	self->queue_depth = qd;
	return session_connect(self);
}

static PyObject *Session_get_closed(Session *self, void *unused)
{
	return PyBool_FromLong(!self->s);
}

/* ---- read_many ------------------------------------------------------------------------------- */

typedef struct {
	PyObject_HEAD Session *sess;
	PyObject *src; /* iterator of fids; NULL once exhausted */
	struct engine e;
	unsigned generation;
	uint64_t head, tail; /* items [head, tail) are in slots (tail - head <= nslots) */
	int raise_errors;
	int failed; /* the session broke: every remaining item is that error */
	int lent;   /* the last item returned is a view into its slot: do not reuse it yet */
	PyObject *size;
	uint64_t limit;
	struct spares spares; /* results handed out, for recycling (e.spares points here) */
} ReadMany;

static PyTypeObject ReadManyType;

/* Session.close(): drop @iter's views not yet returned and its Lender, which hold the Mapping. */
static void readmany_drop_views(PyObject *iter)
{
	struct engine *e = &((ReadMany *)iter)->e;
	if (e->items)
		for (unsigned i = 0; i < e->nslots; i++)
			item_clear(&e->items[i]);
	Py_CLEAR(e->lender);
}

/* Release the slots: wait for what is in flight (their buffers are kelpd's targets until then). */
static void readmany_finish(ReadMany *r)
{
	if (!r->e.items)
		return;
	Session *s = r->sess;
	int alive = s->s && s->generation == r->generation && s->pid == self_pid;
	if (alive && kelp_inflight(s->s) > 0 && drain(s->s) < 0)
		alive = 0; /* the session is over; its arena goes with it */
	engine_free(&r->e, alive);
	spares_clear(&r->spares);
	if (s->iter == (PyObject *)r)
		s->iter = NULL;
	Py_CLEAR(r->src);
}

/* Fill free slots from the source and queue them. Return 0; -1 with an exception set. */
static int readmany_fill(ReadMany *r)
{
	while (r->src && r->tail - r->head < r->e.nslots - (unsigned)r->lent) {
		PyObject *fid = PyIter_Next(r->src);
		if (!fid) {
			if (PyErr_Occurred())
				return -1;
			Py_CLEAR(r->src);
			break;
		}
		unsigned i = (unsigned)(r->tail % r->e.nslots);
		struct item *it = &r->e.items[i];
		item_clear(it);
		it->name = fid;
		it->start = 0;
		it->limit = r->limit;
		r->tail++;
		if (fid_from_obj(fid, &it->fid) < 0) { /* a bad fid is that item's error */
			it->result = fetch_exc();
			it->done = 1;
			continue;
		}
		int rc = r->failed ? r->failed : engine_queue(&r->e, i);
		if (rc < 0 && item_fail(it, rc) < 0)
			return -1;
	}
	return 0;
}

static PyObject *ReadMany_next(ReadMany *r)
{
	Session *s = r->sess;
	if (!r->e.items)
		return NULL;
	if (s->generation != r->generation || s->pid != self_pid) {
		PyErr_SetString(
			PyExc_RuntimeError,
			"this read_many() iterator belongs to a closed session or to the parent "
			"process: start a new one");
		return NULL;
	}
	if (session_enter(s, 1) < 0)
		return NULL;
	PyObject *res = NULL;
	struct kelp_cqe c[CQE_BATCH];
	r->lent = 0; /* the view returned last time is void from here on (documented) */
	if (readmany_fill(r) < 0)
		goto out;
	if (r->head == r->tail) { /* exhausted */
		session_leave(s);
		readmany_finish(r);
		return NULL;
	}
	s->iter = (PyObject *)r;
	struct item *head = &r->e.items[r->head % r->e.nslots];
	while (!head->done) {
		int n = kelp_submit(s->s);
		if (n >= 0)
			n = collect(s->s, c, CQE_BATCH);
		if (n == -EINTR && PyErr_Occurred())
			goto out;
		if (n < 0) { /* the session is over: every item in flight fails with it */
			r->failed = n;
			for (uint64_t k = r->head; k < r->tail; k++) {
				struct item *it = &r->e.items[k % r->e.nslots];
				if (!it->done && item_fail(it, n) < 0)
					goto out;
			}
			break;
		}
		for (int k = 0; k < n; k++) {
			int rc = engine_complete(&r->e, &c[k]);
			if (rc < 0)
				goto out;
			if (rc == 1) {
				int q = engine_queue(&r->e, (unsigned)c[k].user_data);
				if (q < 0 && item_fail(&r->e.items[c[k].user_data], q) < 0)
					goto out;
			}
		}
	}
	if (head->in_slot) { /* copy it out now (engine.defer) */
		const char *src = r->e.bufs + (size_t)(r->head % r->e.nslots) * r->e.slot;
		Py_ssize_t n = (Py_ssize_t)head->got;
		if (!(res = bytes_for(&r->spares, n)))
			goto out;
		char *dst = PyBytes_AS_STRING(res);
		if ((size_t)n >= GIL_FREE_MEMCPY) {
			Py_BEGIN_ALLOW_THREADS memcpy(dst, src, (size_t)n);
			Py_END_ALLOW_THREADS
		} else {
			memcpy(dst, src, (size_t)n);
		}
	} else {
		res = head->result;
		head->result = NULL;
	}
	item_clear(head);
	r->head++;
	r->lent = PyMemoryView_Check(res);
	spares_push(&r->spares, res);
	/* refill now so that kelpd keeps working while the caller handles this item */
	if (readmany_fill(r) < 0) {
		Py_CLEAR(res);
		goto out;
	}
	kelp_submit(s->s);
	if (r->raise_errors && PyExceptionInstance_Check(res)) {
		PyErr_SetObject((PyObject *)Py_TYPE(res), res);
		Py_CLEAR(res);
	}
out:
	session_leave(s);
	return res;
}

static PyObject *ReadMany_close(ReadMany *r, PyObject *unused)
{
	if (r->sess->busy) {
		PyErr_SetString(PyExc_RuntimeError, "kelp.Session is in use by another thread");
		return NULL;
	}
	readmany_finish(r);
	Py_RETURN_NONE;
}

static void ReadMany_dealloc(ReadMany *r)
{
	if (!r->sess->busy)
		readmany_finish(r);
	else
		engine_free(&r->e, 0); /* cannot wait here; the buffers stay allocated (leak) */
	spares_clear(&r->spares);
	if (r->sess->iter == (PyObject *)r)
		r->sess->iter = NULL;
	Py_XDECREF(r->src);
	Py_XDECREF(r->sess);
	Py_XDECREF(r->size);
	Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyObject *Session_read_many(Session *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"fids",	"depth",  "raise_errors", "size",
				 "buffer_size", "gunzip", "copy",	  NULL};
	PyObject *fids, *size = Py_None;
	unsigned depth = 32, bufsize = 0;
	int raise_errors = 0, gunzip = 0, copy = 1;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|I$pOIpp:read_many", kwlist, &fids, &depth,
					 &raise_errors, &size, &bufsize, &gunzip, &copy))
		return NULL;
	if (depth < 1) {
		PyErr_SetString(PyExc_ValueError, "depth must be >= 1");
		return NULL;
	}
	uint64_t limit = UINT64_MAX;
	if (size != Py_None) {
		long long n = PyLong_AsLongLong(size);
		if (n == -1 && PyErr_Occurred())
			return NULL;
		if (n <= 0) {
			PyErr_SetString(PyExc_ValueError, "size must be > 0 or None");
			return NULL;
		}
		limit = (uint64_t)n;
	}
	PyObject *src = PyObject_GetIter(fids);
	if (!src)
		return NULL;
	if (session_enter(self, 0) < 0) {
		Py_DECREF(src);
		return NULL;
	}
	ReadMany *r = NULL;
	if (drain(self->s) < 0) {
		raise_error(-ECONNRESET, NULL, NULL);
		goto out;
	}
	if (depth > self->info.sq_entries)
		depth = self->info.sq_entries;
	uint32_t slot = bufsize ? bufsize : slot_size_for(self, depth);
	if (limit < slot)
		slot = (uint32_t)((limit + MIN_SLOT - 1) & ~(uint64_t)(MIN_SLOT - 1));
	if (slot > self->info.max_io)
		slot = self->info.max_io;
	r = PyObject_New(ReadMany, &ReadManyType);
	if (!r)
		goto out;
	r->sess = (Session *)Py_NewRef(self);
	r->src = src;
	src = NULL;
	r->size = Py_NewRef(size);
	r->generation = self->generation;
	r->head = r->tail = 0;
	r->raise_errors = raise_errors;
	r->failed = 0;
	r->lent = 0;
	r->limit = limit;
	memset(&r->e, 0, sizeof(r->e));
	memset(&r->spares, 0, sizeof(r->spares));
	if (engine_alloc(&r->e, self, depth, slot) < 0) {
		Py_CLEAR(r);
		goto out;
	}
	r->e.gunzip = gunzip;
	r->e.views = !copy;
	r->e.defer = copy;
	unsigned keep = SPARES_BYTES / r->e.slot;
	spares_init(&r->spares, keep < 2 ? 2 : keep > depth + 2 ? depth + 2 : keep, r->e.slot);
	r->e.spares = &r->spares;
out:
	session_leave(self);
	Py_XDECREF(src);
	return (PyObject *)r;
}

static PyObject *ReadMany_get_buffer_size(ReadMany *r, void *unused)
{
	return PyLong_FromUnsignedLong(r->e.slot);
}

static PyObject *ReadMany_get_depth(ReadMany *r, void *unused)
{
	return PyLong_FromUnsignedLong(r->e.nslots);
}

static PyMethodDef ReadMany_methods[] = {
	{"close", (PyCFunction)ReadMany_close, METH_NOARGS,
	 "close()\n\nStop: wait for the reads in flight and free the buffers. The session is free "
	 "for other calls afterwards."},
	{NULL}};

static PyGetSetDef ReadMany_getset[] = {
	{"buffer_size", (getter)ReadMany_get_buffer_size, NULL,
	 "bytes of arena per slot (larger needles are read in pieces)", NULL},
	{"depth", (getter)ReadMany_get_depth, NULL, "reads kept in flight", NULL},
	{NULL}};

static PyTypeObject ReadManyType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kelp.ReadMany",
	.tp_basicsize = sizeof(ReadMany),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Iterator returned by Session.read_many(): results in submission order.",
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)ReadMany_next,
	.tp_dealloc = (destructor)ReadMany_dealloc,
	.tp_methods = ReadMany_methods,
	.tp_getset = ReadMany_getset,
};

static PyMethodDef Session_methods[] = {
	{"read", (PyCFunction)(void (*)(void))Session_read, METH_VARARGS | METH_KEYWORDS,
	 "read(fid, offset=0, size=None, *, gunzip=False) -> bytes\n\n"
	 "Read the needle's data as stored, from offset, at most size bytes (None: to the end).\n"
	 "gunzip=True inflates a gzip-stored needle (whole reads only)."},
	{"read_into", (PyCFunction)(void (*)(void))Session_read_into, METH_VARARGS | METH_KEYWORDS,
	 "read_into(fid, buffer, offset=0) -> int\n\n"
	 "Read into any writable contiguous buffer (bytearray, memoryview, numpy array); returns "
	 "the bytes read (fewer than len(buffer) when the needle ends first)."},
	{"read_many", (PyCFunction)(void (*)(void))Session_read_many, METH_VARARGS | METH_KEYWORDS,
	 "read_many(fids, depth=32, *, raise_errors=False, size=None, buffer_size=0, gunzip=False, "
	 "copy=True)\n\nRead many needles with up to depth reads in flight; an iterator of results "
	 "in "
	 "submission order. copy=True: bytes copied out of the arena, each valid for good. "
	 "copy=False: a read-only memoryview into the arena, valid only until the next item is "
	 "asked for (kept longer: stale bytes, never a crash; after close() the arena stays mapped "
	 "until the last view is released): no copy; needles larger than buffer_size "
	 "and gunzipped ones still come as bytes. A failed item is yielded as its exception "
	 "object (raise_errors=True raises it instead)."},
	{"stat", (PyCFunction)Session_stat, METH_O,
	 "stat(fid) -> kelp.Stat\n\nSize, CRC and flags of a needle, without its data."},
	{"path_stat", (PyCFunction)Session_path_stat, METH_O,
	 "path_stat(path) -> (size, mtime_ns, ctime_ns, inode, mode, uid, gid)\n\n"
	 "Internal: the filer entry's attributes (Session.stat_path() wraps them in an "
	 "os.stat_result)."},
	{"path_list", (PyCFunction)Session_path_list, METH_O,
	 "path_list(path) -> [(name, (size, mtime_ns, ctime_ns, inode, mode, uid, gid)), ...]\n\n"
	 "Internal: every entry of filer directory path, in the filer's (byte) order "
	 "(Session.listdir() and scandir() use it)."},
	{"path_read", (PyCFunction)(void (*)(void))Session_path_read, METH_VARARGS | METH_KEYWORDS,
	 "path_read(path, offset=0, size=None) -> bytes\n\n"
	 "Bytes of file path (through the filer) from offset, at most size (None: to the end of "
	 "the file); b'' at or after the end. Holes read as zeros; decrypted and decompressed as "
	 "the filer's GET would give them."},
	{"path_readinto", (PyCFunction)(void (*)(void))Session_path_readinto,
	 METH_VARARGS | METH_KEYWORDS,
	 "path_readinto(path, buffer, offset=0) -> int\n\n"
	 "Read file path from offset into any writable contiguous buffer; returns the bytes read "
	 "(fewer than len(buffer) at the end of the file)."},
	{"info", (PyCFunction)Session_info, METH_NOARGS,
	 "info() -> dict\n\nWhat kelpd granted this session (kelp_session_info)."},
	{"close", (PyCFunction)Session_close, METH_NOARGS,
	 "close()\n\nEnd the session: further calls raise ValueError. kelpd's session (and the "
	 "arena mapping) ends now, or when the last read_many(copy=False) view is released."},
	{"__enter__", (PyCFunction)Session_enter, METH_NOARGS, NULL},
	{"__exit__", (PyCFunction)Session_exit, METH_VARARGS, NULL},
	{NULL}};

static PyGetSetDef Session_getset[] = {
	{"closed", (getter)Session_get_closed, NULL, "True after close()", NULL}, {NULL}};

static PyTypeObject SessionType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kelp._kelp.Session",
	.tp_basicsize = sizeof(Session),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, /* kelp.Session adds the file calls */
	.tp_doc =
		"Session(config=None, socket=None, *, queue_depth=0, wait_spin_us=None)\n\n"
		"One connection to kelpd (its shared-memory rings). Use from one thread at a time; "
		"wait_spin_us: how long a wait busy-polls before it sleeps (None: libkelp's 50 us; "
		"adaptive: only while the session's recent waits usually ended that soon; 0: sleep "
		"at once; -1: never sleep, as kelp-bench does: lowest latency, one core busy while "
		"waiting); "
		"in a forked child it reconnects by itself on first use.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Session_init,
	.tp_dealloc = (destructor)Session_dealloc,
	.tp_methods = Session_methods,
	.tp_getset = Session_getset,
};

static PyMethodDef module_methods[] = {
	{"fid_parse", py_fid_parse, METH_O, "fid_parse(s) -> (volume_id, key, cookie)"},
	{"fid_format", py_fid_format, METH_VARARGS, "fid_format(volume_id, key, cookie) -> str"},
	{"strerror", py_strerror, METH_O, "strerror(errno) -> str: kelp_strerror()"},
	{"gunzip", py_gunzip, METH_O,
	 "gunzip(data) -> bytes\n\nInflate a gzip-stored needle (kelp_gunzip)."},
	{NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "kelp._kelp",
				    "C core of the kelp package (see kelp).", -1, module_methods};

PyMODINIT_FUNC PyInit__kelp(void)
{
	static int atfork_done;
	if (!atfork_done) {
		self_pid = getpid();
		if (pthread_atfork(NULL, NULL, after_fork_child) != 0) {
			PyErr_SetString(PyExc_OSError, "kelp: pthread_atfork failed");
			return NULL;
		}
		atfork_done = 1;
	}
	if (PyType_Ready(&SessionType) < 0 || PyType_Ready(&ReadManyType) < 0 ||
	    PyType_Ready(&MappingType) < 0 || PyType_Ready(&LenderType) < 0)
		return NULL;
	if (PyStructSequence_InitType2(&StatType, &stat_desc) < 0)
		return NULL;
	PyObject *m = PyModule_Create(&module);
	if (!m)
		return NULL;
	CorruptNeedle = PyErr_NewExceptionWithDoc("kelp.CorruptNeedle",
						  "The needle is corrupt (CRC mismatch or bad "
						  "record; -EIO) and no replica served it.",
						  PyExc_OSError, NULL);
	if (!CorruptNeedle || PyModule_AddObjectRef(m, "CorruptNeedle", CorruptNeedle) < 0 ||
	    PyModule_AddObjectRef(m, "Session", (PyObject *)&SessionType) < 0 ||
	    PyModule_AddObjectRef(m, "ReadMany", (PyObject *)&ReadManyType) < 0 ||
	    PyModule_AddObjectRef(m, "Stat", (PyObject *)&StatType) < 0 ||
	    PyModule_AddIntConstant(m, "CQE_F_GZIP", KELP_CQE_F_GZIP) < 0 ||
	    PyModule_AddIntConstant(m, "CQE_F_CRC_CHECKED", KELP_CQE_F_CRC_CHECKED) < 0 ||
	    PyModule_AddIntConstant(m, "CQE_F_TRUNCATED", KELP_CQE_F_TRUNCATED) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
