/*
 * Unit tests: the rotation state machine, exhaustively.  Every state x every
 * outcome x every combination of facts goes through rotation_next (the
 * function the driver asks for each transition) and is compared with what
 * DESIGN.md ("Rotation") says, written down here as a table plus the rules
 * by which facts change it.  Then properties the design demands are checked
 * over the same combinations.
 */
#include "state/rotation.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

#define N_STATES (ROTATION_FAILED + 1)
#define N_OUTCOMES ROTATION_OUTCOME_COUNT
/*
 * Enumerated facts: 8 flags, attempts (none made, or far more than any
 * limit), the propagation timeout passed or not, the acceptances in a
 * row one short of those needed or fewer, the old secret's text known, the
 * watch over, the old secret still accepted, a burst of grant.expired.
 */
#define N_FACTS (1 << 15)
#define TEST_NEEDED 3
#define MANY_TRIES 1000000

struct want {
	enum rotation_state next;
	enum rotation_action action;
};

#define GO(s)		{ ROTATION_##s, ROTATION_ACTION_GO }
#define ON(s)		{ ROTATION_##s, ROTATION_ACTION_CONTINUE }
#define RETRY(s)	{ ROTATION_##s, ROTATION_ACTION_RETRY }
#define AGAIN(s)	{ ROTATION_##s, ROTATION_ACTION_AGAIN }
#define HOLD(s)		{ ROTATION_##s, ROTATION_ACTION_HOLD }
#define PACE(s)		{ ROTATION_##s, ROTATION_ACTION_PACE }
#define FAIL		GO(FAILED)
/* Unreachable: the driver never reports this outcome in this state.  Failing stops safely. */
#define X		FAIL

/*
 * What each outcome of each state leads to when the facts are the usual ones:
 * approved, not a dry run, the new secret stored, the old secret known and
 * not the new one, the grace over, retire_unmanaged_secrets = no, the
 * lifetime above a day, no tries made yet.  From the design:
 *   planned -> creating -> created -> testing -> tested -> publishing ->
 *   published -> (retiring -> retired) -> done; any step: retry with backoff;
 *   give up -> failed.
 */
static const struct want base[N_STATES][N_OUTCOMES] = {
	/*		start		ok		retryable	permanent	not_found
	 *		rejected	lifetime	orphan_removed	unmanaged
	 *		room_made	expired_burst */
	[ROTATION_PLANNED] = {
			ON(PLANNED),	GO(CREATING),	RETRY(PLANNED),	FAIL,		X,
			X,		X,		X,		X,
			X,		X },
	/* creating: a lifetime-policy refusal adds again with a shorter lifetime; an
	 * orphan (our displayName, text never stored) is removed, then add again;
	 * a secret removed for the two-secret limit: read again, then add. */
	[ROTATION_CREATING] = {
			ON(CREATING),	GO(CREATED),	RETRY(CREATING), FAIL,		X,
			X,		AGAIN(CREATING), AGAIN(CREATING), X,
			AGAIN(CREATING),	X },
	[ROTATION_CREATED] = {
			GO(TESTING),	X,		X,		X,		X,
			X,		X,		X,		X,
			X,		X },
	/* testing: until the new secret works (propagation) or a deadline passes. */
	[ROTATION_TESTING] = {
			ON(TESTING),	GO(TESTED),	RETRY(TESTING),	FAIL,		X,
			RETRY(TESTING),	X,		X,		X,
			X,		X },
	[ROTATION_TESTED] = {
			GO(PUBLISHING),	X,		X,		X,		X,
			X,		X,		X,		X,
			X,		X },
	[ROTATION_PUBLISHING] = {
			ON(PUBLISHING),	GO(PUBLISHED),	RETRY(PUBLISHING), FAIL,	X,
			X,		X,		X,		X,
			X,		X },
	/* published: watched when the old secret could be put back, else retiring. */
	[ROTATION_PUBLISHED] = {
			GO(WATCHING),	X,		X,		X,		X,
			X,		X,		X,		X,
			X,		X },
	/* watching: probed until the watch is over; a refusal while the old works
	 * rolls back; a refusal of both is looked at again.  A burst of
	 * grant.expired while the old works rolls back too, else the probe goes on. */
	[ROTATION_WATCHING] = {
			ON(WATCHING),	PACE(WATCHING),	RETRY(WATCHING), FAIL,		X,
			RETRY(WATCHING), X,		X,		X,
			X,		ON(WATCHING) },
	/* rolling_back: the old secret published again ends the rotation failed. */
	[ROTATION_ROLLING_BACK] = {
			ON(ROLLING_BACK), FAIL,		RETRY(ROLLING_BACK), FAIL,	X,
			X,		X,		X,		X,
			X,		X },
	/* retiring: an old secret already gone is retired; one rekey did not make
	 * stays (retire_unmanaged_secrets = no) and the rotation is done. */
	[ROTATION_RETIRING] = {
			ON(RETIRING),	GO(RETIRED),	RETRY(RETIRING), FAIL,		GO(RETIRED),
			X,		X,		X,		GO(DONE),
			X,		X },
	[ROTATION_RETIRED] = {
			GO(DONE),	X,		X,		X,		X,
			X,		X,		X,		X,
			X,		X },
	[ROTATION_DONE] = {
			HOLD(DONE),	HOLD(DONE),	HOLD(DONE),	HOLD(DONE),	HOLD(DONE),
			HOLD(DONE),	HOLD(DONE),	HOLD(DONE),	HOLD(DONE),
			HOLD(DONE),	HOLD(DONE) },
	[ROTATION_FAILED] = {
			HOLD(FAILED),	HOLD(FAILED),	HOLD(FAILED),	HOLD(FAILED),	HOLD(FAILED),
			HOLD(FAILED),	HOLD(FAILED),	HOLD(FAILED),	HOLD(FAILED),
			HOLD(FAILED),	HOLD(FAILED) },
};

#define S(s)		(1u << ROTATION_##s)
#define O(o)		(1u << ROTATION_OUTCOME_##o)
#define ANY		0xffffffffu
#define ACTIVE		(ANY & ~S(DONE) & ~S(FAILED))
#define CALLING		(S(PLANNED) | S(CREATING) | S(TESTING) | S(PUBLISHING) | S(WATCHING) | \
			 S(ROLLING_BACK) | S(RETIRING))

static int always(const struct rotation_facts *f) { (void)f; return 1; }
static int dry(const struct rotation_facts *f) { return f->dry_run; }
static int exhausted(const struct rotation_facts *f) { return f->attempts >= MANY_TRIES; }
static int not_approved(const struct rotation_facts *f) { return !f->approved; }
static int no_secret(const struct rotation_facts *f) { return !f->secret_stored; }
static int old_unknown(const struct rotation_facts *f) { return !f->old_known; }
static int old_is_new(const struct rotation_facts *f) { return f->old_is_new; }
static int grace_pending(const struct rotation_facts *f) { return !f->grace_over; }
static int may_retire_unmanaged(const struct rotation_facts *f) { return f->retire_unmanaged; }
static int unmanaged_early(const struct rotation_facts *f)
{
	return f->retire_unmanaged && !f->grace_over;
}
static int at_min(const struct rotation_facts *f) { return f->lifetime_at_min; }
static int more_needed(const struct rotation_facts *f) { return f->test_ok + 1 < f->test_needed; }
static int timed_out(const struct rotation_facts *f) { return f->test_timed_out; }
static int no_rollback(const struct rotation_facts *f) { return !f->can_roll_back; }
static int watched(const struct rotation_facts *f) { return f->watch_over; }
static int old_works(const struct rotation_facts *f) { return f->old_works; }
static int old_works_or_no_secret(const struct rotation_facts *f)
{
	return f->old_works || !f->secret_stored;
}

/* How facts change the table; the first rule that matches wins, else the table holds. */
static const struct rule {
	unsigned states, outcomes;
	int (*when)(const struct rotation_facts *f);
	struct want want;
	const char *design;
} rules[] = {
	{ S(DONE), ANY, always, HOLD(DONE), "nothing leaves done" },
	{ S(FAILED), ANY, always, HOLD(FAILED), "nothing leaves failed" },
	{ ACTIVE & ~S(PLANNED), ANY, dry, FAIL,
	    "dry-run: no writes to Graph or Nylas (a dry run found past planned stops)" },
	{ CALLING, O(RETRYABLE), exhausted, FAIL, "give up -> failed" },
	{ S(TESTING), O(REJECTED), exhausted, FAIL, "testing: until a deadline passes" },
	{ S(TESTING), O(REJECTED), timed_out, FAIL,
	    "testing: within secret_propagation_timeout" },
	{ S(PLANNED), O(START), not_approved, { ROTATION_PLANNED, ROTATION_ACTION_WAIT },
	    "approve: stop at planned until approved" },
	{ S(PLANNED), O(OK), dry, GO(DONE), "dry-run: record what would be done" },
	{ S(CREATED) | S(TESTING) | S(TESTED) | S(PUBLISHING), O(START), no_secret, FAIL,
	    "secretText stored in the same transaction as created" },
	{ S(TESTING) | S(PUBLISHING), O(OK), no_secret, FAIL,
	    "secretText stored in the same transaction as created (unreachable: fail)" },
	{ S(TESTING), O(OK), more_needed, PACE(TESTING),
	    "testing: several consecutive acceptances spread over time before publishing" },
	{ S(PUBLISHED), O(START), old_unknown, GO(DONE),
	    "retiring: nothing to remove when the old secret is unknown" },
	{ S(PUBLISHED), O(START), old_is_new, GO(DONE),
	    "retiring: never the one just published" },
	{ S(PUBLISHED), O(START), no_rollback, GO(RETIRING),
	    "watching: only when the old secret could be put back" },
	{ S(WATCHING), O(START), no_secret, FAIL, "watching: the published secret is stored" },
	{ S(WATCHING), O(START) | O(OK), watched, GO(RETIRING),
	    "watching: for secret_watch_period, then the old secret may be retired" },
	{ S(WATCHING), O(REJECTED), old_works, GO(ROLLING_BACK),
	    "rollback: refused after publishing while the old secret works" },
	{ S(WATCHING), O(REJECTED), exhausted, FAIL, "watching: refusals of both are bounded" },
	{ S(WATCHING), O(EXPIRED_BURST), old_works, GO(ROLLING_BACK),
	    "rollback: grants expired in a burst while watched and the old secret works" },
	{ S(WATCHING), O(EXPIRED_BURST), old_works_or_no_secret, FAIL,
	    "watching: the published secret is stored (to go on probing it)" },
	{ S(RETIRING), O(START), grace_pending, { ROTATION_RETIRING, ROTATION_ACTION_WAIT },
	    "retiring: after old_secret_grace" },
	{ S(RETIRING), O(UNMANAGED), unmanaged_early, FAIL,
	    "retiring: never before old_secret_grace (unreachable: fail)" },
	{ S(RETIRING), O(UNMANAGED), may_retire_unmanaged, ON(RETIRING),
	    "retiring: or if the operator allowed it" },
	{ S(CREATING), O(LIFETIME_POLICY), at_min, FAIL,
	    "lifetime policy: shorter, not below a day" },
};

static void
facts_from(unsigned bits, struct rotation_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->approved = !(bits & 1);
	f->dry_run = (bits >> 1) & 1;
	f->secret_stored = !((bits >> 2) & 1);
	f->old_known = !((bits >> 3) & 1);
	f->old_is_new = (bits >> 4) & 1;
	f->grace_over = !((bits >> 5) & 1);
	f->retire_unmanaged = (bits >> 6) & 1;
	f->lifetime_at_min = (bits >> 7) & 1;
	f->attempts = (bits >> 8) & 1 ? MANY_TRIES : 0;
	f->test_timed_out = (bits >> 9) & 1;
	f->test_needed = TEST_NEEDED;
	f->test_ok = (bits >> 10) & 1 ? TEST_NEEDED - 2 : TEST_NEEDED - 1;
	f->can_roll_back = !((bits >> 11) & 1);
	f->watch_over = (bits >> 12) & 1;
	f->old_works = (bits >> 13) & 1;
	f->burst = (bits >> 14) & 1;
}

/* What the design wants; *rule (may be NULL) names the rule that applied, if any. */
static struct want
expected(enum rotation_state s, enum rotation_outcome o, const struct rotation_facts *f,
    const struct rule **rule)
{
	size_t i;

	*rule = NULL;
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		if ((rules[i].states & (1u << s)) && (rules[i].outcomes & (1u << o)) &&
		    rules[i].when(f)) {
			*rule = &rules[i];
			return rules[i].want;
		}
	}
	return base[s][o];
}

static const char *const action_names[] = {
	"go", "continue", "retry", "again", "wait", "hold", "pace",
};

static int checks;

/* The table: every state x every outcome x every combination of facts. */
static void
test_table(void)
{
	struct rotation_facts f;
	struct rotation_step st;
	const struct rule *rule;
	struct want w;
	unsigned s, o, bits, bad;
	char first[256];

	for (s = 0; s < N_STATES; s++) {
		for (o = 0; o < N_OUTCOMES; o++) {
			bad = 0;
			first[0] = '\0';
			for (bits = 0; bits < N_FACTS; bits++) {
				facts_from(bits, &f);
				w = expected(s, o, &f, &rule);
				st = rotation_next(s, o, &f);
				checks++;
				if (st.next == w.next && st.action == w.action &&
				    st.gave_up == (rule != NULL && rule->when == exhausted))
					continue;
				if (bad++ == 0)
					snprintf(first, sizeof(first), "facts %#x: got %s/%s%s, "
					    "want %s/%s (%s)", bits, rotation_state_name(st.next),
					    action_names[st.action], st.gave_up ? " gave up" : "",
					    rotation_state_name(w.next), action_names[w.action],
					    rule ? rule->design : "the table");
			}
			w = base[s][o];
			TAP_OK(bad == 0, "%s x %s -> %s/%s (facts' rules aside), %d facts%s%s",
			    rotation_state_name(s), rotation_outcome_name(o),
			    rotation_state_name(w.next), action_names[w.action], N_FACTS,
			    bad ? "; first wrong: " : "", first);
		}
	}
}

/* A property over every combination; returns how many violate it. */
typedef int (*prop_fn)(unsigned s, unsigned o, const struct rotation_facts *f,
    const struct rotation_step *st);

static int
p_no_skip(unsigned s, unsigned o, const struct rotation_facts *f, const struct rotation_step *st)
{
	(void)o;
	(void)f;
	return st->next == s || st->next == ROTATION_DONE || st->next == ROTATION_FAILED ||
	    st->next == s + 1 || (st->next == ROTATION_RETIRING &&
	    (s == ROTATION_PUBLISHED || s == ROTATION_WATCHING));
}

static int
p_tested_before_publishing(unsigned s, unsigned o, const struct rotation_facts *f,
    const struct rotation_step *st)
{
	(void)o;
	(void)f;
	return st->next != ROTATION_PUBLISHING || s == ROTATION_TESTED ||
	    s == ROTATION_PUBLISHING;
}

static int
p_consistently_accepted(unsigned s, unsigned o, const struct rotation_facts *f,
    const struct rotation_step *st)
{
	(void)o;
	return st->next != ROTATION_TESTED || s != ROTATION_TESTING ||
	    f->test_ok + 1 >= f->test_needed;
}

static int
p_rollback_only_when_old_works(unsigned s, unsigned o, const struct rotation_facts *f,
    const struct rotation_step *st)
{
	if (st->next != ROTATION_ROLLING_BACK || s == ROTATION_ROLLING_BACK)
		return 1;
	return s == ROTATION_WATCHING && (o == ROTATION_OUTCOME_REJECTED ||
	    o == ROTATION_OUTCOME_EXPIRED_BURST) && f->old_works;
}

static int
p_terminal(unsigned s, unsigned o, const struct rotation_facts *f, const struct rotation_step *st)
{
	(void)o;
	(void)f;
	return (s != ROTATION_DONE && s != ROTATION_FAILED) ||
	    (st->next == s && st->action == ROTATION_ACTION_HOLD);
}

static int
p_retiring_from_published(unsigned s, unsigned o, const struct rotation_facts *f,
    const struct rotation_step *st)
{
	(void)o;
	if (st->next != ROTATION_RETIRING)
		return 1;
	if (s == ROTATION_RETIRING || s == ROTATION_WATCHING)
		return 1;
	return s == ROTATION_PUBLISHED && f->old_known && !f->old_is_new;
}

static int
p_dry_run(unsigned s, unsigned o, const struct rotation_facts *f, const struct rotation_step *st)
{
	(void)o;
	if (!f->dry_run)
		return 1;
	if (st->next != ROTATION_PLANNED && st->next != ROTATION_DONE &&
	    st->next != ROTATION_FAILED)
		return 0;
	return st->action != ROTATION_ACTION_CONTINUE || s == ROTATION_PLANNED;
}

static int
p_secret_stored(unsigned s, unsigned o, const struct rotation_facts *f,
    const struct rotation_step *st)
{
	int entering = st->next != s && (st->next == ROTATION_TESTING ||
	    st->next == ROTATION_TESTED || st->next == ROTATION_PUBLISHING ||
	    st->next == ROTATION_PUBLISHED);
	int calling = st->action == ROTATION_ACTION_CONTINUE &&
	    (s == ROTATION_TESTING || s == ROTATION_PUBLISHING || s == ROTATION_WATCHING);

	(void)o;
	return f->secret_stored || (!entering && !calling);
}

static int
p_stay_or_go(unsigned s, unsigned o, const struct rotation_facts *f,
    const struct rotation_step *st)
{
	(void)o;
	(void)f;
	return st->action == ROTATION_ACTION_GO ? st->next != s : st->next == s;
}

static int
p_bounded(unsigned s, unsigned o, const struct rotation_facts *f, const struct rotation_step *st)
{
	if (st->action == ROTATION_ACTION_RETRY)
		return st->max_tries > 0 && f->attempts + 1 < st->max_tries;
	if (st->gave_up)
		return st->next == ROTATION_FAILED && st->max_tries > 0 &&
		    f->attempts + 1 >= st->max_tries;
	if (st->action == ROTATION_ACTION_AGAIN)
		return s == ROTATION_CREATING && (o == ROTATION_OUTCOME_ORPHAN_REMOVED ||
		    o == ROTATION_OUTCOME_ROOM_MADE ||
		    (o == ROTATION_OUTCOME_LIFETIME_POLICY && !f->lifetime_at_min));
	/* Acceptances are counted up to those needed, never more. */
	if (st->action == ROTATION_ACTION_PACE)
		return o == ROTATION_OUTCOME_OK && ((s == ROTATION_TESTING &&
		    f->test_ok + 1 < f->test_needed) || (s == ROTATION_WATCHING && !f->watch_over));
	return 1;
}

static int
p_calls_only_when_allowed(unsigned s, unsigned o, const struct rotation_facts *f,
    const struct rotation_step *st)
{
	if (st->action == ROTATION_ACTION_WAIT)
		return o == ROTATION_OUTCOME_START && ((s == ROTATION_PLANNED && !f->approved) ||
		    (s == ROTATION_RETIRING && !f->grace_over));
	if (st->action != ROTATION_ACTION_CONTINUE)
		return 1;
	switch (s) {
	case ROTATION_PLANNED:
		return f->approved;
	case ROTATION_CREATING:
	case ROTATION_TESTING:
	case ROTATION_PUBLISHING:
	case ROTATION_WATCHING:
	case ROTATION_ROLLING_BACK:
		return 1;
	case ROTATION_RETIRING:
		/* The old secret goes after the grace, and only rekey's unless allowed. */
		return f->grace_over && (o != ROTATION_OUTCOME_UNMANAGED || f->retire_unmanaged);
	default:
		return 0;
	}
}

static int
p_permanent_fails(unsigned s, unsigned o, const struct rotation_facts *f,
    const struct rotation_step *st)
{
	(void)f;
	if (o != ROTATION_OUTCOME_PERMANENT || s == ROTATION_DONE || s == ROTATION_FAILED)
		return 1;
	return st->next == ROTATION_FAILED && st->action == ROTATION_ACTION_GO;
}

static int
p_fact_stops_say_why(unsigned s, unsigned o, const struct rotation_facts *f,
    const struct rotation_step *st)
{
	(void)f;
	if (o != ROTATION_OUTCOME_START || st->action != ROTATION_ACTION_GO)
		return 1;
	if (st->next == ROTATION_FAILED || (st->next == ROTATION_DONE && s == ROTATION_PUBLISHED))
		return st->note != NULL;
	return 1;
}

static void
check_property(prop_fn p, const char *name)
{
	struct rotation_facts f;
	struct rotation_step st;
	unsigned s, o, bits;
	int bad = 0;
	char first[160] = "";

	for (s = 0; s < N_STATES; s++)
		for (o = 0; o < N_OUTCOMES; o++)
			for (bits = 0; bits < N_FACTS; bits++) {
				facts_from(bits, &f);
				st = rotation_next(s, o, &f);
				checks++;
				if (p(s, o, &f, &st))
					continue;
				if (bad++ == 0)
					snprintf(first, sizeof(first),
					    "; first: %s x %s, facts %#x -> %s/%s", rotation_state_name(s),
					    rotation_outcome_name(o), bits,
					    rotation_state_name(st.next), action_names[st.action]);
			}
	TAP_OK(bad == 0, "property over all %d combinations: %s (%d wrong%s)",
	    N_STATES * N_OUTCOMES * N_FACTS, name, bad, first);
}

static void
test_properties(void)
{
	check_property(p_no_skip, "a transition moves one step on, to done, or to failed");
	check_property(p_tested_before_publishing, "publishing is entered only from tested");
	check_property(p_consistently_accepted, "tested is entered only after the acceptances "
	    "needed, in a row");
	check_property(p_terminal, "nothing leaves done or failed");
	check_property(p_rollback_only_when_old_works, "rolling_back is entered only from "
	    "watching, on a refusal of the new secret or a burst of grant.expired, while the old "
	    "one works");
	check_property(p_retiring_from_published, "retiring is reached only from published "
	    "(with an old secret known that is not the new one) or after watching");
	check_property(p_dry_run, "a dry run never reaches creating (nor calls out past planned)");
	check_property(p_secret_stored, "testing, tested, publishing and published are never "
	    "entered (nor their calls made) without the new secret stored");
	check_property(p_stay_or_go, "go changes the state; every other action keeps it");
	check_property(p_bounded, "retries are bounded: a retry only below max_tries, giving up "
	    "at it; repeats without a try only in creating (orphan, shorter lifetime) and, "
	    "counted, in testing below the acceptances needed");
	check_property(p_calls_only_when_allowed, "a step calls out only when allowed: approved; "
	    "retiring after the grace and only rekey's secrets unless allowed");
	check_property(p_permanent_fails, "a permanent failure of any step fails the rotation");
	check_property(p_fact_stops_say_why, "a stop the facts decide says why");
}

/* The edges of the retry budget, and the testing deadline. */
static void
test_limits(void)
{
	static const struct { enum rotation_state s; enum rotation_outcome o; } r[] = {
		{ ROTATION_PLANNED, ROTATION_OUTCOME_RETRYABLE },
		{ ROTATION_CREATING, ROTATION_OUTCOME_RETRYABLE },
		{ ROTATION_TESTING, ROTATION_OUTCOME_RETRYABLE },
		{ ROTATION_TESTING, ROTATION_OUTCOME_REJECTED },
		{ ROTATION_PUBLISHING, ROTATION_OUTCOME_RETRYABLE },
		{ ROTATION_RETIRING, ROTATION_OUTCOME_RETRYABLE },
	};
	struct rotation_facts f;
	struct rotation_step st, last, over;
	size_t i;

	facts_from(0, &f);
	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		f.attempts = 0;
		st = rotation_next(r[i].s, r[i].o, &f);
		f.attempts = st.max_tries - 2;
		last = rotation_next(r[i].s, r[i].o, &f);
		f.attempts = st.max_tries - 1;
		over = rotation_next(r[i].s, r[i].o, &f);
		TAP_OK(st.action == ROTATION_ACTION_RETRY && st.max_tries > 1 &&
		    last.action == ROTATION_ACTION_RETRY && last.next == r[i].s &&
		    over.next == ROTATION_FAILED && over.gave_up,
		    "%s x %s: retried up to try %d, then failed", rotation_state_name(r[i].s),
		    rotation_outcome_name(r[i].o), st.max_tries);
		if (r[i].o == ROTATION_OUTCOME_RETRYABLE)
			TAP_OK(st.wait_ms == -1, "%s x retryable: waits Retry-After, else backoff",
			    rotation_state_name(r[i].s));
		else
			TAP_OK(st.wait_ms > 0 && (long long)st.wait_ms * st.max_tries >= 60000 &&
			    (long long)st.wait_ms * st.max_tries <= 3600000,
			    "testing: probes every %d ms for %d tries: a deadline of minutes",
			    st.wait_ms, st.max_tries);
	}
}

/* A rollback says why: the refusal of the new secret, or the burst of grant.expired. */
static void
test_rollback_notes(void)
{
	struct rotation_facts f;
	struct rotation_step refused, burst;

	facts_from(0, &f);
	refused = rotation_next(ROTATION_ROLLING_BACK, ROTATION_OUTCOME_OK, &f);
	f.burst = 1;
	burst = rotation_next(ROTATION_ROLLING_BACK, ROTATION_OUTCOME_OK, &f);
	TAP_OK(refused.note != NULL && strncmp(refused.note, "rolled back: the new secret was "
	    "refused", 38) == 0, "rolled back after a refusal: says so");
	TAP_OK(burst.note != NULL && strncmp(burst.note, "rolled back: grants expired in a "
	    "burst", 38) == 0, "rolled back after a burst of grant.expired: says so");
}

/* Values outside the enums: safe, and named. */
static void
test_out_of_range(void)
{
	struct rotation_facts f;
	struct rotation_step st;
	unsigned o;
	int ok = 1;

	facts_from(0, &f);
	st = rotation_next((enum rotation_state)(ROTATION_FAILED + 1), ROTATION_OUTCOME_START, &f);
	TAP_OK(st.next == ROTATION_FAILED && st.action == ROTATION_ACTION_GO,
	    "an unknown state fails");
	st = rotation_next(ROTATION_TESTING, (enum rotation_outcome)N_OUTCOMES, &f);
	TAP_OK(st.next == ROTATION_FAILED && st.action == ROTATION_ACTION_GO,
	    "an unknown outcome fails");
	for (o = 0; o < N_OUTCOMES; o++)
		if (strcmp(rotation_outcome_name(o), "unknown") == 0 ||
		    (o > 0 && strcmp(rotation_outcome_name(o), rotation_outcome_name(o - 1)) == 0))
			ok = 0;
	TAP_OK(ok, "every outcome has a name");
	TAP_STR_EQ(rotation_outcome_name((enum rotation_outcome)N_OUTCOMES), "unknown",
	    "out of range: unknown");
}

int
main(void)
{
	test_table();
	test_properties();
	test_limits();
	test_rollback_notes();
	test_out_of_range();
	printf("# %d decisions checked\n", checks);
	return tap_done();
}
