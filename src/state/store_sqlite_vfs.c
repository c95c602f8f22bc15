/*
 * store_sqlite_vfs: the VFS rekey's SQLite connections open through.  It is
 * the platform's own ("unix"), with one change: a transaction's writes to its
 * log leave in one write(2), not two per frame.  SQLite appends each frame of
 * the log as two writes, the frame's 24-byte header and then its page; a
 * commit of the journal's writer appends 20 frames when the ids of a storm
 * come in order, and 65 when they are scattered as real grant ids are (each
 * event touches a leaf of three indexes).  Every write costs a system call,
 * and each 4,120-byte frame straddles two pages of the page cache that the
 * kernel prepares twice: pwrite took a fifth of the writer's time.
 *
 * How: writes to a log file that follow one another in the file are gathered
 * in the file's run, and leave as one write when
 *   - the page of the transaction's commit frame arrives (its header names
 *     the database's size after the commit): SQLite publishes a commit to
 *     readers, without a call here, as soon as that frame is written, and
 *     with synchronous=NORMAL no sync comes first;
 *   - a write does not continue the run, or would make it longer than RUN_MAX;
 *   - any other call comes on that file (a read, a sync, a size, a truncate,
 *     a lock, a close).
 * So every read, sync and reader of another connection sees what SQLite
 * wrote, in its order.  A crash before the run's write loses frames of a
 * transaction that had not committed yet: the same as a crash before
 * SQLite's own writes.  The error of a deferred write is returned by the
 * call that makes it (at the latest the commit frame's page, or the sync).
 *
 * And one for the database file: a checkpoint copies pages into it and then
 * fsyncs it, and that fsync made the device write all of them at once while
 * the writer's commits waited on their own fdatasync behind them.  Writeback
 * of the database is started (sync_file_range, not waited for) each time
 * WRITEBACK_BYTES more have been written to it, so the device gets the copy
 * in slices as it is made.  With the scattered ids of a real storm (a
 * checkpoint copies about 2 MB), the intake benchmark's ack p99 went from
 * 14.6-20.6 ms to 10.3-10.7 ms, the rate unchanged; in order, 3.9-4.3 to
 * 3.2-3.9 ms.
 */
#include "lib/log.h"
#include "lib/util.h"
#include "state/store_sqlite_int.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VFS_NAME "rekey"
/* SQLite's WAL_FRAME_HDRSIZE: a frame's header, written on its own before its page. */
#define FRAME_HEADER 24
/* A run is written once it would grow past this (a Graph batch's commit is about 800 KiB). */
#define RUN_MAX (1024 * 1024)
/*
 * And in writes of at most this: the platform's xWrite masks a write's size
 * to its low 17 bits (seekAndWriteFd), so one of 128 KiB or more fails with
 * SQLITE_FULL.
 */
#define WRITE_MAX (31 * 4096)
/* A database file's writeback is started after this many bytes written to it. */
#define WRITEBACK_BYTES (256 * 1024)

struct vfs_file {
	sqlite3_file base;
	sqlite3_file *real;	/* the platform's file, allocated right after this */
	int log;		/* a write-ahead log: its writes are gathered */
	int commit_frame;	/* the run's last write was a commit frame's header */
	sqlite3_int64 run_at;	/* where the run goes in the file */
	size_t run_len;		/* 0: no run */
	unsigned char *run;
	size_t run_cap;
	int writeback_fd;	/* a main database: a descriptor for sync_file_range; else -1 */
	size_t unstarted;	/* bytes written to it since its writeback was last started */
};

static sqlite3_vfs *platform;
static atomic_long writebacks;	/* started, for the tests */

/* Writes n bytes at off in pieces the platform takes.  SQLITE_OK or the first error. */
static int
write_pieces(struct vfs_file *f, const unsigned char *buf, size_t n, sqlite3_int64 off)
{
	size_t done, piece;
	int rc = SQLITE_OK;

	for (done = 0; done < n && rc == SQLITE_OK; done += piece) {
		piece = n - done < WRITE_MAX ? n - done : WRITE_MAX;
		rc = f->real->pMethods->xWrite(f->real, buf + done, (int)piece,
		    off + (sqlite3_int64)done);
	}
	return rc;
}

/* Writes the run, if any.  SQLITE_OK or the first write's error. */
static int
release(struct vfs_file *f)
{
	size_t n = f->run_len;

	f->run_len = 0;
	f->commit_frame = 0;
	return write_pieces(f, f->run, n, f->run_at);
}

/* Whether a frame header says its frame commits: bytes 4-7, the database's size after it. */
static int
commits(const unsigned char *header)
{
	return (header[4] | header[5] | header[6] | header[7]) != 0;
}

/* Appends buf to the run, starting one at off when there is none. */
static void
gather(struct vfs_file *f, const void *buf, size_t amt, sqlite3_int64 off)
{
	size_t need = f->run_len + amt;

	if (need > f->run_cap) {
		f->run_cap = need > f->run_cap * 2 ? need : f->run_cap * 2;
		if (f->run_cap > RUN_MAX)
			f->run_cap = RUN_MAX;
		f->run = xrealloc(f->run, f->run_cap);
	}
	if (f->run_len == 0)
		f->run_at = off;
	memcpy(f->run + f->run_len, buf, amt);
	f->run_len = need;
}

/* After a write of amt bytes to a database file: its writeback, when due. */
static void
start_writeback(struct vfs_file *f, int amt)
{
	if (f->writeback_fd < 0 || amt <= 0 || (f->unstarted += (size_t)amt) < WRITEBACK_BYTES)
		return;
	f->unstarted = 0;
	/* A hint: the fsync that follows the checkpoint is what makes the copy durable. */
	if (sync_file_range(f->writeback_fd, 0, 0, SYNC_FILE_RANGE_WRITE) == 0)
		atomic_fetch_add(&writebacks, 1);
}

static int
vfs_close(sqlite3_file *file)
{
	struct vfs_file *f = (struct vfs_file *)file;
	int rc = release(f), rc_close = f->real->pMethods->xClose(f->real);

	free(f->run);
	f->run = NULL;
	if (f->writeback_fd >= 0)
		close(f->writeback_fd);
	f->writeback_fd = -1;
	return rc != SQLITE_OK ? rc : rc_close;
}

static int
vfs_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
	struct vfs_file *f = (struct vfs_file *)file;
	int rc = release(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, buf, amt, off);
}

static int
vfs_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 off)
{
	struct vfs_file *f = (struct vfs_file *)file;
	int page_of_commit, rc;

	if (!f->log || amt <= 0) {
		rc = f->real->pMethods->xWrite(f->real, buf, amt, off);
		if (rc == SQLITE_OK)
			start_writeback(f, amt);
		return rc;
	}
	page_of_commit = f->commit_frame && amt != FRAME_HEADER;
	if (f->run_len > 0 && (off != f->run_at + (sqlite3_int64)f->run_len ||
	    f->run_len + (size_t)amt > RUN_MAX) && (rc = release(f)) != SQLITE_OK)
		return rc;
	/* Never from SQLite (a frame is at most 64 KiB and a header); the run is empty here. */
	if ((size_t)amt > RUN_MAX)
		return write_pieces(f, buf, (size_t)amt, off);
	gather(f, buf, (size_t)amt, off);
	f->commit_frame = amt == FRAME_HEADER && commits(buf);
	return page_of_commit ? release(f) : SQLITE_OK;
}

/*
 * The other calls pass through, each after writing the run: whatever
 * they do (truncate, sync, size, lock, file controls, memory maps), they do
 * it to the file as SQLite wrote it.
 */
#define F(file) (((struct vfs_file *)(file))->real)
#define RELEASE_OR_RETURN(file) do { \
	int rc_ = release((struct vfs_file *)(file)); \
	if (rc_ != SQLITE_OK) \
		return rc_; \
} while (0)

static int
vfs_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	RELEASE_OR_RETURN(file);
	return F(file)->pMethods->xTruncate(F(file), size);
}

static int
vfs_sync(sqlite3_file *file, int flags)
{
	RELEASE_OR_RETURN(file);
	return F(file)->pMethods->xSync(F(file), flags);
}

static int
vfs_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	RELEASE_OR_RETURN(file);
	return F(file)->pMethods->xFileSize(F(file), size);
}

static int
vfs_lock(sqlite3_file *file, int level)
{
	RELEASE_OR_RETURN(file);
	return F(file)->pMethods->xLock(F(file), level);
}

static int
vfs_unlock(sqlite3_file *file, int level)
{
	RELEASE_OR_RETURN(file);
	return F(file)->pMethods->xUnlock(F(file), level);
}

static int
vfs_check_reserved(sqlite3_file *file, int *out)
{
	RELEASE_OR_RETURN(file);
	return F(file)->pMethods->xCheckReservedLock(F(file), out);
}

static int
vfs_file_control(sqlite3_file *file, int op, void *arg)
{
	RELEASE_OR_RETURN(file);
	return F(file)->pMethods->xFileControl(F(file), op, arg);
}

static int
vfs_sector_size(sqlite3_file *file)
{
	return F(file)->pMethods->xSectorSize(F(file));
}

static int
vfs_device_characteristics(sqlite3_file *file)
{
	return F(file)->pMethods->xDeviceCharacteristics(F(file));
}

static int
vfs_shm_map(sqlite3_file *file, int page, int size, int extend, void volatile **out)
{
	RELEASE_OR_RETURN(file);
	return F(file)->pMethods->xShmMap(F(file), page, size, extend, out);
}

static int
vfs_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	RELEASE_OR_RETURN(file);
	return F(file)->pMethods->xShmLock(F(file), offset, n, flags);
}

static void
vfs_shm_barrier(sqlite3_file *file)
{
	(void)release((struct vfs_file *)file);
	F(file)->pMethods->xShmBarrier(F(file));
}

static int
vfs_shm_unmap(sqlite3_file *file, int delete_flag)
{
	RELEASE_OR_RETURN(file);
	return F(file)->pMethods->xShmUnmap(F(file), delete_flag);
}

static int
vfs_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **out)
{
	RELEASE_OR_RETURN(file);
	return F(file)->pMethods->xFetch(F(file), off, amt, out);
}

static int
vfs_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
	return F(file)->pMethods->xUnfetch(F(file), off, p);
}

static const sqlite3_io_methods vfs_methods = {
	3,
	vfs_close, vfs_read, vfs_write, vfs_truncate, vfs_sync, vfs_file_size,
	vfs_lock, vfs_unlock, vfs_check_reserved, vfs_file_control, vfs_sector_size,
	vfs_device_characteristics,
	vfs_shm_map, vfs_shm_lock, vfs_shm_barrier, vfs_shm_unmap,
	vfs_fetch, vfs_unfetch,
};

static int
vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
	struct vfs_file *f = (struct vfs_file *)file;
	int rc;

	(void)vfs;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	rc = platform->xOpen(platform, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK || f->real->pMethods == NULL)
		return rc;	/* base.pMethods stays NULL: SQLite calls no xClose */
	/* Only a platform file of the version whose calls are all forwarded here. */
	if (f->real->pMethods->iVersion < 3) {
		f->real->pMethods->xClose(f->real);
		return SQLITE_CANTOPEN;
	}
	f->log = (flags & SQLITE_OPEN_WAL) != 0;
	/*
	 * Any descriptor of the file will do for sync_file_range: the platform's
	 * is its own.  Without one (the open failed), no writeback is started early.
	 */
	f->writeback_fd = (flags & SQLITE_OPEN_MAIN_DB) && name != NULL ?
	    open(name, O_RDONLY | O_CLOEXEC) : -1;
	f->base.pMethods = &vfs_methods;
	return SQLITE_OK;
}

/* Everything but xOpen is the platform's own. */
static sqlite3_vfs vfs;

/* Once per process: the warning too, not at every connection. */
static void
register_vfs(void)
{
	platform = sqlite3_vfs_find(NULL);
	if (platform != NULL) {
		vfs = *platform;
		vfs.zName = VFS_NAME;
		vfs.szOsFile = (int)sizeof(struct vfs_file) + platform->szOsFile;
		vfs.xOpen = vfs_open;
		vfs.pNext = NULL;
		if (sqlite3_vfs_register(&vfs, 0) != SQLITE_OK)
			platform = NULL;
	}
	if (platform == NULL)
		log_warn("store: SQLite's default VFS could not be wrapped: its log writes each"
		    " frame in two writes, not a transaction in one (slower commits)");
}

long
sqlite_vfs_writebacks(void)
{
	return atomic_load(&writebacks);
}

const char *
sqlite_vfs_name(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, register_vfs);
	return platform != NULL ? VFS_NAME : NULL;
}
