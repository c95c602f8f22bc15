/*
 * libFuzzer target: config_parse on arbitrary bytes, with an empty
 * environment.  Each input is parsed inside a private temporary directory
 * holding one valid master key and one webhook-secret file (mode 0600), so
 * that relative secret paths either name those two (and a whole valid config
 * can be reached) or name nothing.  The working directory is restored after
 * each input because libFuzzer reads and writes its corpus by relative path.
 * Every result is freed: a leak is a finding.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state/config.h"
#include "state/config_load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/rekey-fuzz-config.XXXXXX";
static int home_fd = -1, dir_fd = -1;

static void
write_secret(const char *name, const char *content)
{
	int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(content);

	if (fd == -1 || write(fd, content, len) != (ssize_t)len || close(fd) != 0)
		abort();
}

static void
cleanup(void)
{
	unlinkat(dir_fd, "mk", 0);
	unlinkat(dir_fd, "wh", 0);
	rmdir(dir);
}

/* Once per process: the temporary directory and its two secret files. */
static void
setup(void)
{
	if (dir_fd != -1)
		return;
	home_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (home_fd == -1 || mkdtemp(dir) == NULL)
		abort();
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd == -1)
		abort();
	write_secret("mk", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
	write_secret("wh", "first-secret\nsecond-secret\n");
	atexit(cleanup);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *const empty_env[] = { NULL };
	struct config *cfg;
	char *errors = NULL;

	setup();
	if (fchdir(dir_fd) != 0)
		abort();
	cfg = config_parse("fuzz.conf", (const char *)data, size, empty_env, &errors);
	if (fchdir(home_fd) != 0)
		abort();
	if ((cfg == NULL) == (errors == NULL))
		abort();	/* exactly one of a config and errors */
	if (cfg != NULL) {
		config_find_app(cfg, "prod");
		config_free(cfg);
	}
	free(errors);
	return 0;
}
