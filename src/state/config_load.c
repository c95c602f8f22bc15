/*
 * config_load: reading the config file (config_load), or text already in
 * memory (config_parse), into a struct config.
 *
 * Loading runs in phases so that every problem is reported, not only the
 * first one:
 *   1. lex the text into one raw value ("slot") per key and section;
 *   2. let REKEY_<SECTION>_<KEY> environment variables replace slots;
 *   3. parse each slot, or the row's default, into its field;
 *   4. check what involves several keys (the TLS pair, at least one app);
 *   5. check the files named and load the secrets;
 *   6. keep where each key was set, for checks made later (config_key_where).
 * Paths are used as written: a relative path is relative to the working
 * directory of the process, not to the directory of the config file.
 *
 * Phases 1 to 5 have a file each: config_lex.c, config_env.c,
 * config_values.c, config_cross.c and config_files.c; phase 6 is here.
 */
#include "state/config_load.h"
#include "lib/util.h"
#include "state/config.h"
#include "state/config_cross.h"
#include "state/config_env.h"
#include "state/config_files.h"
#include "state/config_keys.h"
#include "state/config_lex.h"
#include "state/config_parser.h"
#include "state/config_values.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_MAX_FILE		(1024 * 1024)	/* bytes in the file */

/* ---- Phase 6: where each key came from, for later checks (preflight) ---- */

static struct config_origin *
keep_origins(const struct slot *slots, int app, const int *header_line, int app_line)
{
	struct config_origin *o = xcalloc(N_KEYS, sizeof(*o));
	size_t i;

	for (i = 0; i < N_KEYS; i++) {
		if ((config_keys[i].section == SEC_APP) != app)
			continue;
		o[i].line = slots[i].line;
		if (o[i].line == 0)
			o[i].line = app ? app_line : header_line[config_keys[i].section];
		o[i].env = slots[i].env != NULL ? xstrdup(slots[i].env) : NULL;
	}
	return o;
}

static void
keep_all_origins(struct parser *p)
{
	size_t a;

	p->cfg->origins = keep_origins(p->global, 0, p->header_line, 0);
	for (a = 0; a < p->cfg->n_apps; a++)
		p->cfg->apps[a]->origins = keep_origins(p->apps[a]->slots, 1, NULL,
		    p->apps[a]->line);
}

/* node_name defaults to the host name, so that replicas tell themselves apart unconfigured. */
static void
default_node_name(struct config *cfg)
{
	char host[101];

	if (cfg->node_name != NULL)
		return;
	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		util_strlcpy(host, "rekey", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	cfg->node_name = xstrdup(host);
}

struct config *
config_parse(const char *path, const char *text, size_t len, char *const *envp,
    char **errors)
{
	struct parser p;
	struct config *cfg;

	if (errors != NULL)
		*errors = NULL;
	memset(&p, 0, sizeof(p));
	p.path = path != NULL ? path : "-";
	p.cfg = cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = xstrdup(p.path);
	if (len > CONFIG_MAX_FILE) {
		config_report(&p, 0, NULL, "file is larger than %d bytes", CONFIG_MAX_FILE);
	} else {
		if (text != NULL)
			config_lex(&p, text, len);
		for (envp = envp != NULL ? envp : environ; *envp != NULL; envp++)
			config_env_one(&p, *envp);
		config_apply_all(&p);
		config_check_cross(&p);
		config_check_files(&p);
		keep_all_origins(&p);
		default_node_name(cfg);
	}
	if (p.n_errs > 0 || p.too_many) {
		if (errors != NULL)
			*errors = config_join_errors(&p);
		config_free(cfg);
		cfg = NULL;
	}
	config_parser_free(&p);
	return cfg;
}

/* Reads at most CONFIG_MAX_FILE bytes (one more tells that the file is larger). */
static char *
read_config_file(const char *path, size_t *len, char **err)
{
	char *buf = xmalloc(CONFIG_MAX_FILE + 1);
	size_t off = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		goto fail;
	while (off < CONFIG_MAX_FILE + 1) {
		n = read(fd, buf + off, CONFIG_MAX_FILE + 1 - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	*len = off;
	return buf;
fail:
	*err = xasprintf("%s:0: cannot read: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	free(buf);
	return NULL;
}

struct config *
config_load(const char *path, char **errors)
{
	struct config *cfg;
	char *text, *err = NULL;
	size_t len = 0;

	text = read_config_file(path, &len, &err);
	if (text == NULL) {
		if (errors != NULL)
			*errors = err;
		else
			free(err);
		return NULL;
	}
	cfg = config_parse(path, text, len, NULL, errors);
	free(text);
	return cfg;
}
