/*
 * Unit tests: util's URL as it may be shown (never userinfo, query or
 * fragment; host only for the channels whose path is a credential) and the
 * process's hygiene at start (umask, no core dumps unless allowed).
 */
#include "lib/util.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct url_case {
	const char *url;
	int host_only;
	const char *want;
};

static const struct url_case url_cases[] = {
	{ "postgresql://rekey:hunter2@db.example.com:5432/rekey", 0,
	  "postgresql://db.example.com:5432/rekey" },
	{ "postgresql://rekey:p@ss@db:5432/rekey?sslmode=require", 0, "postgresql://db:5432/rekey" },
	{ "postgres://user@db/x", 0, "postgres://db/x" },
	{ "sqlite:var/rekey.db", 0, "sqlite:var/rekey.db" },
	{ "sqlite:/var/lib/rekey/rekey.db?x", 0, "sqlite:/var/lib/rekey/rekey.db?x" },
	{ "https://hooks.slack.com/services/T000/B000/XXXXsecret", 1, "https://hooks.slack.com" },
	{ "https://hooks.slack.com/services/T000/B000/XXXXsecret", 0,
	  "https://hooks.slack.com/services/T000/B000/XXXXsecret" },
	{ "https://u:pw@example.webhook.office.com/webhookb2/abc?x=1", 1,
	  "https://example.webhook.office.com" },
	{ "https://127.0.0.1:8443?token=abc", 1, "https://127.0.0.1:8443" },
	{ "smtp://mailer:s3cret@smtp.example.com:587/rekey", 1, "smtp://smtp.example.com:587" },
	{ "https://graph.microsoft.com/v1.0/users/a@b.com?$select=id", 0,
	  "https://graph.microsoft.com/v1.0/users/a@b.com" },
	{ "https://h.example.com#frag@x", 0, "https://h.example.com" },
};

static void
test_url_shown(void)
{
	size_t i;
	char *got;

	for (i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++) {
		got = util_url_shown(url_cases[i].url, url_cases[i].host_only);
		TAP_STR_EQ(got, url_cases[i].want, "url shown: %s%s", url_cases[i].want,
		    url_cases[i].host_only ? " (host only)" : "");
		free(got);
	}
}

/* In a child: harden, then report what holds as exit bits. */
static int
harden_in_child(int allow_core)
{
	struct rlimit rl;
	pid_t pid = fork();
	int status, bits = 0;
	mode_t old;

	if (pid == 0) {
		if (util_harden_process(allow_core) == -1)
			_exit(64);
		old = umask(0);
		bits |= old == 077 ? 1 : 0;
		bits |= prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0 ? 2 : 0;
		bits |= getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0 &&
		    rl.rlim_max == 0 ? 4 : 0;
		_exit(bits);
	}
	if (pid == -1 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void
test_harden(void)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	int bits;

	umask(022);
	/* Where the hard limit allows, start from "cores allowed" so that a no-op shows. */
	if (setrlimit(RLIMIT_CORE, &rl) == -1) {
		getrlimit(RLIMIT_CORE, &rl);
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_CORE, &rl);
	}
	bits = harden_in_child(0);
	TAP_OK(bits >= 0 && (bits & 1), "harden: umask 077 (got bits %d)", bits);
	TAP_OK(bits >= 0 && (bits & 2), "harden: not dumpable");
	TAP_OK(bits >= 0 && (bits & 4), "harden: RLIMIT_CORE 0, soft and hard");
	bits = harden_in_child(1);
	TAP_OK(bits >= 0 && (bits & 1), "allow_core: umask 077 still");
	TAP_OK(bits >= 0 && !(bits & 2), "allow_core: dumpable stays");
}

int
main(void)
{
	test_url_shown();
	test_harden();
	return tap_done();
}
