/*
 * mailer: a mail thread with its own event base and http_client.  See
 * mailer.h for why.
 *
 * Jobs go to the thread on one locked list and come back on another; a
 * non-blocking pipe in each direction wakes the other side (a full pipe
 * already means "wake up", as in journal.c).
 */
#include "outbound/mailer.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

struct mail_job {
	struct mail_job *next;
	struct mailer *ml;
	struct http_mail m;		/* every string owned, below */
	char *rcpt[HTTP_MAIL_MAX_RCPT];
	struct secret *password;
	http_done_cb cb;
	void *arg;
	/* The answer, copied on the mail thread. */
	enum http_outcome outcome;
	long status;
	char *error;
	char *req_id;
	int attempts;
	int64_t elapsed_ms;
};

struct mailer {
	struct event_base *loop;	/* the caller's */
	struct event *done_ev;		/* on the loop: answers are back */
	int to_loop[2];
	pthread_t thread;
	struct event_base *base;	/* the mail thread's */
	struct http_client *hc;		/* the mail thread's */
	struct event *jobs_ev;		/* on the mail thread: jobs are waiting */
	int to_thread[2];
	pthread_mutex_t lock;
	struct mail_job *jobs, *done;	/* both guarded by lock; any order will do */
	int stop;
};

static void
poke(int fd)
{
	char c = 1;

	/* EAGAIN: the pipe is full, so the other side will wake anyway. */
	while (write(fd, &c, 1) == -1 && errno == EINTR)
		;
}

static void
drain(int fd)
{
	char buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void
job_free(struct mail_job *j)
{
	size_t i;

	free((char *)j->m.url);
	free((char *)j->m.from);
	for (i = 0; i < j->m.n_rcpt; i++)
		free(j->rcpt[i]);
	free((char *)j->m.user);
	secret_free(j->password);
	free((void *)j->m.message);
	free((char *)j->m.service);
	free((char *)j->m.req_id);
	free((char *)j->m.app);
	free(j->error);
	free(j->req_id);
	free(j);
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static struct mail_job *
job_new(const struct http_mail *m, http_done_cb cb, void *arg)
{
	struct mail_job *j = xcalloc(1, sizeof(*j));
	size_t i;

	j->m = *m;
	j->m.url = dup_or_null(m->url);
	j->m.from = dup_or_null(m->from);
	for (i = 0; i < m->n_rcpt; i++)
		j->rcpt[i] = xstrdup(m->rcpt[i]);
	j->m.rcpt = (const char *const *)j->rcpt;
	j->m.user = dup_or_null(m->user);
	if (m->password != NULL)
		j->password = secret_new(m->password->data, m->password->len);
	j->m.password = j->password;
	j->m.message = xmalloc(m->message_len + 1);
	memcpy((void *)j->m.message, m->message, m->message_len);
	j->m.service = dup_or_null(m->service);
	j->m.req_id = dup_or_null(m->req_id);
	j->m.app = dup_or_null(m->app);
	j->cb = cb;
	j->arg = arg;
	return j;
}

/* ---- The mail thread ---- */

static void
push_done(struct mailer *ml, struct mail_job *j)
{
	pthread_mutex_lock(&ml->lock);
	j->next = ml->done;
	ml->done = j;
	pthread_mutex_unlock(&ml->lock);
	poke(ml->to_loop[1]);
}

static void
thread_done_cb(const struct http_response *resp, void *arg)
{
	struct mail_job *j = arg;

	j->outcome = resp->outcome;
	j->status = resp->status;
	j->error = dup_or_null(resp->error);
	j->req_id = dup_or_null(resp->req_id);
	j->attempts = resp->attempts;
	j->elapsed_ms = resp->elapsed_ms;
	push_done(j->ml, j);
}

static void
jobs_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mailer *ml = arg;
	struct mail_job *list, *j;
	int stop;

	(void)what;
	drain(fd);
	pthread_mutex_lock(&ml->lock);
	list = ml->jobs;
	ml->jobs = NULL;
	stop = ml->stop;
	pthread_mutex_unlock(&ml->lock);
	while ((j = list) != NULL) {
		list = j->next;
		if (stop || http_client_send_mail(ml->hc, &j->m, thread_done_cb, j) == -1) {
			j->outcome = stop ? HTTP_OUTCOME_CANCELLED : HTTP_OUTCOME_PERMANENT;
			j->error = xstrdup(stop ? "cancelled" : "the mail cannot be sent");
			push_done(ml, j);
		}
	}
	if (stop) {
		/* Mails in flight hear CANCELLED now, on this thread. */
		http_client_free(ml->hc);
		ml->hc = NULL;
		event_base_loopbreak(ml->base);
	}
}

static void *
mail_main(void *arg)
{
	struct mailer *ml = arg;

	util_name_thread("rk-mailer");
	event_base_dispatch(ml->base);
	return NULL;
}

/* ---- The caller's loop ---- */

static void
deliver(struct mail_job *j)
{
	struct http_response resp;

	memset(&resp, 0, sizeof(resp));
	resp.outcome = j->outcome;
	resp.status = j->status;
	resp.error = j->error;
	resp.attempts = j->attempts;
	resp.elapsed_ms = j->elapsed_ms;
	resp.req_id = j->req_id;
	resp.body = "";
	j->cb(&resp, j->arg);
	job_free(j);
}

static void
deliver_all(struct mailer *ml)
{
	struct mail_job *list, *j;

	pthread_mutex_lock(&ml->lock);
	list = ml->done;
	ml->done = NULL;
	pthread_mutex_unlock(&ml->lock);
	while ((j = list) != NULL) {
		list = j->next;
		deliver(j);
	}
}

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	drain(fd);
	deliver_all(arg);
}

static void
make_pipe(int fds[2])
{
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("mailer: pipe: %s", strerror(errno));
}

struct mailer *
mailer_new(struct event_base *base, const char *ca_file, int64_t timeout_ms,
    int (*gate)(void *arg), void *gate_arg)
{
	struct mailer *ml = xcalloc(1, sizeof(*ml));

	ml->loop = base;
	make_pipe(ml->to_loop);
	make_pipe(ml->to_thread);
	pthread_mutex_init(&ml->lock, NULL);
	ml->done_ev = event_new(base, ml->to_loop[0], EV_READ | EV_PERSIST, done_cb, ml);
	ml->base = event_base_new();
	if (ml->done_ev == NULL || ml->base == NULL || event_add(ml->done_ev, NULL) == -1)
		fatal("mailer: cannot create its events");
	ml->hc = http_client_new(ml->base, ca_file, timeout_ms);
	/* Set before the thread starts, which alone uses the client from then on. */
	if (gate != NULL)
		http_client_set_gate(ml->hc, gate, gate_arg);
	ml->jobs_ev = event_new(ml->base, ml->to_thread[0], EV_READ | EV_PERSIST, jobs_cb, ml);
	if (ml->jobs_ev == NULL || event_add(ml->jobs_ev, NULL) == -1)
		fatal("mailer: cannot create its events");
	if (pthread_create(&ml->thread, NULL, mail_main, ml) != 0)
		fatal("mailer: cannot start the mail thread");
	return ml;
}

void
mailer_free(struct mailer *ml)
{
	if (ml == NULL)
		return;
	pthread_mutex_lock(&ml->lock);
	ml->stop = 1;
	pthread_mutex_unlock(&ml->lock);
	poke(ml->to_thread[1]);
	pthread_join(ml->thread, NULL);
	deliver_all(ml);
	event_free(ml->jobs_ev);
	event_base_free(ml->base);
	event_free(ml->done_ev);
	close(ml->to_loop[0]);
	close(ml->to_loop[1]);
	close(ml->to_thread[0]);
	close(ml->to_thread[1]);
	pthread_mutex_destroy(&ml->lock);
	free(ml);
}

int
mailer_send(struct mailer *ml, const struct http_mail *m, http_done_cb cb, void *arg)
{
	struct mail_job *j;

	if (m->n_rcpt == 0 || m->n_rcpt > HTTP_MAIL_MAX_RCPT || m->message == NULL) {
		log_warn("mailer: a mail without recipients or message; not sent");
		return -1;
	}
	j = job_new(m, cb, arg);
	j->ml = ml;
	pthread_mutex_lock(&ml->lock);
	j->next = ml->jobs;
	ml->jobs = j;
	pthread_mutex_unlock(&ml->lock);
	poke(ml->to_thread[1]);
	return 0;
}
