/*
 * store_sqlite_vfs: the VFS rekey's SQLite connections open through.  It is
 * the platform's own ("unix"), with one change: SQLite writes each frame of
 * its log as two writes, the frame's 24-byte header and then its page right
 * after it, and here they leave as one write.  A commit of the journal's
 * writer appends about 20 frames, so that is 20 system calls fewer a commit
 * (a quarter of the writer's time went into pwrite, and system calls are dear
 * on the virtual machines rekey runs on).
 *
 * How: a frame header written to a log file is held, and the next call on
 * that file decides.  A write of the page right after it takes the header
 * along (copied in front of it); any other call (a read, a sync, another
 * write, a close) writes the header first, as SQLite did.  So every read and
 * every sync sees what SQLite wrote, in its order; only the header's own
 * write(2) is gone.  A crash between the two writes leaves a torn frame
 * either way, which SQLite's checksums already reject.
 */
#include "lib/log.h"
#include "lib/util.h"
#include "state/store_sqlite_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define VFS_NAME "rekey"
/* SQLite's WAL_FRAME_HDRSIZE: a frame's header, written on its own before its page. */
#define FRAME_HEADER 24

struct vfs_file {
	sqlite3_file base;
	sqlite3_file *real;	/* the platform's file, allocated right after this */
	int log;		/* a write-ahead log: its frame headers are held */
	int held;		/* a frame header waits in header[] */
	sqlite3_int64 held_at;
	unsigned char header[FRAME_HEADER];
	unsigned char *merged;	/* header + page, for the one write */
	size_t merged_cap;
};

static sqlite3_vfs *platform;

/* Writes a held header, if any.  SQLITE_OK or the write's error. */
static int
release(struct vfs_file *f)
{
	if (!f->held)
		return SQLITE_OK;
	f->held = 0;
	return f->real->pMethods->xWrite(f->real, f->header, FRAME_HEADER, f->held_at);
}

static int
vfs_close(sqlite3_file *file)
{
	struct vfs_file *f = (struct vfs_file *)file;
	int rc = release(f), rc_close = f->real->pMethods->xClose(f->real);

	free(f->merged);
	f->merged = NULL;
	return rc != SQLITE_OK ? rc : rc_close;
}

static int
vfs_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
	struct vfs_file *f = (struct vfs_file *)file;
	int rc = release(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, buf, amt, off);
}

/* The held header and the page after it, in one write. */
static int
write_merged(struct vfs_file *f, const void *page, int amt)
{
	size_t need = FRAME_HEADER + (size_t)amt;

	if (need > f->merged_cap) {
		f->merged = xrealloc(f->merged, need);
		f->merged_cap = need;
	}
	memcpy(f->merged, f->header, FRAME_HEADER);
	memcpy(f->merged + FRAME_HEADER, page, (size_t)amt);
	f->held = 0;
	return f->real->pMethods->xWrite(f->real, f->merged, (int)need, f->held_at);
}

static int
vfs_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 off)
{
	struct vfs_file *f = (struct vfs_file *)file;
	int rc;

	if (f->held && off == f->held_at + FRAME_HEADER && amt > 0)
		return write_merged(f, buf, amt);
	if ((rc = release(f)) != SQLITE_OK)
		return rc;
	if (f->log && amt == FRAME_HEADER) {
		memcpy(f->header, buf, FRAME_HEADER);
		f->held_at = off;
		f->held = 1;
		return SQLITE_OK;
	}
	return f->real->pMethods->xWrite(f->real, buf, amt, off);
}

/*
 * The other calls pass through, each after writing a held header: whatever
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
		    " frame in two writes (slower commits)");
}

const char *
sqlite_vfs_name(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, register_vfs);
	return platform != NULL ? VFS_NAME : NULL;
}
