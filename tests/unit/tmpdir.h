/*
 * tmpdir: removes a test's temporary directory (from mkdtemp) and the files
 * in it, such as a store and its -wal and -shm files.  Flat: the tests make
 * no subdirectories there.
 */
#ifndef REKEY_TMPDIR_H
#define REKEY_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static inline void
tmpdir_remove(const char *dir)
{
	char path[4096];
	struct dirent *e;
	DIR *d = opendir(dir);

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d != NULL)
		closedir(d);
	if (rmdir(dir) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

#endif
