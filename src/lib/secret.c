#include "lib/secret.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* A secret file larger than this is a mistake (a key file pointed at the wrong path). */
#define SECRET_FILE_MAX 65536

struct secret *
secret_new(const void *data, size_t len)
{
	struct secret *s = xcalloc(1, sizeof(*s));

	s->data = xmalloc(len + 1);
	memcpy(s->data, data, len);
	s->data[len] = '\0';
	s->len = len;
	return s;
}

void
secret_free(struct secret *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s->data, s->len + 1);
	free(s->data);
	free(s);
}

int
secret_equal(const struct secret *a, const void *data, size_t len)
{
	if (a == NULL || a->len != len)
		return 0;
	return CRYPTO_memcmp(a->data, data, len) == 0;
}

/* What secret_file_check's refusals end with. */
#define ACCEPTED_MODES "accepted modes: 600 or 400, or 640 or 440 when owned by root or " \
	"by the user rekey runs as; chmod 600 it"

int
secret_file_check(const char *path, char **err)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		*err = xasprintf("cannot read secret file %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*err = xasprintf("secret file %s is not a regular file", path);
		return -1;
	}
	/* A group may read (a root-owned file shared with rekey's group, say); no more. */
	if ((st.st_mode & (S_IRWXO | S_IWGRP | S_IXGRP)) != 0) {
		*err = xasprintf("secret file %s is readable or writable by others, or writable by "
		    "its group (mode %03o); %s", path, (unsigned)(st.st_mode & 0777), ACCEPTED_MODES);
		return -1;
	}
	if ((st.st_mode & S_IRGRP) != 0 && st.st_uid != 0 && st.st_uid != geteuid()) {
		*err = xasprintf("secret file %s is readable by its group (mode %03o) but owned by "
		    "uid %u, neither root nor rekey's user (uid %u); %s", path,
		    (unsigned)(st.st_mode & 0777), (unsigned)st.st_uid, (unsigned)geteuid(),
		    ACCEPTED_MODES);
		return -1;
	}
	if (access(path, R_OK) == -1) {
		*err = xasprintf("cannot read secret file %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Reads the whole file into a wiped-on-free buffer. */
static struct secret *
read_whole(const char *path, char **err)
{
	unsigned char buf[SECRET_FILE_MAX + 1];
	struct secret *s = NULL;
	ssize_t n;
	size_t len = 0;
	int fd;

	if (secret_file_check(path, err) == -1)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		*err = xasprintf("cannot read secret file %s: %s", path, strerror(errno));
		return NULL;
	}
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len > SECRET_FILE_MAX)
		*err = xasprintf("secret file %s is larger than %d bytes", path, SECRET_FILE_MAX);
	else
		s = secret_new(buf, len);
	OPENSSL_cleanse(buf, sizeof(buf));
	return s;
}

/* Length of the line at p (up to end), without its \n or \r\n. */
static size_t
line_len(const unsigned char *p, const unsigned char *end, size_t *advance)
{
	const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

	*advance = nl ? len + 1 : len;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	return len;
}

struct secret *
secret_read_file(const char *path, char **err)
{
	struct secret *whole, *first;
	size_t adv, len;

	whole = read_whole(path, err);
	if (whole == NULL)
		return NULL;
	len = line_len(whole->data, whole->data + whole->len, &adv);
	if (len == 0) {
		*err = xasprintf("secret file %s is empty", path);
		secret_free(whole);
		return NULL;
	}
	first = secret_new(whole->data, len);
	secret_free(whole);
	return first;
}

int
secret_read_lines(const char *path, struct secret ***out, size_t *n, char **err)
{
	struct secret *whole, **list = NULL;
	const unsigned char *p, *end;
	size_t count = 0, adv, len;

	whole = read_whole(path, err);
	if (whole == NULL)
		return -1;
	end = whole->data + whole->len;
	for (p = whole->data; p < end; p += adv) {
		len = line_len(p, end, &adv);
		if (len == 0)
			continue;
		list = xrealloc(list, (count + 1) * sizeof(*list));
		list[count++] = secret_new(p, len);
	}
	secret_free(whole);
	if (count == 0) {
		*err = xasprintf("secret file %s is empty", path);
		return -1;
	}
	*out = list;
	*n = count;
	return 0;
}

void
secret_list_free(struct secret **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		secret_free(list[i]);
	free(list);
}
